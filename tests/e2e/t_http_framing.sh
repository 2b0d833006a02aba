# Message framing through sluice, checked byte for byte.
#
# Request bodies must reach the origin as sluice framed them: Content-Length
# bodies byte for byte, chunked ones in canonical chunked form (sizes without
# leading zeros in lower case, extensions dropped, trailers kept): /echo
# sends back the head and the raw body bytes it read.  Responses: Content-Length, chunked with a trailer,
# close-delimited, HEAD, 204, 304, 103 Early Hints and 100 Continue, with a
# varnishtest origin for the shapes the test origin cannot produce.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

# echo_body FILE: in a response from /echo, the request body the origin read
echo_body() { perl -0777 -ne 'print $1 if /\A.*?\r\n\r\n.*?\r\n\r\n(.*)\z/s' "$1"; }
echo_head() { perl -0777 -ne 'print $1 if /\A.*?\r\n\r\n(.*?\r\n\r\n)/s' "$1"; }
# strip_ids: the origin numbers connections and requests; blank those out

start_origin
start_sluice
P=$ORIGIN_PORT

# --- 1. request bodies ----------------------------------------------------------

# Content-Length, small, with bytes that look like HTTP inside
printf 'x\r\n\r\nGET / HTTP/1.1\r\n\r\n' >"$T/small"
n=$(wc -c <"$T/small")
{ printf 'POST http://127.0.0.1:%s/echo HTTP/1.1\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' "$P" "$n"; cat "$T/small"; } |
	raw "$SLUICE_PORT" >"$T/resp"
expect_eq "$(status_of "$T/resp")" "HTTP/1.1 200 OK" "POST Content-Length: status"
echo_head "$T/resp" | grep -a -c "^Content-Length: $n"$'\r'"\$" >"$T/c"
expect_eq "$(cat "$T/c")" 1 "Content-Length header the origin saw"
echo_body "$T/resp" >"$T/got"
expect_file "$T/got" "$T/small" "Content-Length body the origin read"

# Content-Length, 300 kB: larger than any buffer, so it is streamed
"$ORIGIN_BIN" --gen 300000 >"$T/big"
{ printf 'PUT http://127.0.0.1:%s/echo HTTP/1.1\r\nContent-Length: 300000\r\nConnection: close\r\n\r\n' "$P"; cat "$T/big"; } |
	raw "$SLUICE_PORT" 20 >"$T/resp"
echo_body "$T/resp" >"$T/got"
expect_file "$T/got" "$T/big" "300 kB Content-Length body the origin read"
ok "Content-Length request bodies reach the origin intact"

# chunked with a chunk extension, odd sizes, a leading zero and trailer
# fields: the origin reads the same chunks and trailers, re-framed
{
	printf '5;name=val\r\nhello\r\n'
	printf '1\r\n \r\n'
	printf '0A\r\n0123456789\r\n'
	printf '0\r\nX-Trailer-One: 1\r\nx-trailer-two: b  c\r\n\r\n'
} >"$T/chunked"
{
	printf '5\r\nhello\r\n'
	printf '1\r\n \r\n'
	printf 'a\r\n0123456789\r\n'
	printf '0\r\nX-Trailer-One: 1\r\nx-trailer-two: b  c\r\n\r\n'
} >"$T/chunked-canonical"
{ printf 'POST http://127.0.0.1:%s/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' "$P"; cat "$T/chunked"; } |
	raw "$SLUICE_PORT" >"$T/resp"
expect_eq "$(status_of "$T/resp")" "HTTP/1.1 200 OK" "POST chunked: status"
expect_eq "$(echo_head "$T/resp" | grep -a -c -i '^Transfer-Encoding: chunked')" 1 "Transfer-Encoding the origin saw"
echo_body "$T/resp" >"$T/got"
expect_file "$T/got" "$T/chunked-canonical" "chunked body (extension, leading zero, trailers) the origin read"

