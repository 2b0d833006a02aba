# access_log_format json: one object per line that jq reads, whatever bytes
# a client puts in its request (quotes, backslashes, braces, percent
# escapes, a login name with quotes and UTF-8, an 8 KB target, targets
# refused for control and non-ASCII bytes), with the fields an analyst
# needs: time (completion), client, user, method, URL, status, result code,
# bytes each way, upstream, hierarchy, whether the server connection was
# reused, cause, and the timing breakdown (DNS, connect, response head,
# total; ms with microseconds); a tunnel's duration and bytes each way.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq missing (TEST_DEBS)"

start_origin
start_peer -s 5000 -r 3000
printf '127.0.0.1 a.sluice.test\n' >"$T/hosts"
start_dnsmasq "$T/hosts" 60
command -v htpasswd >/dev/null || fail "htpasswd missing"
USER_NAME='q"u\ser é'
htpasswd -bcB -C 4 "$T/users" "$USER_NAME" secret 2>/dev/null || fail "htpasswd"
start_sluice "workers 1" "access_log_format json" "resolver 127.0.0.1:$DNS_PORT" "connect_ports $PEER_PORT" \
	"auth_basic $T/users"
AUTH=(-U "$USER_NAME:secret")

get() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${AUTH[@]}" -x "$PROXY" "$@"; }
expect_eq "$(get "http://a.sluice.test:$ORIGIN_PORT/bytes/100")" 200 "by name"
expect_eq "$(get "http://a.sluice.test:$ORIGIN_PORT/bytes/200")" 200 "by name, pooled"
# (curl refuses to send such a target: the request goes raw)
hostile="/bytes/10?q=%22%5C%00%FF%7B%7D&x=\"\\{}<'>|^\`"
AUTH_HDR="Proxy-Authorization: Basic $(printf '%s:secret' "$USER_NAME" | base64 -w0)"
printf 'GET http://127.0.0.1:%s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nConnection: close\r\n\r\n' \
	"$ORIGIN_PORT" "$hostile" "$AUTH_HDR" | raw "$SLUICE_PORT" >"$T/hostile.out"
grep -q "^HTTP/1.1 200" "$T/hostile.out" || fail "hostile bytes: $(head -n1 "$T/hostile.out")"
long=$(head -c 8000 /dev/zero | tr '\0' a)
expect_eq "$(get "http://127.0.0.1:$ORIGIN_PORT/bytes/1?$long")" 200 "a long target"
# control and non-ASCII bytes in the target: refused with 400, and logged
printf 'GET http://127.0.0.1:%s/\x01\xff HTTP/1.1\r\nHost: x\r\n\r\n' "$ORIGIN_PORT" | raw "$SLUICE_PORT" >"$T/bad.out"
grep -q "^HTTP/1.1 400" "$T/bad.out" || fail "a target with control bytes: $(head -n1 "$T/bad.out")"
stop_sluice
untrack "$SLUICE_PID"
# the tunnel through a sluice without logins, into the same log
start_sluice "workers 1" "access_log_format json" "connect_ports $PEER_PORT"
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$PEER_PORT" -s 3000 -r 5000 -T 20 >"$T/tun.out" 2>&1 ||
	fail "tunnel: $(cat "$T/tun.out")"
stop_sluice

lines=$(wc -l <"$T/access.log")
[ "$lines" -ge 5 ] || fail "only $lines lines: $(cat "$T/access.log")"
jq -e . "$T/access.log" >/dev/null 2>"$T/jq.err" || fail "a line is not JSON: $(cat "$T/jq.err")"
ok "$lines lines, every one valid JSON (jq)"

# field NAME FILTER: the value of NAME in the line jq's FILTER selects
line() { jq -c "select($1)" "$T/access.log" | head -n1; }
first=$(line '.url | endswith("/bytes/100")')
second=$(line '.url | endswith("/bytes/200")')
[ -n "$first" ] && [ -n "$second" ] || fail "the named requests are not logged: $(cat "$T/access.log")"
jq -e --arg u "$USER_NAME" '.user == $u and .method == "GET" and .status == 200 and .code == "TCP_MISS"
	and .client == "127.0.0.1" and .bytes_down > 100 and .bytes_up > 50 and .upstream == "127.0.0.1"
	and .hierarchy == "HIER_DIRECT" and .reused == false and .cause == null
	and .dns_ms >= 0 and .connect_ms >= 0 and .head_ms > 0 and .total_ms >= .head_ms
	and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$"))' <<<"$first" >/dev/null ||
	fail "the first request's fields: $first"
jq -e '.reused == true and .connect_ms == null and .dns_ms >= 0' <<<"$second" >/dev/null ||
	fail "the pooled request's fields: $second"
ok "fields: user (with quotes, a backslash and UTF-8), status, bytes, upstream, reused, timing"

h=$(line '.url | contains("/bytes/10?q=")')
jq -e --arg want "http://127.0.0.1:$ORIGIN_PORT$hostile" '.url == $want' <<<"$h" >/dev/null ||
	fail "the hostile URL did not come back byte for byte: $h"
jq -e '.url | length > 8000' <<<"$(line '.url | contains("aaaa")')" >/dev/null || fail "the long URL"
bad=$(line '.status == 400')
jq -e '.cause != null and .code == "TAG_NONE"' <<<"$bad" >/dev/null || fail "the refused target: $bad"
ok "hostile and long URLs come back exact; a refused target is logged with its cause"

t=$(line '.tunnel == true')
jq -e '.method == "CONNECT" and .bytes_up == 3000 and .bytes_down >= 5000 and .total_ms > 0 and .status == 200' \
	<<<"$t" >/dev/null || fail "the tunnel's line: $t"
ok "the tunnel: CONNECT, 3000 bytes up, 5000 down, its duration"
