# HTTPS through sluice with real clients: curl to a local TLS server
# (openssl s_server, certificate made here, its port in connect_ports) by
# address and by a name sluice resolves through dnsmasq, plain https:// via
# the proxy and --proxytunnel; plain HTTP through a CONNECT tunnel
# (curl -p) reaches the origin untouched.  Each tunnel gets one TCP_TUNNEL
# access log line with "CONNECT host:port" and nonzero byte counts.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || skip "openssl missing"

# --- a certificate for secure.sluice.test and 127.0.0.1 -----------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-keyout "$T/key.pem" -out "$T/cert.pem" -subj "/CN=secure.sluice.test" \
	-addext "subjectAltName=DNS:secure.sluice.test,IP:127.0.0.1" >"$T/req.out" 2>&1 \
	|| fail "openssl req: $(cat "$T/req.out")"

# --- the TLS server: files from $T/www (-WWW), one connection at a time -------------------
mkdir -p "$T/www"
head -c 300000 /dev/urandom >"$T/www/data.bin"
(cd "$T/www" && exec openssl s_server -accept 127.0.0.1:0 -cert "$T/cert.pem" -key "$T/key.pem" -WWW \
	>"$T/tls.out" 2>"$T/tls.err") &
PIDS+=($!)
wait_for 10 grep -q "^ACCEPT" "$T/tls.out" || fail "openssl s_server did not start: $(cat "$T/tls.err")"
TLS_PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/tls.out")
[ -n "$TLS_PORT" ] || fail "no port in s_server's output: $(cat "$T/tls.out")"

echo "127.0.0.1 secure.sluice.test" >"$T/hosts"
start_dnsmasq "$T/hosts" 60
start_origin
start_sluice "resolver 127.0.0.1:$DNS_PORT" "connect_ports $TLS_PORT $ORIGIN_PORT"

tunnel_lines() {
	wait_for 10 lines_ge "$2" "TCP_TUNNEL/200 .* CONNECT $1 .*tunnel up=[1-9][0-9]* down=[1-9][0-9]*\"$" "$T/access.log" ||
		fail "want $2 TCP_TUNNEL/200 lines for CONNECT $1 with nonzero counts: $(cat "$T/access.log")"
}

# --- https:// by address, through the proxy and with --proxytunnel ------------------------
for p in "" "-p"; do
	code=$(curl -s -S $p --cacert "$T/cert.pem" -m 20 -x "$PROXY" -o "$T/got" -w '%{http_connect} %{http_code}' \
		"https://127.0.0.1:$TLS_PORT/data.bin" 2>"$T/curl.err") || fail "curl $p https://127.0.0.1: $(cat "$T/curl.err")"
	expect_eq "$code" "200 200" "curl $p https://127.0.0.1:$TLS_PORT: CONNECT and GET status"
	cmp -s "$T/got" "$T/www/data.bin" || fail "curl $p https://127.0.0.1: body differs"
done
tunnel_lines "127.0.0.1:$TLS_PORT" 2
ok "curl https://127.0.0.1:$TLS_PORT through sluice (plain and -p): certificate verified, 300000 bytes intact"

# --- https:// by name: sluice resolves it ----------------------------------------------------
for p in "" "-p"; do
	code=$(curl -s -S $p --cacert "$T/cert.pem" -m 20 -x "$PROXY" -o "$T/got" -w '%{http_connect} %{http_code}' \
		"https://secure.sluice.test:$TLS_PORT/data.bin" 2>"$T/curl.err") \
		|| fail "curl $p https://secure.sluice.test: $(cat "$T/curl.err")"
	expect_eq "$code" "200 200" "curl $p https://secure.sluice.test:$TLS_PORT: CONNECT and GET status"
	cmp -s "$T/got" "$T/www/data.bin" || fail "curl $p https://secure.sluice.test: body differs"
done
grep -q "query\[A\] secure.sluice.test" "$DNS_LOG" || fail "sluice did not ask dnsmasq for secure.sluice.test"
tunnel_lines "secure.sluice.test:$TLS_PORT" 2
ok "curl https://secure.sluice.test:$TLS_PORT: the name resolved by sluice, the certificate matches it"

# --- plain HTTP through a CONNECT tunnel reaches the origin as sent ------------------------
code=$(curl -s -p -m 20 -x "$PROXY" -o "$T/got" -w '%{http_connect} %{http_code}' \
	"http://127.0.0.1:$ORIGIN_PORT/bytes/70000") || fail "curl -p http:// through the tunnel failed"
expect_eq "$code" "200 200" "curl -p http://127.0.0.1:$ORIGIN_PORT: CONNECT and GET status"
"$ORIGIN_BIN" --gen 70000 | cmp -s - "$T/got" || fail "curl -p http://: body differs"
curl -s -p -m 20 -x "$PROXY" -H "X-Probe: tunnelled" -D "$T/h" -o "$T/echo" "http://127.0.0.1:$ORIGIN_PORT/echo" \
	|| fail "curl -p /echo failed"
grep -q "^X-Probe: tunnelled" "$T/echo" || fail "the origin did not get the client's header: $(cat "$T/echo")"
grep -qi "^via:" "$T/echo" && fail "a tunnelled request was rewritten (Via added): $(cat "$T/echo")"
grep -qi "^via:" "$T/h" && fail "a tunnelled response was rewritten (Via added): $(cat "$T/h")"
tunnel_lines "127.0.0.1:$ORIGIN_PORT" 2
ok "plain HTTP through a CONNECT tunnel (curl -p) goes through unrewritten"

# --- exactly one line per tunnel ---------------------------------------------------------------
stop_sluice
untrack "$SLUICE_PID"
expect_eq "$(grep -c " CONNECT " "$T/access.log")" 6 "CONNECT lines in the access log (one per curl)"
expect_eq "$(grep -c "TCP_TUNNEL/200 " "$T/access.log")" 6 "TCP_TUNNEL/200 lines in the access log"
ok "one TCP_TUNNEL/200 line per tunnel, with bytes each way"