# chunked, 3 x 100 kB chunks
{
	for i in 1 2 3; do printf '186a0\r\n'; head -c 100000 "$T/big"; printf '\r\n'; done
	printf '0\r\n\r\n'
} >"$T/bigchunked"
{ printf 'POST http://127.0.0.1:%s/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' "$P"; cat "$T/bigchunked"; } |
	raw "$SLUICE_PORT" 20 >"$T/resp"
echo_body "$T/resp" >"$T/got"
expect_file "$T/got" "$T/bigchunked" "300 kB chunked body the origin read"
ok "chunked request bodies reach the origin in canonical framing (extension dropped, trailers kept)"

# --- 2. response framings ---------------------------------------------------------

# Content-Length
printf 'GET http://127.0.0.1:%s/bytes/100 HTTP/1.1\r\nConnection: close\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp"
{ printf '%s\r\n' "HTTP/1.1 200 OK" "Server: origin" "X-Conn-Id: N" "X-Req-Num: N" "Content-Length: 100" \
	"Via: 1.1 sluice" "Connection: close" ""; "$ORIGIN_BIN" --gen 100; } >"$T/want"
strip_ids <"$T/resp" >"$T/got"
expect_file "$T/got" "$T/want" "Content-Length response"
ok "Content-Length response forwarded byte for byte"

# chunked with a trailer: chunks and trailer go through as framed
printf 'GET http://127.0.0.1:%s/chunked/10 HTTP/1.1\r\nConnection: close\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp"
printf '%s\r\n' "HTTP/1.1 200 OK" "Server: origin" "X-Conn-Id: N" "X-Req-Num: N" "Transfer-Encoding: chunked" \
	"Via: 1.1 sluice" "Connection: close" "" "a" "abcdefghij" "0" "X-Trailer: done" "" >"$T/want"
strip_ids <"$T/resp" >"$T/got"
expect_file "$T/got" "$T/want" "chunked response with trailer"
curl -s -f -x "$PROXY" "$ORIGIN/chunked/100000" -o "$T/got" || fail "curl chunked/100000"
"$ORIGIN_BIN" --gen 100000 | cmp -s - "$T/got" || fail "chunked/100000: body differs"
ok "chunked response with trailer forwarded byte for byte"

# close-delimited: the client (HTTP/1.1, no close asked) is closed after it
printf 'GET http://127.0.0.1:%s/close/1000 HTTP/1.1\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp" ||
	fail "close-delimited response: client connection left open"
expect_eq "$(head_of "$T/resp" | grep -a -c '^Connection: close'$'\r')" 1 "close-delimited: Connection: close to the client"
expect_eq "$(head_of "$T/resp" | grep -a -c -i -e '^content-length' -e '^transfer-encoding')" 0 "close-delimited: no framing header invented"
body_of "$T/resp" >"$T/got"
"$ORIGIN_BIN" --gen 1000 >"$T/want"
expect_file "$T/got" "$T/want" "close-delimited body"
ok "close-delimited response: body intact, client connection closed after it"

# HEAD (Content-Length and chunked), 204 and 304 have no body: each is
# followed by a pipelined request whose answer must come right after the head
for first in "HEAD /bytes/1000" "HEAD /chunked/1000" "GET /status/204" "GET /status/304"; do
	printf '%s http://127.0.0.1:%s%s HTTP/1.1\r\n\r\nGET http://127.0.0.1:%s/bytes/7 HTTP/1.1\r\nConnection: close\r\n\r\n' \
		"${first%% *}" "$P" "${first#* }" "$P" | raw "$SLUICE_PORT" >"$T/resp" || fail "$first: connection not closed"
	perl -0777 -ne 'print $1 if /\A(.*?\r\n\r\n)HTTP\//s' "$T/resp" >"$T/first"
	[ -s "$T/first" ] || { od -c "$T/resp" | head -30 >&2; fail "$first: no second response right after the first head"; }
	body_of "$T/resp" | body_of /dev/stdin >"$T/got"
	"$ORIGIN_BIN" --gen 7 >"$T/want"
	expect_file "$T/got" "$T/want" "$first: the response after it"
	case $first in
	"HEAD /bytes/1000") expect_eq "$(grep -a -c '^Content-Length: 1000'$'\r' "$T/first")" 1 "HEAD keeps Content-Length";;
	"GET /status/204") expect_eq "$(status_of "$T/first")" "HTTP/1.1 204 No Content" "204 status";;
	"GET /status/304") expect_eq "$(status_of "$T/first")" "HTTP/1.1 304 Not Modified" "304 status";;
	esac
