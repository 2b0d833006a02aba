# sluice as a transparent (iptables REDIRECT) egress proxy, in a real routed
# topology built from three network namespaces made (and always removed) here:
#
#   client 10.200.1.2      gateway 10.200.1.1 | 10.200.2.1      server 10.200.2.2
#   fd00:200:1::2   <-veth-> fd00:200:1::1 | fd00:200:2::1 <-veth-> fd00:200:2::2
#
# The gateway forwards, and its nat PREROUTING redirects the client side's
# TCP 80 to sluice's "transparent" port 3129 and TCP 443 to its
# "transparent-tls" port 3130 (iptables and ip6tables).  The server runs the
# test origin on :80 and openssl s_server on :443, both families.  Checks:
# plain HTTP reaches the original destination with sluice's Via (not where
# Host points), bodies intact, keep-alive; TLS is relayed undecrypted with the
# SNI name in the access log; a direct (not redirected) connection to a
# transparent port gets 508 (HTTP) or is closed (TLS) and does not loop;
# and through a parent proxy (a second sluice in the gateway): HTTP in
# absolute form, TLS as CONNECT to its SNI name, or to the address without one.
# Needs root, ip and iptables/ip6tables; skips without them.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, iptables)"
for tool in ip iptables ip6tables curl openssl; do
	command -v "$tool" >/dev/null || skip "$tool missing"
done

NS_C=sl-$$-c NS_G=sl-$$-g NS_S=sl-$$-s
NETNS=()   # the namespaces this run created, removed on exit

# Stop every process (they live in the namespaces; their PIDs work from
# here), then delete the namespaces (which takes the veths and the rules with
# them), then the lib's cleanup (sanitizer check, $T).
ns_cleanup() {
	local pid ns
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# Anything else still inside these namespaces (made by this run only)
	# would keep them, veths and all, alive after "ip netns del".
	for ns in "${NETNS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			echo "cleanup: killing stray PID $pid in $ns" >&2
			kill -9 "$pid" 2>/dev/null
		done
	done
	for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	cleanup
}
trap ns_cleanup EXIT

# Foreground commands only: a background process is started with a plain
# "ip netns exec NS PROG &" (ip execs PROG, so $! is PROG's own PID).
in_c() { ip netns exec "$NS_C" "$@"; }
in_g() { ip netns exec "$NS_G" "$@"; }

# --- the topology ------------------------------------------------------------------------------
for ns in "$NS_C" "$NS_G" "$NS_S"; do
	ip netns add "$ns" 2>"$T/netns.err" || skip "ip netns add failed: $(cat "$T/netns.err")"
	NETNS+=("$ns")
	ip -n "$ns" link set lo up || fail "lo up in $ns"
done
# veth names are per namespace: both ends are created inside them directly
ip link add c0 netns "$NS_C" type veth peer name gc0 netns "$NS_G" || fail "veth client-gateway"
ip link add gs0 netns "$NS_G" type veth peer name s0 netns "$NS_S" || fail "veth gateway-server"
net() {
	"$@" || fail "topology: $*"
}
net ip -n "$NS_C" addr add 10.200.1.2/24 dev c0
net ip -n "$NS_C" -6 addr add fd00:200:1::2/64 dev c0 nodad
net ip -n "$NS_G" addr add 10.200.1.1/24 dev gc0
net ip -n "$NS_G" -6 addr add fd00:200:1::1/64 dev gc0 nodad
net ip -n "$NS_G" addr add 10.200.2.1/24 dev gs0
net ip -n "$NS_G" -6 addr add fd00:200:2::1/64 dev gs0 nodad
net ip -n "$NS_S" addr add 10.200.2.2/24 dev s0
net ip -n "$NS_S" -6 addr add fd00:200:2::2/64 dev s0 nodad
net ip -n "$NS_C" link set c0 up
net ip -n "$NS_G" link set gc0 up
net ip -n "$NS_G" link set gs0 up
net ip -n "$NS_S" link set s0 up
net ip -n "$NS_C" route add default via 10.200.1.1
net ip -n "$NS_C" -6 route add default via fd00:200:1::1
net ip -n "$NS_S" route add default via 10.200.2.1
net ip -n "$NS_S" -6 route add default via fd00:200:2::1
# /proc, not sysctl(8): procps may not be installed
net in_g sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward && echo 1 >/proc/sys/net/ipv6/conf/all/forwarding'
for ipt in iptables ip6tables; do
	net in_g "$ipt" -t nat -A PREROUTING -i gc0 -p tcp --dport 80 -j REDIRECT --to-ports 3129
	net in_g "$ipt" -t nat -A PREROUTING -i gc0 -p tcp --dport 443 -j REDIRECT --to-ports 3130
