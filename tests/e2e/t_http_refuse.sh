# Requests sluice must refuse (RFC 9112 sections 2-6): 400, 414 or 431 with a
# short text body naming sluice and the cause, the connection closed, and
# nothing sent to the origin.
#
# The malformed requests target a fresh origin that sluice has never
# forwarded to, so any forwarding would need a new connection to it; its
# connection counter (X-Conn-Id on a direct request) shows there was none.
# Well-formed requests meanwhile go to a second origin, and a client that
# was connected before the refusals must still be served after them.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
shopt -s lastpipe # `printf ... | refuse ...` runs refuse in this shell


start_origin
GOOD=$ORIGIN_PORT
ORIGIN=$ORIGIN_BIN
start_origin
BAD=$ORIGIN_PORT
BAD_URL=$ORIGIN
start_sluice "url_max 1k" "header_max 4k"

# how many connections the BAD origin accepted, from a direct request
direct_seen=0
bad_origin_untouched() {
	local id
	id=$(curl -s -D - -o /dev/null "$BAD_URL/status/200" | sed -n 's/^X-Conn-Id: \([0-9]*\)\r$/\1/p')
	direct_seen=$((direct_seen + 1))
	[ "$id" = "$direct_seen" ]
}

# a client connected (and served) before any refusal
exec {KEEP}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect"
printf 'GET http://127.0.0.1:%s/bytes/3 HTTP/1.1\r\n\r\n' "$GOOD" >&"$KEEP"
IFS= read -r -t 5 -u "$KEEP" line || fail "early client: no answer"
expect_eq "${line%$'\r'}" "HTTP/1.1 200 OK" "early client: status"
while IFS= read -r -t 5 -u "$KEEP" line && [ "${line%$'\r'}" != "" ]; do :; done
IFS= read -r -N 3 -t 5 -u "$KEEP" line || fail "early client: body"

failures=()
# refuse NAME STATUS REASON CAUSE-REGEX: the request on stdin is refused
refuse() {
	local name=$1 status=$2 reason=$3 cause=$4 rc why=
	raw "$SLUICE_PORT" >"$T/resp"
	rc=$?
	if [ "$(head -n1 "$T/resp" | tr -d '\r')" != "HTTP/1.1 $status $reason" ]; then
		why="status '$(head -n1 "$T/resp" | tr -d '\r')', want '$status $reason'"
	elif [ "$rc" -ne 0 ]; then
		why="connection not closed after the refusal"
	elif ! body_of "$T/resp" | grep -a -q 'sluice'; then
		why="body does not name sluice: '$(body_of "$T/resp")'"
	elif ! body_of "$T/resp" | grep -a -q -i -E -- "$cause"; then
		why="body does not name the cause (/$cause/): '$(body_of "$T/resp")'"
	fi
	if ! bad_origin_untouched; then
		why="${why:+$why; }the request reached the origin (new upstream connection)"
		direct_seen=$((direct_seen + 1)) # that connection counted too
		bad_origin_untouched >/dev/null || true
	elif grep -a -q '^Server: origin' "$T/resp"; then
		# after an earlier leak sluice may hold a pooled connection to it
		why="${why:+$why; }the request reached the origin (it answered)"
	fi
	# the proxy keeps serving others
	if ! curl -s -f -x "$PROXY" "http://127.0.0.1:$GOOD/bytes/10" -o /dev/null; then
		why="${why:+$why; }next client not served"
	fi
	if [ -n "$why" ]; then
		echo "not ok - $name: $why"
		failures+=("$name")
	else
		ok "$name: $status, closed, cause named, not forwarded"
	fi
}

U="http://127.0.0.1:$BAD/echo"
# a request that would reach the origin if the bytes before it were misread
SMUGGLED="GET $U?smuggled HTTP/1.1"$'\r\n\r\n'

printf 'GET %s HTTP/1.1\r\nX-A: a\rb\r\n\r\n' "$U" |
	refuse "bare CR inside a header value" 400 "Bad Request" 'CR|LF'
printf 'GET %s HTTP/1.1\r\nX-A: ab\r\rX-B: c\r\n\r\n' "$U" |
	refuse "bare CR as a line end" 400 "Bad Request" 'CR|LF'
