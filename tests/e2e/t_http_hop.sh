# Hop-by-hop headers, Host, request line and Via, checked byte for byte.
#
# Request direction: the test origin's /echo answers with the exact head it
# received, so the bytes sluice sent upstream are compared with what they
# must be.  Response direction: /hopbyhop (and a varnishtest origin with a
# richer head) send hop-by-hop headers that must not reach the client while
# every other line keeps its order, case, spacing and duplicates.
. "$(dirname "$0")/lib.sh"

# --- local helpers ---------------------------------------------------------

# head_of FILE / body_of FILE: the part before / after the first CRLFCRLF.
# drop_host: stdin without its Host lines (bytes otherwise untouched)



start_origin
start_sluice
P=$ORIGIN_PORT

# --- 1. request: hop-by-hop removed, the rest kept, Host regenerated --------

printf '%s\r\n' \
	"GET http://127.0.0.1:$P/echo?q=1&r=a%20b HTTP/1.1" \
	"Host: evil.example" \
	"User-Agent: raw/1" \
	"Connection: X-Foo, close" \
	"X-Foo: dropped" \
	"Keep-Alive: 300" \
	"x-lower: kept" \
	"Proxy-Connection: keep-alive" \
	"Proxy-Authorization: Basic Zm9vOmJhcg==" \
	"X-Dup: 1" \
	"TE: trailers" \
	"Trailer: X-T" \
	"X-Dup: 2" \
	"Upgrade: websocket" \
	"connection: x-BAR" \
	"X-Bar: dropped too" \
	"X-Spaced: a  b,c" \
	"Via: 1.1 first-proxy" \
	"Accept: */*" \
	"" >"$T/req"
raw "$SLUICE_PORT" <"$T/req" >"$T/resp"
rc=$?
expect_eq "$rc" 0 "sluice closes after a request with Connection: close"
body_of "$T/resp" >"$T/upstream"
# Where sluice puts Host is its own choice; there must be exactly one, with
# the authority of the absolute URI.
expect_eq "$(grep -a -c -i '^host:' "$T/upstream")" 1 "Host lines seen by the origin"
expect_eq "$(grep -a -i '^host:' "$T/upstream")" "Host: 127.0.0.1:$P"$'\r' "Host seen by the origin"
drop_host <"$T/upstream" >"$T/upstream.nohost"
printf '%s\r\n' \
	"GET /echo?q=1&r=a%20b HTTP/1.1" \
	"User-Agent: raw/1" \
	"x-lower: kept" \
	"X-Dup: 1" \
	"X-Dup: 2" \
	"X-Spaced: a  b,c" \
	"Via: 1.1 first-proxy" \
	"Accept: */*" \
	"Via: 1.1 sluice" \
	"" >"$T/want"
expect_file "$T/upstream.nohost" "$T/want" "request head the origin received"
ok "request: hop-by-hop and Connection-listed headers removed, others kept, Host regenerated, Via appended"

# the client's response head: the origin's lines, Via, and the close sluice owes the client
printf '%s\r\n' \
	"HTTP/1.1 200 OK" \
	"Server: origin" \
	"X-Conn-Id: 1" \
	"X-Req-Num: 1" \
	"Content-Type: text/plain" \
	"Content-Length: $(wc -c <"$T/upstream")" \
	"Via: 1.1 sluice" \
	"Connection: close" \
	"" >"$T/want"
head_of "$T/resp" >"$T/got"
expect_file "$T/got" "$T/want" "response head the client received for /echo"
ok "response: origin head kept, Via and Connection: close added"

# A Connection header naming the framing fields must not make sluice drop
# them: the body would then be read differently by the origin (smuggling).
printf '%s\r\n' \
	"POST http://127.0.0.1:$P/echo HTTP/1.1" \
	"Connection: Content-Length, Transfer-Encoding, Host, close" \
	"Content-Length: 5" \
	"" >"$T/req"
printf 'helloGET http://127.0.0.1:%s/echo?smuggled HTTP/1.1\r\n\r\n' "$P" >>"$T/req"
raw "$SLUICE_PORT" <"$T/req" >"$T/resp"
body_of "$T/resp" | drop_host >"$T/got"
printf '%s\r\n' "POST /echo HTTP/1.1" "Content-Length: 5" "Via: 1.1 sluice" "" >"$T/want"
printf 'hello' >>"$T/want"
expect_file "$T/got" "$T/want" "request whose Connection header lists Content-Length"
grep -a -q 'smuggled' "$T/resp" && fail "bytes after the body were forwarded as a request"
ok "Connection: Content-Length does not strip the framing header"

# --- 2. request line in origin-form, empty path and query ------------------