done

# --- the server: the test origin on :80 and openssl s_server on :443, each family ------------
ip netns exec "$NS_S" "$ORIGIN_BIN" -l 10.200.2.2 -p 80 -f "$T/origin4.port" >/dev/null 2>"$T/origin4.err" &
PIDS+=($!)
ip netns exec "$NS_S" "$ORIGIN_BIN" -l '[fd00:200:2::2]' -p 80 -f "$T/origin6.port" >/dev/null 2>"$T/origin6.err" &
PIDS+=($!)
wait_for 10 test -s "$T/origin4.port" || fail "origin on 10.200.2.2:80 did not start: $(cat "$T/origin4.err")"
wait_for 10 test -s "$T/origin6.port" || fail "origin on [fd00:200:2::2]:80 did not start: $(cat "$T/origin6.err")"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-keyout "$T/key.pem" -out "$T/cert.pem" -subj "/CN=secure.test" \
	-addext "subjectAltName=DNS:secure.test" >"$T/req.out" 2>&1 \
	|| fail "openssl req: $(cat "$T/req.out")"
for fam in 4 6; do
	if [ "$fam" = 4 ]; then acc=10.200.2.2:443; else acc='[fd00:200:2::2]:443'; fi
	ip netns exec "$NS_S" openssl s_server -accept "$acc" -cert "$T/cert.pem" -key "$T/key.pem" -www \
		>"$T/tls$fam.out" 2>"$T/tls$fam.err" &
	PIDS+=($!)
	wait_for 10 grep -q "^ACCEPT" "$T/tls$fam.out" || fail "s_server on $acc did not start: $(cat "$T/tls$fam.err")"
done

# --- sluice in the gateway --------------------------------------------------------------------
# Nothing here is resolved (every address is literal, and secure.test must not
# be looked up): a resolver on the gateway's own closed port makes sure no
# query could leave the namespaces if sluice ever tried.
cat >"$T/sluice.conf" <<EOF
listen 0.0.0.0:3129 transparent
listen 0.0.0.0:3130 transparent-tls
listen [::]:3129 transparent
listen [::]:3130 transparent-tls
listen 127.0.0.1:3128
workers 2
header_timeout 2s
access_log $T/access.log
error_log stderr
resolver 127.0.0.1:1
EOF
in_g "$SLUICE" -t -c "$T/sluice.conf" >"$T/check.out" 2>&1 \
	|| fail "sluice -t rejects the transparent config: $(cat "$T/check.out")"
: >"$T/sluice.err"
ip netns exec "$NS_G" "$SLUICE" -c "$T/sluice.conf" 2>>"$T/sluice.err" &
SLUICE_PID=$!
PIDS+=("$SLUICE_PID")
wait_for 10 lines_ge 5 "listening on " "$T/sluice.err" || fail "sluice did not open its 5 listeners"
ok "topology up: client -> gateway (REDIRECT 80->3129, 443->3130, v4 and v6, sluice) -> server"

# --- (1) redirected plain HTTP reaches the original destination through sluice --------------
# echo_check URL URL_RE PEER_RE CLIENT_RE WHAT: GET URL from the client
# namespace; the origin's echo shows sluice's Via and the access log the
# transparent line (the client's own address, the URL built from Host, the
# original destination as the peer).
echo_check() {
	local url=$1 what=$5
	in_c curl -sS -m 10 -D "$T/h" -o "$T/echo" -w '%{http_code}' "$url" >"$T/code" 2>"$T/curl.err" \
		|| fail "$what: curl $url: $(cat "$T/curl.err")"
	expect_eq "$(cat "$T/code")" 200 "$what: status"
	expect_eq "$(head -n1 "$T/echo" | tr -d '\r')" "GET /echo HTTP/1.1" "$what: request line the origin saw"
	expect_eq "$(grep -i '^via:' "$T/echo" | tr -d '\r')" "Via: 1.1 sluice" "$what: Via seen by the origin"
	access_log_has " $4 TCP_MISS/200 [0-9]* GET $2 - ORIGINAL_DST/$3 " \
		|| fail "$what: no access log line '$4 TCP_MISS/200 N GET $2 - ORIGINAL_DST/$3': $(cat "$T/access.log" 2>/dev/null)"
}
bytes_check() {
	local url=$1
	in_c curl -sS -f -m 20 -o "$T/got" "$url" 2>"$T/curl.err" || fail "curl $url: $(cat "$T/curl.err")"
	"$ORIGIN_BIN" --gen 100000 | cmp -s - "$T/got" || fail "$url: body differs"
}
echo_check "http://10.200.2.2/echo" 'http://10\.200\.2\.2/echo' '10\.200\.2\.2' '10\.200\.1\.2' "transparent HTTP"
bytes_check "http://10.200.2.2/bytes/100000"
ok "curl http://10.200.2.2/ from the client: through sluice (Via), ORIGINAL_DST in the access log, 100000 bytes intact"