done
ok "HEAD, 204 and 304 responses carry no body; the next response follows at once"

# 103 Early Hints reaches an HTTP/1.1 client before the 200
printf 'GET http://127.0.0.1:%s/early HTTP/1.1\r\nConnection: close\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp"
# sluice may add Via to the interim response; everything else is exact
strip_ids <"$T/resp" | perl -0777 -pe 's/\A(HTTP\/1\.1 103 .*?\r\n\r\n)/$1 =~ s{Via: 1\.1 sluice\r\n}{}r/se' >"$T/got"
printf '%s\r\n' "HTTP/1.1 103 Early Hints" "Link: </style.css>; rel=preload" "" \
	"HTTP/1.1 200 OK" "Server: origin" "X-Conn-Id: N" "X-Req-Num: N" "Content-Type: text/plain" "Content-Length: 12" \
	"Via: 1.1 sluice" "Connection: close" "" >"$T/want"
printf 'after hints\n' >>"$T/want"
expect_file "$T/got" "$T/want" "103 then 200"
ok "103 Early Hints forwarded before the 200"

# ... but never to an HTTP/1.0 client (RFC 9110 15.2)
printf 'GET http://127.0.0.1:%s/early HTTP/1.0\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp"
expect_eq "$(status_of "$T/resp")" "HTTP/1.1 200 OK" "HTTP/1.0 client: first status line"
expect_eq "$(body_of "$T/resp")" "after hints" "HTTP/1.0 client: body"
ok "no 1xx to an HTTP/1.0 client"

# Expect: 100-continue with curl: the 100 reaches the client, then the body flows
curl -s -v -x "$PROXY" -H 'Expect: 100-continue' --expect100-timeout 10 --data-binary @"$T/big" \
	"$ORIGIN/echo" -o "$T/resp" 2>"$T/curl.err" || fail "curl Expect: 100-continue"
grep -q '^< HTTP/1.1 100 Continue' "$T/curl.err" || { cat "$T/curl.err" >&2; fail "no 100 Continue reached curl"; }
grep -q '^< HTTP/1.1 200 OK' "$T/curl.err" || fail "no 200 after the 100"
perl -0777 -ne 'print $1 if /\A.*?\r\n\r\n(.*)\z/s' "$T/resp" >"$T/got"
expect_file "$T/got" "$T/big" "body sent after 100 Continue"
ok "Expect: 100-continue: 100 reaches the client, then the body flows"

# --- 3. scripted origin: bodiless responses that announce a body; 100-continue -----

command -v varnishtest >/dev/null || skip "varnishtest missing (raw checks above passed)"
bad=()
while IFS='|' read -r method status reason hdr; do
	if run_vtc_case http_nobody.vtc -D method="$method" -D status="$status" -D reason="$reason" -D hdr="$hdr"; then
		ok "varnishtest: $method -> $status with '$hdr': no body, next response follows"
	else
		bad+=("$method $status '$hdr'")
	fi
done <<'EOF2'
GET|304|Not Modified|Content-Length: 100
GET|204|No Content|X-Nothing: 1
GET|204|No Content|Content-Length: 100
HEAD|200|OK|Content-Length: 100
HEAD|200|OK|Transfer-Encoding: chunked
EOF2
run_vtc http_continue.vtc
ok "varnishtest: 100 Continue relayed before the body is sent, then the body flows"
run_vtc http10_codings.vtc
ok "varnishtest: HTTP/1.0 client: chunked decoded, any other transfer coding -> 502"
[ ${#bad[@]} -eq 0 ] || fail "bodiless responses mishandled: ${bad[*]}"