printf 'GET %s HTTP/1.1\r\nX-A: a\r\n  b\r\n\r\n' "$U" |
	refuse "obs-fold continuation line (space)" 400 "Bad Request" 'fold'
printf 'GET %s HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n' "$U" |
	refuse "obs-fold continuation line (tab)" 400 "Bad Request" 'fold'
printf 'GET %s HTTP/1.1\r\nHost : x\r\n\r\n' "$U" |
	refuse "space between header name and colon" 400 "Bad Request" 'whitespace|colon|token'
printf 'GET %s HTTP/1.1\r\nX-A\t: b\r\n\r\n' "$U" |
	refuse "tab between header name and colon" 400 "Bad Request" 'whitespace|colon|token'
printf 'POST %s HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello%s' "$U" "$SMUGGLED" |
	refuse "two equal Content-Length" 400 "Bad Request" 'Content-Length'
printf 'POST %s HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello%s' "$U" "$SMUGGLED" |
	refuse "two different Content-Length" 400 "Bad Request" 'Content-Length'
printf 'POST %s HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n%s' "$U" "$SMUGGLED" |
	refuse "Transfer-Encoding with Content-Length" 400 "Bad Request" 'Transfer-Encoding|Content-Length'
printf 'POST %s HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s' "$U" "$SMUGGLED" |
	refuse "Content-Length with Transfer-Encoding" 400 "Bad Request" 'Transfer-Encoding|Content-Length'
printf 'POST %s HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nhello' "$U" |
	refuse "Transfer-Encoding: gzip" 400 "Bad Request" 'Transfer-Encoding'
printf 'POST %s HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n' "$U" |
	refuse "Transfer-Encoding: chunked, gzip (chunked not last)" 400 "Bad Request" 'Transfer-Encoding'
printf 'POST %s HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n%s' "$U" "$SMUGGLED" |
	refuse "HTTP/1.0 request with Transfer-Encoding (RFC 9112 6.1: faulty framing)" 400 "Bad Request" 'Transfer-Encoding|HTTP/1.0'
{ printf 'GET %s?' "$U"; printf '%01200d' 0; printf ' HTTP/1.1\r\n\r\n'; } |
	refuse "request target over url_max (1k)" 414 "URI Too Long" 'target|URI|URL'
{ printf 'GET %s HTTP/1.1\r\n' "$U"; for i in 1 2 3 4 5 6 7 8; do printf 'X-Filler-%s: %0600d\r\n' "$i" 0; done; printf '\r\n'; } |
	refuse "5 kB header block over header_max (4k), in one write" 431 "Request Header Fields Too Large" 'head'
{ printf 'GET %s HTTP/1.1\r\n' "$U"; for i in $(seq 30); do printf 'X-Filler-%s: %0600d\r\n' "$i" 0; done; printf '\r\n'; } |
	refuse "18 kB header block over header_max (4k)" 431 "Request Header Fields Too Large" 'head'

# the client connected before all that is still served on its connection
printf 'GET http://127.0.0.1:%s/bytes/4 HTTP/1.1\r\nConnection: close\r\n\r\n' "$GOOD" >&"$KEEP"
IFS= read -r -t 5 -u "$KEEP" line || fail "early client: no answer after the refusals"
expect_eq "${line%$'\r'}" "HTTP/1.1 200 OK" "early client after the refusals"
exec {KEEP}>&-
sluice_alive || fail "sluice died"
ok "a client connected before the refusals is still served"

# the access log names the cause of each refusal
access_log_has 'TAG_NONE/400 .*"obsolete line folding"' || failures+=("access log: no 400 line naming obs-fold")
access_log_has 'TAG_NONE/414 .*"[^"]*too long[^"]*"' || failures+=("access log: no 414 line naming the cause")

if command -v varnishtest >/dev/null; then
	run_vtc http_refuse.vtc
	ok "varnishtest: refusals close the connection and the origin only ever sees the good request"
fi

[ ${#failures[@]} -eq 0 ] || fail "${#failures[@]} refusal check(s) failed: ${failures[*]}"