# --- (2) a lying Host: sluice still connects to the original destination ---------------------
in_c curl -sS -m 10 -H 'Host: 10.200.9.9' -o "$T/echo" -w '%{http_code}' "http://10.200.2.2/echo" \
	>"$T/code" 2>"$T/curl.err" || fail "Host: 10.200.9.9: curl: $(cat "$T/curl.err")"
expect_eq "$(cat "$T/code")" 200 "Host: 10.200.9.9: status (nothing answers at 10.200.9.9: no route there)"
expect_eq "$(head -n1 "$T/echo" | tr -d '\r')" "GET /echo HTTP/1.1" "Host: 10.200.9.9: request line the origin saw"
grep -qi '^via: 1.1 sluice' "$T/echo" || fail "Host: 10.200.9.9: no Via at the origin: $(cat "$T/echo")"
wait_for 5 grep -q "does not match" "$T/sluice.err" \
	|| fail "Host 10.200.9.9 vs original destination 10.200.2.2: no 'does not match' in the error log"
ok "Host: 10.200.9.9 still goes to the original destination 10.200.2.2; the mismatch is logged"

# --- (3) redirected TLS: SNI peeked, bytes relayed to the original destination ---------------
# tls_check ADDR FAM WHAT: https://secure.test/ resolved to ADDR from the
# client; s_server's status page names the -accept of family FAM's server.
tls_check() {
	local addr=$1 fam=$2 what=$3 acc
	if [ "$fam" = 4 ]; then acc=10.200.2.2:443; else acc='[fd00:200:2::2]:443'; fi
	in_c curl -sS -m 10 --cacert "$T/cert.pem" --resolve "secure.test:443:$addr" -o "$T/page" \
		-w '%{http_code}' https://secure.test/ >"$T/code" 2>"$T/curl.err" \
		|| fail "$what: curl https://secure.test/ at $addr: $(cat "$T/curl.err")"
	expect_eq "$(cat "$T/code")" 200 "$what: status"
	grep -q "Ciphers supported in s_server binary" "$T/page" || fail "$what: not s_server's page: $(head -c 500 "$T/page")"
	grep -qF -- "-accept $acc" "$T/page" || fail "$what: answered by the wrong s_server: $(head -n 5 "$T/page")"
	grep -qi '^via:' "$T/page" && fail "$what: the TLS stream was rewritten"
	:
}
tls_check 10.200.2.2 4 "transparent TLS"
wait_for 10 grep -q "TCP_TUNNEL/200 .* CONNECT secure\.test:443 .*sni=secure\.test" "$T/access.log" \
	|| fail "transparent TLS: no 'TCP_TUNNEL/200 ... CONNECT secure.test:443 ... sni=secure.test' line: $(cat "$T/access.log")"
ok "curl https://secure.test/ (10.200.2.2) from the client: certificate verified end to end, sni=secure.test logged"

# --- (4) not redirected: 508 for HTTP, closed for TLS, no loop --------------------------------
for url in "http://10.200.1.1:3129/" "http://[fd00:200:1::1]:3129/"; do
	in_g curl -sS -m 5 -D "$T/h" -o "$T/body" -w '%{http_code}' "$url" >"$T/code" 2>"$T/curl.err" \
		|| fail "direct $url: curl: $(cat "$T/curl.err")"
	expect_eq "$(cat "$T/code")" 508 "direct $url: status"
	expect_eq "$(status_of "$T/h")" "HTTP/1.1 508 Loop Detected" "direct $url: status line"
	expect_eq "$(head -c 11 "$T/body")" "sluice: 508" "direct $url: body"