req_line() { # URL -> the request line the origin saw
	printf 'GET %s HTTP/1.1\r\nConnection: close\r\n\r\n' "$1" | raw "$SLUICE_PORT" | body_of /dev/stdin | head -n1 | tr -d '\r'
}
expect_eq "$(req_line "http://127.0.0.1:$P/echo")" "GET /echo HTTP/1.1" "origin-form request line"
expect_eq "$(req_line "http://127.0.0.1:$P/echo?")" "GET /echo? HTTP/1.1" "origin-form keeps an empty query"
expect_eq "$(req_line "HTTP://127.0.0.1:$P/echo?a=/b")" "GET /echo?a=/b HTTP/1.1" "scheme is case-insensitive"
ok "request line goes upstream in origin-form"

# --- 3. HTTP/1.0 request: Via 1.0 sluice ------------------------------------

printf 'GET http://127.0.0.1:%s/echo HTTP/1.0\r\nHost: x\r\nX-Old: yes\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp"
body_of "$T/resp" | drop_host >"$T/got"
printf '%s\r\n' "GET /echo HTTP/1.1" "X-Old: yes" "Via: 1.0 sluice" "" >"$T/want"
expect_file "$T/got" "$T/want" "HTTP/1.0 request as the origin saw it"
expect_eq "$(head_of "$T/resp" | grep -a -i '^via:' | tr -d '\r')" "Via: 1.1 sluice" "Via on the response to an HTTP/1.0 client"
ok "HTTP/1.0 request goes up with Via: 1.0 sluice"

# --- 4. response: /hopbyhop's hop-by-hop headers removed ---------------------

printf 'GET http://127.0.0.1:%s/hopbyhop HTTP/1.1\r\nConnection: close\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp"
# the origin numbers connections and requests (the upstream may come from
# sluice's pool): those two values are taken from the answer
conn_id=$(head_of "$T/resp" | sed -n 's/^X-Conn-Id: \([0-9]*\)\r$/\1/p')
req_num=$(head_of "$T/resp" | sed -n 's/^X-Req-Num: \([0-9]*\)\r$/\1/p')
[ -n "$conn_id" ] && [ -n "$req_num" ] || fail "no X-Conn-Id/X-Req-Num in $(cat "$T/resp")"
printf '%s\r\n' \
	"HTTP/1.1 200 OK" \
	"Server: origin" \
	"X-Conn-Id: $conn_id" \
	"X-Req-Num: $req_num" \
	"X-Keep-Me: 1" \
	"X-Keep-Me: 2" \
	"x-MiXeD-Case: Yes" \
	"Content-Length: 4" \
	"Via: 1.1 sluice" \
	"Connection: close" \
	"" >"$T/want"
printf 'hop\n' >>"$T/want"
expect_file "$T/resp" "$T/want" "client's response from /hopbyhop"
ok "response: Connection (and X-Drop-Me it lists), Keep-Alive, Proxy-Connection, Trailer, Upgrade removed"

# --- 5. Host for IPv6 literals and for port 80 ------------------------------

"$ORIGIN_BIN" -l ::1 -f "$T/o6.port" >/dev/null 2>&1 &
PIDS+=("$!")
if wait_for 5 test -s "$T/o6.port"; then
	P6=$(cat "$T/o6.port")
	printf 'GET http://[::1]:%s/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$P6" | raw "$SLUICE_PORT" >"$T/resp"
	expect_eq "$(body_of "$T/resp" | grep -a -i '^host:' | tr -d '\r')" "Host: [::1]:$P6" "Host for an IPv6 literal"
	ok "Host for an IPv6 literal keeps its brackets and port"
else
	echo "note: no IPv6 loopback, IPv6 Host check not run"
fi

# Port 80 needs root and a free port; without them that one check is skipped.
"$ORIGIN_BIN" -l 127.0.0.1 -p 80 -f "$T/o80.port" >/dev/null 2>&1 &
o80=$!
PIDS+=("$o80")
if wait_for 3 test -s "$T/o80.port"; then
	for url in "http://127.0.0.1/echo" "http://127.0.0.1:80/echo"; do
		printf 'GET %s HTTP/1.1\r\nHost: x:80\r\nConnection: close\r\n\r\n' "$url" | raw "$SLUICE_PORT" >"$T/resp"
		expect_eq "$(body_of "$T/resp" | grep -a -i '^host:' | tr -d '\r')" "Host: 127.0.0.1" "Host for $url"
	done
	ok "Host omits port 80"
else
	echo "note: cannot listen on 127.0.0.1:80 here, port-80 Host check not run"
fi

# --- 6. a richer response head from a scripted origin (varnishtest) ---------

command -v varnishtest >/dev/null || skip "varnishtest missing (curl/raw checks above passed)"
run_vtc http_hop.vtc
ok "varnishtest: response hop-by-hop removal byte for byte, Via both ways, origin-form"
