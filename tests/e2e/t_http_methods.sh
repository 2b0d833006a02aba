# Every method goes upstream intact; Max-Forwards on TRACE and OPTIONS.
#
# The origin's /echo answers with the exact request head it received, so the
# request line the origin saw is compared byte for byte.  Max-Forwards: 0 is
# answered by sluice itself: a fresh origin (no pooled connection to it) then
# proves by its connection counter that nothing reached it.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

# drop_host: stdin without its Host lines (bytes otherwise untouched)
# direct_conn_id: the origin's connection number for a new direct connection,
# i.e. how many connections it accepted before, plus one.
direct_conn_id() {
	curl -s -D - -o /dev/null "$ORIGIN/status/200" | sed -n 's/^X-Conn-Id: \([0-9]*\)\r$/\1/p'
}

start_origin
start_sluice
P=$ORIGIN_PORT

# --- 1. methods ----------------------------------------------------------------

for m in GET POST PUT DELETE OPTIONS PATCH TRACE PROPFIND MKCOL COPY MOVE LOCK UNLOCK PURGE; do
	printf '%s http://127.0.0.1:%s/echo HTTP/1.1\r\nHost: x\r\nX-M: %s\r\nConnection: close\r\n\r\n' "$m" "$P" "$m" |
		raw "$SLUICE_PORT" >"$T/resp" || fail "$m: connection not closed after Connection: close"
	expect_eq "$(status_of "$T/resp")" "HTTP/1.1 200 OK" "$m: status"
	body_of "$T/resp" | drop_host >"$T/got"
	printf '%s\r\n' "$m /echo HTTP/1.1" "X-M: $m" "Via: 1.1 sluice" "" >"$T/want"
	expect_file "$T/got" "$T/want" "$m: request the origin saw"
done
ok "GET POST PUT DELETE OPTIONS PATCH TRACE PROPFIND MKCOL COPY MOVE LOCK UNLOCK PURGE forwarded intact"

# HEAD: the origin saw HEAD (it answers with the length a GET would get and no body)
printf 'GET http://127.0.0.1:%s/echo HTTP/1.1\r\nConnection: close\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/get"
get_len=$(head_of "$T/get" | sed -n 's/^Content-Length: \([0-9]*\)\r$/\1/p')
printf 'HEAD http://127.0.0.1:%s/echo HTTP/1.1\r\nConnection: close\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp" ||
	fail "HEAD: connection not closed"
expect_eq "$(status_of "$T/resp")" "HTTP/1.1 200 OK" "HEAD: status"
# the same request head as GET's, with HEAD in it: 1 byte longer
expect_eq "$(head_of "$T/resp" | sed -n 's/^Content-Length: \([0-9]*\)\r$/\1/p')" "$((get_len + 1))" "HEAD: Content-Length"
expect_eq "$(body_of "$T/resp" | wc -c)" 0 "HEAD: body bytes"
ok "HEAD forwarded, no body"

# --- 2. Max-Forwards: 3 and 1 are decremented on TRACE and OPTIONS -------------

for m in TRACE OPTIONS; do
	for mf in 3 1; do
		printf '%s http://127.0.0.1:%s/echo HTTP/1.1\r\nMax-Forwards: %s\r\nX-After: 1\r\nConnection: close\r\n\r\n' "$m" "$P" "$mf" |
			raw "$SLUICE_PORT" >"$T/resp"
		expect_eq "$(status_of "$T/resp")" "HTTP/1.1 200 OK" "$m Max-Forwards $mf: status"
		body_of "$T/resp" | drop_host >"$T/got"
		printf '%s\r\n' "$m /echo HTTP/1.1" "Max-Forwards: $((mf - 1))" "X-After: 1" "Via: 1.1 sluice" "" >"$T/want"
		expect_file "$T/got" "$T/want" "$m with Max-Forwards: $mf as the origin saw it"
	done
done
ok "Max-Forwards: 3 goes up as 2 (and 1 as 0) for TRACE and OPTIONS"

# --- 3. Max-Forwards: 0 answered by sluice, never forwarded ---------------------

ORIGIN=$ORIGIN_BIN
start_origin # a fresh origin: sluice has no pooled connection to it
P=$ORIGIN_PORT
before=$(direct_conn_id)

trace_req="TRACE http://127.0.0.1:$P/echo HTTP/1.1"$'\r\n'"Host: example.test"$'\r\n'"Max-Forwards: 0"$'\r\n'"X-Trace-Me: yes"$'\r\n'"Accept: */*"$'\r\n\r\n'
# keep the connection open (no Connection: close) and end it with a second,
# closing request, so the TRACE echo holds exactly what was sent
exec {C}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect to sluice"
printf '%s' "$trace_req" >&"$C"
IFS= read -r -t 5 -u "$C" line || fail "TRACE: no answer"
expect_eq "${line%$'\r'}" "HTTP/1.1 200 OK" "TRACE Max-Forwards 0: status"
ctype= clen=
while IFS= read -r -t 5 -u "$C" line; do
	line=${line%$'\r'}
	[ -z "$line" ] && break
	case ${line,,} in
	content-type:*) ctype=${line#*: };;
	content-length:*) clen=${line#*: };;
	esac
done
expect_eq "$ctype" "message/http" "TRACE Max-Forwards 0: Content-Type"
expect_eq "$clen" "${#trace_req}" "TRACE Max-Forwards 0: Content-Length"
IFS= read -r -N "$clen" -t 5 -u "$C" echoed || fail "TRACE: short body"
expect_eq "$echoed" "$trace_req" "TRACE Max-Forwards 0: echoed request"
exec {C}>&-
ok "TRACE with Max-Forwards: 0 answered by sluice with the request as message/http"

printf 'OPTIONS http://127.0.0.1:%s/echo HTTP/1.1\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp" ||
	fail "OPTIONS Max-Forwards 0: connection not closed"
expect_eq "$(status_of "$T/resp")" "HTTP/1.1 200 OK" "OPTIONS Max-Forwards 0: status"
grep -a -q '^Server: origin' "$T/resp" && fail "OPTIONS Max-Forwards 0 reached the origin"
ok "OPTIONS with Max-Forwards: 0 answered by sluice"

after=$(direct_conn_id)
expect_eq "$after" "$((before + 1))" "origin connections after the Max-Forwards: 0 requests (none may come from sluice)"
ok "Max-Forwards: 0 requests never reached the origin"