done
wait_for 5 grep -q "not redirected" "$T/sluice.err" || fail "direct connection: no 'not redirected' in the error log"
sluice_alive || fail "sluice died after a direct connection to its transparent port"
nr=$(grep -c "not redirected" "$T/sluice.err")
start=$(now_ms)
in_g curl -sS -m 5 --cacert "$T/cert.pem" --resolve secure.test:3130:10.200.1.1 \
	-o /dev/null https://secure.test:3130/ 2>"$T/curl.err"
rc=$?
[ "$rc" != 0 ] || fail "direct TLS to 10.200.1.1:3130: curl succeeded"
[ "$rc" != 28 ] || fail "direct TLS to 10.200.1.1:3130: curl timed out (looped or hung?): $(cat "$T/curl.err")"
echo "direct TLS: curl exit $rc after $(( $(now_ms) - start )) ms: $(cat "$T/curl.err")"
wait_for 5 lines_ge $((nr + 1)) "not redirected" "$T/sluice.err" \
	|| fail "direct TLS connection: no new 'not redirected' line in the error log"
sluice_alive || fail "sluice died after a direct TLS connection"
ok "direct connections to the transparent ports: 508 Loop Detected (v4, v6), TLS closed at once, no loop"

# --- (5) IPv6 ----------------------------------------------------------------------------------
echo_check "http://[fd00:200:2::2]/echo" 'http://\[fd00:200:2::2\]/echo' 'fd00:200:2::2' 'fd00:200:1::2' \
	"transparent HTTP over IPv6"
bytes_check "http://[fd00:200:2::2]/bytes/100000"
ok "curl http://[fd00:200:2::2]/ from the client: through sluice (Via), ORIGINAL_DST in the access log, bytes intact"
tls_check '[fd00:200:2::2]' 6 "transparent TLS over IPv6"
wait_for 10 lines_ge 2 "TCP_TUNNEL/200 .* CONNECT secure\.test:443 .*sni=secure\.test" "$T/access.log" \
	|| fail "transparent TLS over IPv6: want a second sni=secure.test tunnel line: $(cat "$T/access.log")"
ok "curl https://secure.test/ ([fd00:200:2::2]) from the client: relayed, sni=secure.test logged"

# --- (6) keep-alive: two requests on one redirected connection ---------------------------------
in_c curl -sS -m 10 -o "$T/ka1" -o "$T/ka2" -w '%{http_code} %{num_connects}\n' \
	"http://10.200.2.2/bytes/100000" "http://10.200.2.2/echo" >"$T/ka" 2>"$T/curl.err" \
	|| fail "keep-alive: curl: $(cat "$T/curl.err")"
expect_eq "$(tr '\n' ' ' <"$T/ka")" "200 1 200 0 " "keep-alive: status and new connections per request"
"$ORIGIN_BIN" --gen 100000 | cmp -s - "$T/ka1" || fail "keep-alive: first body differs"
grep -qi '^via: 1.1 sluice' "$T/ka2" || fail "keep-alive: second request did not go through sluice: $(cat "$T/ka2")"
ok "two requests on one client connection, both answered"

# --- (7) what a transparent listener refuses or passes through as it is -----------------------
# CONNECT would let a redirected client tunnel anywhere: 403, never forwarded
in_c timeout 10 bash -c 'exec 3<>/dev/tcp/10.200.2.2/80 &&
	printf "CONNECT 10.200.9.9:443 HTTP/1.1\r\nHost: 10.200.9.9:443\r\n\r\n" >&3 && head -n1 <&3' \
	>"$T/connect" 2>&1 || fail "CONNECT on the transparent port: $(cat "$T/connect")"
expect_eq "$(tr -d '\r' <"$T/connect")" "HTTP/1.1 403 Forbidden" "CONNECT on a transparent listener"
# an absolute-form target names a host for the log; the request still goes
# to the original destination, in origin-form
in_c curl -sS -m 10 --request-target http://10.200.9.9/echo -o "$T/echo" "http://10.200.2.2/" 2>"$T/curl.err" \
	|| fail "absolute-form on the transparent port: $(cat "$T/curl.err")"
expect_eq "$(head -n1 "$T/echo" | tr -d '\r')" "GET /echo HTTP/1.1" "absolute-form: request line the origin saw"
access_log_has " GET http://10\.200\.9\.9/echo - ORIGINAL_DST/10\.200\.2\.2 " \
	|| fail "absolute-form: no line naming 10.200.9.9 and going to 10.200.2.2: $(cat "$T/access.log")"
# HTTP/1.1 without Host: 400 (RFC 9112 3.2)
in_c timeout 10 bash -c 'exec 3<>/dev/tcp/10.200.2.2/80 && printf "GET / HTTP/1.1\r\n\r\n" >&3 && head -n1 <&3' \
	>"$T/nohost" 2>&1 || fail "no Host: $(cat "$T/nohost")"
expect_eq "$(tr -d '\r' <"$T/nohost")" "HTTP/1.1 400 Bad Request" "HTTP/1.1 request without Host"
# two Host lines, and an asterisk-form target on anything but OPTIONS: 400
raw80() { # REQUEST: its status line, from the client namespace to 10.200.2.2:80
	in_c timeout 10 bash -c 'exec 3<>/dev/tcp/10.200.2.2/80 && printf "$1" >&3 && head -n1 <&3' _ "$1" | tr -d '\r'
}
expect_eq "$(raw80 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')" "HTTP/1.1 400 Bad Request" "two Host lines"
expect_eq "$(raw80 'GET * HTTP/1.1\r\nHost: 10.200.2.2\r\n\r\n')" "HTTP/1.1 400 Bad Request" "GET *"
expect_eq "$(raw80 'GET https://10.200.2.2/ HTTP/1.1\r\nHost: 10.200.2.2\r\n\r\n')" "HTTP/1.1 400 Bad Request" \
	"https:// absolute-form"
access_log_has "https URLs are not accepted on a transparent listener" \
	|| fail "https:// absolute-form: no reason in the access log: $(cat "$T/access.log")"
ok "transparent HTTP: CONNECT refused (403), absolute-form goes to the original destination, no Host, two Hosts, GET * are 400"

# the gateway's own addresses are not carried there: that would reach the
# gateway's services from a local address, past its INPUT rules
for url in "http://10.200.2.1/" "http://10.200.1.1/" "http://[fd00:200:2::1]/"; do
	in_c curl -sS -m 10 -o "$T/body" -w '%{http_code}' "$url" >"$T/code" 2>"$T/curl.err" \
		|| fail "$url: curl: $(cat "$T/curl.err")"
	expect_eq "$(cat "$T/code")" 403 "$url (the gateway itself) from the client"
done
grep -q "original destination is an address of this gateway" "$T/body" || fail "403 body: $(cat "$T/body")"
in_c curl -sS -m 10 -k -o /dev/null "https://10.200.2.1/" 2>"$T/curl.err" && fail "https://10.200.2.1/ (the gateway) was relayed"
wait_for 5 grep -q "original destination is an address of this gateway 10.200.2.1: closed" "$T/sluice.err" \
	|| fail "TLS to the gateway's own address: not refused in the error log"
ok "connections redirected to the gateway's own addresses are refused: 403 (HTTP), closed (TLS)"

# TLS without SNI, and bytes that are not TLS at all, are relayed and logged as such
in_c timeout 10 openssl s_client -connect 10.200.2.2:443 -noservername -CAfile "$T/cert.pem" \
	</dev/null >"$T/nosni.out" 2>&1
grep -q "Verify return code: 0 (ok)" "$T/nosni.out" || fail "TLS without SNI: no verified handshake: $(tail -n 20 "$T/nosni.out")"
wait_for 10 grep -q "TCP_TUNNEL/200 .* CONNECT 10\.200\.2\.2:443 .*no SNI" "$T/access.log" \
	|| fail "TLS without SNI: no 'CONNECT 10.200.2.2:443 ... no SNI' line: $(cat "$T/access.log")"
in_c curl -sS -m 10 -o /dev/null "http://10.200.2.2:443/" 2>"$T/curl.err"
wait_for 10 grep -q "CONNECT 10\.200\.2\.2:443 .*not TLS" "$T/access.log" \
	|| fail "plain HTTP to port 443: no 'not TLS' line: $(cat "$T/access.log")"
ok "transparent TLS: a hello without SNI and a stream that is not TLS are relayed and logged ('no SNI', 'not TLS')"

# the start of a ClientHello and then silence: after header_timeout (2 s
# here) the connection is relayed anyway, and logged as incomplete
mkfifo "$T/hello.go"
ip netns exec "$NS_C" bash -c 'exec 3<>/dev/tcp/10.200.2.2/443 && printf "\x16\x03\x01\x02\x00\x01\x00" >&3 &&
	echo sent >"$1" && read -r _ <"$2" && exec 3>&-' _ "$T/hello.sent" "$T/hello.go" &
hello_pid=$!
PIDS+=("$hello_pid")
wait_for 10 test -s "$T/hello.sent" || fail "partial hello: the client did not connect"
wait_for 10 grep -q "no complete ClientHello in time; relaying it anyway" "$T/sluice.err" \
	|| fail "partial hello: not relayed after header_timeout"
echo done >"$T/hello.go"
wait "$hello_pid" 2>/dev/null
untrack "$hello_pid"
wait_for 10 grep -q "CONNECT 10\.200\.2\.2:443 .*incomplete hello" "$T/access.log" \
	|| fail "partial hello: no 'incomplete hello' line: $(cat "$T/access.log")"
ok "transparent TLS: a ClientHello that stops half way is relayed after header_timeout and logged"

# the start of a hello and then the client's FIN: closed at once, never relayed
in_c timeout 10 bash -c 'exec 3<>/dev/tcp/10.200.2.2/443 && printf "\x16\x03\x01" >&3 && exec 3>&-'
wait_for 5 grep -q "CONNECT 10\.200\.2\.2:443 .*client closed before its ClientHello was complete" "$T/access.log" \
	|| fail "hello cut by the client: no 'client closed before its ClientHello' line: $(cat "$T/access.log")"
# connected and silent: closed after header_timeout, nothing is relayed
start=$(now_ms)
in_c timeout 10 bash -c 'exec 3<>/dev/tcp/10.200.2.2/443 && cat <&3' >/dev/null 2>&1
[ $(( $(now_ms) - start )) -ge 1500 ] || fail "silent TLS client: closed before header_timeout"
wait_for 5 grep -q "CONNECT 10\.200\.2\.2:443 .*no bytes within header_timeout" "$T/access.log" \
	|| fail "silent TLS client: no 'no bytes within header_timeout' line: $(cat "$T/access.log")"
ok "transparent TLS: a client that closes mid-hello is closed at once; a silent one after header_timeout"

# --- the ordinary listener still works beside the transparent ones ---------------------------
in_g curl -sS -m 10 -x http://127.0.0.1:3128 -o "$T/echo" "http://10.200.2.2/echo" 2>"$T/curl.err" \
	|| fail "explicit proxy on 127.0.0.1:3128: $(cat "$T/curl.err")"
grep -qi '^via: 1.1 sluice' "$T/echo" || fail "explicit proxy: no Via at the origin"
access_log_has " 127\.0\.0\.1 TCP_MISS/200 [0-9]* GET http://10\.200\.2\.2/echo - HIER_DIRECT/10\.200\.2\.2 " \
	|| fail "explicit proxy: no HIER_DIRECT line: $(cat "$T/access.log")"
ok "the plain listener 127.0.0.1:3128 proxies as before (HIER_DIRECT)"

sluice_alive || fail "sluice died"
stop_sluice
untrack "$SLUICE_PID"

# --- access rules on the transparent listeners -----------------------------------------------
# dstdomain matches the name the client gave: Host for HTTP, the SNI for TLS.
# A denied HTTP request gets 403; a denied TLS connection a fatal
# access_denied alert before the close, which curl reports.
{
	cat "$T/sluice.conf"
	echo "acl blocked dstdomain .blocked.test"
	echo "http_access deny blocked"
	echo "http_access allow all"
} >"$T/rules.conf"
: >"$T/sluice.err"
ip netns exec "$NS_G" "$SLUICE" -c "$T/rules.conf" 2>>"$T/sluice.err" &
SLUICE_PID=$!
PIDS+=("$SLUICE_PID")
wait_for 10 lines_ge 5 "listening on " "$T/sluice.err" || fail "sluice (with rules) did not open its 5 listeners"
in_c curl -sS -m 10 -H 'Host: www.blocked.test' -o "$T/body" -w '%{http_code}' "http://10.200.2.2/echo" \
	>"$T/code" 2>"$T/curl.err" || fail "Host: www.blocked.test: curl: $(cat "$T/curl.err")"
expect_eq "$(cat "$T/code")" 403 "transparent HTTP with Host: www.blocked.test"
grep -q "access denied by sluice policy" "$T/body" || fail "transparent HTTP 403 body: $(cat "$T/body")"
in_c curl -sS -m 10 -o "$T/echo" -w '%{http_code}' "http://10.200.2.2/echo" >"$T/code" 2>"$T/curl.err" \
	|| fail "transparent HTTP, not blocked: $(cat "$T/curl.err")"
expect_eq "$(cat "$T/code")" 200 "transparent HTTP, not blocked"
in_c curl -sS -m 10 --cacert "$T/cert.pem" --resolve "www.blocked.test:443:10.200.2.2" -o /dev/null \
	"https://www.blocked.test/" 2>"$T/curl.err" && fail "https://www.blocked.test/ was relayed"
grep -qi "access denied" "$T/curl.err" || fail "denied TLS: curl did not report the access_denied alert: $(cat "$T/curl.err")"
wait_for 5 grep -q "TCP_DENIED/403 .* CONNECT www\.blocked\.test:443 " "$T/access.log" \
	|| fail "denied TLS: no TCP_DENIED line: $(cat "$T/access.log")"
tls_check 10.200.2.2 4 "transparent TLS, not blocked"
ok "transparent listeners: dstdomain on Host (403) and on SNI (TLS access_denied alert, curl says so); others pass"
sluice_alive || fail "sluice (with rules) died"
stop_sluice
untrack "$SLUICE_PID"

# --- through a parent proxy ---------------------------------------------------------------------
# The gateway's sluice sends everything on to a parent (a second sluice in the
# gateway, on 127.0.0.1:3140): redirected HTTP in absolute form, redirected
# TLS as CONNECT SNI-name:443 (the parent resolves secure.test through a
# dnsmasq of its own in the gateway), or CONNECT address:443 without an SNI.
cat >"$T/gw2.hosts" <<HOSTS
10.200.2.2 secure.test
HOSTS
ip netns exec "$NS_G" dnsmasq --keep-in-foreground --user=root --port=5353 --listen-address=127.0.0.1 \
	--bind-interfaces --no-resolv --no-hosts --no-poll --addn-hosts="$T/gw2.hosts" --local=/test/ \
	--log-queries --log-facility="$T/gw2-dns.log" --pid-file="$T/gw2-dns.pid" 2>"$T/gw2-dns.err" &
PIDS+=($!)
wait_for 5 grep -q "started" "$T/gw2-dns.log" || fail "the parent's dnsmasq did not start: $(cat "$T/gw2-dns.err")"
cat >"$T/parent.conf" <<PCONF
listen 127.0.0.1:3140
workers 1
access_log $T/access-parent.log
error_log stderr
resolver 127.0.0.1:5353
via_name parent
connect_ports 443
acl gw src 127.0.0.1
http_access allow gw
PCONF
ip netns exec "$NS_G" "$SLUICE" -c "$T/parent.conf" 2>"$T/sluice-parent.err" &
PIDS+=($!)
wait_for 10 grep -q "listening on 127.0.0.1:3140" "$T/sluice-parent.err" || fail "parent did not start: $(cat "$T/sluice-parent.err")"
# (sluice checks a name the client gave against where it was going, with the
# same DNS: a name that leads elsewhere is replaced by the address)
{ cat "$T/sluice.conf"; echo "parent gw2 127.0.0.1:3140"; echo "route_default gw2"; echo "resolver 127.0.0.1:5353"; } \
	>"$T/via.conf"
: >"$T/sluice.err"
: >"$T/access.log"
ip netns exec "$NS_G" "$SLUICE" -c "$T/via.conf" 2>>"$T/sluice.err" &
SLUICE_PID=$!
PIDS+=("$SLUICE_PID")
wait_for 10 lines_ge 5 "listening on " "$T/sluice.err" || fail "sluice (via a parent) did not open its 5 listeners"

in_c curl -sS -m 10 -o "$T/echo" -w '%{http_code}' "http://10.200.2.2/echo" >"$T/code" 2>"$T/curl.err" \
	|| fail "transparent HTTP via the parent: $(cat "$T/curl.err")"
expect_eq "$(cat "$T/code")" 200 "transparent HTTP via the parent"
expect_eq "$(grep -i '^via:' "$T/echo" | tr -d '\r' | paste -sd' ')" "Via: 1.1 sluice Via: 1.1 parent" \
	"Via at the origin (both hops)"
wait_for 5 grep -q "GET http://10.200.2.2/echo - HIER_DIRECT/10.200.2.2" "$T/access-parent.log" ||
	fail "the parent did not get the request in absolute form: $(cat "$T/access-parent.log")"
access_log_has "GET http://10.200.2.2/echo - DEFAULT_PARENT/127.0.0.1 " ||
	fail "transparent HTTP via the parent not logged so: $(cat "$T/access.log")"
tls_check 10.200.2.2 4 "transparent TLS via the parent"
wait_for 10 grep -q "TCP_TUNNEL/200 .* CONNECT secure\.test:443 .*HIER_DIRECT/10.200.2.2" "$T/access-parent.log" ||
	fail "the parent was not asked for CONNECT secure.test:443: $(cat "$T/access-parent.log")"
wait_for 10 grep -q "TCP_TUNNEL/200 .* CONNECT secure\.test:443 - DEFAULT_PARENT/127.0.0.1 .*sni=secure\.test" "$T/access.log" ||
	fail "transparent TLS via the parent not logged so: $(cat "$T/access.log")"
in_c timeout 10 openssl s_client -connect 10.200.2.2:443 -noservername -CAfile "$T/cert.pem" </dev/null \
	>"$T/nosni.out" 2>&1
grep -q "CN = secure.test" "$T/nosni.out" || fail "TLS without SNI via the parent: $(tail -n 5 "$T/nosni.out")"
wait_for 10 grep -q "CONNECT 10.200.2.2:443 .*HIER_DIRECT/10.200.2.2" "$T/access-parent.log" ||
	fail "without SNI, the parent was not asked for the address: $(cat "$T/access-parent.log")"
# a name that leads where the client was going is what the parent gets
in_c curl -sS -m 10 -H 'Host: secure.test' -o /dev/null -w '%{http_code}' "http://10.200.2.2/echo" >"$T/code" \
	2>"$T/curl.err" || fail "Host: secure.test via the parent: $(cat "$T/curl.err")"
expect_eq "$(cat "$T/code")" 200 "Host: secure.test via the parent"
wait_for 5 grep -q "GET http://secure.test/echo - HIER_DIRECT/10.200.2.2" "$T/access-parent.log" ||
	fail "Host: secure.test: $(tail -n 2 "$T/access-parent.log")"
# a Host or SNI that leads elsewhere (or nowhere) cannot steer the parent: it gets the address
in_c curl -sS -m 10 -H 'Host: 127.0.0.1:9' -o /dev/null -w '%{http_code}' "http://10.200.2.2/echo?lie" >"$T/code" \
	2>"$T/curl.err" || fail "Host: 127.0.0.1:9 via the parent: $(cat "$T/curl.err")"
expect_eq "$(cat "$T/code")" 200 "Host: 127.0.0.1:9 via the parent"
wait_for 5 grep -q "GET http://10.200.2.2/echo?lie - HIER_DIRECT/10.200.2.2" "$T/access-parent.log" ||
	fail "Host: 127.0.0.1:9 steered the parent: $(tail -n 2 "$T/access-parent.log")"
by_address() { grep -c "CONNECT 10.200.2.2:443 .*HIER_DIRECT/10.200.2.2" "$T/access-parent.log"; }
n0=$(by_address)   # (the line of the connection without an SNI above is in: it was waited for)
more_by_address() { [ "$(by_address)" -gt "$n0" ]; }
in_c curl -sS -m 10 -k --resolve "elsewhere.test:443:10.200.2.2" -o /dev/null -w '%{http_code}' \
	https://elsewhere.test/ >"$T/code" 2>"$T/curl.err" || fail "SNI elsewhere.test via the parent: $(cat "$T/curl.err")"
wait_for 10 more_by_address || fail "SNI elsewhere.test: the parent was not given the address: $(cat "$T/access-parent.log")"
grep -q "elsewhere.test does not resolve to the original destination 10.200.2.2" "$T/sluice.err" ||
	fail "SNI elsewhere.test: not logged"
ok "through a parent: redirected HTTP in absolute form, TLS as CONNECT secure.test:443 (its SNI), or the address when the name does not lead there or there is none"
