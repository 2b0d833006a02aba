# CONNECT refusals and failures: a port outside connect_ports gets 403 with
# a body naming the cause (and no connection to the origin); the default
# policy is 443 only; malformed authority-form targets get 400; an
# unresolvable name (dnsmasq NXDOMAIN), a refused port and a silent one
# get 502/502/504 -- and never a "200 Connection established" before them:
# the 200 goes out only once the origin has accepted (and a name whose
# first address refuses is served by the next one, with a single 200).
# Clients that give up halfway leave no socket behind.
. "$(dirname "$0")/lib.sh"

# connect_to TARGET: a raw CONNECT; prints everything sluice sends until it
# closes (bounded); the exit status says whether it closed in time.
connect_to() {
	printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$1" "$1" | raw "$SLUICE_PORT" 10
}
# refused_with FILE STATUS TEXT WHAT: FILE holds one local reply with STATUS
# and TEXT in its body, and nothing that looks like a tunnel.
refused_with() {
	expect_eq "$(status_of "$1")" "HTTP/1.1 $2" "$4: status line"
	body_of "$1" | grep -q -- "$3" || fail "$4: body does not say \"$3\": $(body_of "$1")"
	grep -a -q "200 Connection established" "$1" && fail "$4: a 200 came with the error: $(cat "$1")"
	expect_eq "$(grep -a -c '^HTTP/' "$1")" 1 "$4: status lines in the answer"
}

# An origin that must never be reached, on a port not in connect_ports.
[ -x "$BUILD/tunnelpeer" ] || fail "$BUILD/tunnelpeer missing: make $BUILD/tunnelpeer"
"$BUILD/tunnelpeer" serve -f "$T/peer.port" -R "$T/peer.report" -e 2>"$T/peer.err" &
PIDS+=($!)
wait_for 5 test -s "$T/peer.port" || fail "tunnelpeer did not start: $(cat "$T/peer.err")"
: >>"$T/peer.report"
NOT_ALLOWED=$(cat "$T/peer.port")

# An echo server on an allowed port.
"$BUILD/tunnelpeer" serve -f "$T/echo.port" -R "$T/echo.report" -e 2>"$T/echo.err" &
PIDS+=($!)
wait_for 5 test -s "$T/echo.port" || fail "tunnelpeer did not start: $(cat "$T/echo.err")"
ECHO=$(cat "$T/echo.port")

# A port where nothing listens: bind, note the number, close.
closed_port
DEAD=$CLOSED_PORT

# A port that never completes a handshake: a listener that never accepts,
# its accept queue filled (the kernel then drops further SYNs).
silent_listener
HOLE=$SILENT_PORT

{
	echo "127.0.0.1 dead.sluice.test"
	# dnsmasq answers a name's first query in file order: the refusing
	# address comes first
	echo "127.0.0.2 multi.sluice.test"
	echo "127.0.0.1 multi.sluice.test"
} >"$T/hosts"
start_dnsmasq "$T/hosts" 60

# --- the default policy: 443 and 80 (browsers' ws://) ------------------------------------------
start_sluice "resolver 127.0.0.1:$DNS_PORT"
connect_to "127.0.0.1:8443" >"$T/r" || fail "sluice did not close after refusing port 8443"
refused_with "$T/r" "403 Forbidden" "not allowed" "CONNECT to 8443 with the default connect_ports"
for port in 443 80; do
	connect_to "127.0.0.1:$port" >"$T/r"
	case $(status_of "$T/r") in
	"HTTP/1.1 403"*) fail "CONNECT to $port refused by the default policy: $(cat "$T/r")" ;;
	"") fail "no answer to CONNECT 127.0.0.1:$port" ;;
	esac
done
ok "default connect_ports: 8443 gets 403, 443 and 80 are allowed ($(status_of "$T/r"))"
stop_sluice
untrack "$SLUICE_PID"

start_sluice "resolver 127.0.0.1:$DNS_PORT" "connect_ports 443 $DEAD $HOLE $ECHO" "connect_timeout 1s"
sockets() { find "/proc/$SLUICE_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
sockets0=$(sockets)

# --- port not allowed ---------------------------------------------------------------------
connect_to "127.0.0.1:$NOT_ALLOWED" >"$T/r" || fail "sluice did not close after a 403"
refused_with "$T/r" "403 Forbidden" "CONNECT to this port is not allowed" "CONNECT to a port not in connect_ports"
# the same with data behind the head (a ClientHello): still refused, and not relayed
printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' "$NOT_ALLOWED" |
	raw "$SLUICE_PORT" 10 >"$T/r" || fail "sluice did not close after a 403 (data behind the head)"
refused_with "$T/r" "403 Forbidden" "not allowed" "CONNECT with data behind the head to a port not allowed"
code=$(curl -s -o /dev/null -w '%{http_connect}' -m 10 -p -x "$PROXY" "http://127.0.0.1:$NOT_ALLOWED/")
expect_eq "$code" 403 "curl --proxytunnel to a port not allowed: CONNECT status"
grep -q "^conn " "$T/peer.report" && fail "sluice connected to a port it refused: $(cat "$T/peer.report")"
access_log_has "TCP_DENIED/403 .* CONNECT 127.0.0.1:$NOT_ALLOWED .*not allowed" \
	|| fail "access log for the 403: $(cat "$T/access.log")"
ok "port not in connect_ports: 403 naming the cause, the origin never contacted"

# --- malformed targets ----------------------------------------------------------------------
for target in "127.0.0.1" "127.0.0.1:" ":443" "127.0.0.1:0" "127.0.0.1:65536" "127.0.0.1:44x3" \
	"http://127.0.0.1:443/" "127.0.0.1:443/x" "user@127.0.0.1:443" "[::1]" "[::1]443" "[zz]:443"; do
	connect_to "$target" >"$T/r" || fail "sluice did not close after CONNECT $target"
	expect_eq "$(status_of "$T/r")" "HTTP/1.1 400 Bad Request" "CONNECT $target"
	grep -a -q "200 Connection established" "$T/r" && fail "CONNECT $target: a 200 came with the 400"
done
ok "malformed CONNECT targets get 400"

# --- unresolvable name ----------------------------------------------------------------------
connect_to "nosuch.sluice.test:443" >"$T/r" || fail "sluice did not close after a DNS failure"
refused_with "$T/r" "502 Bad Gateway" "DNS name not found" "CONNECT to a name with no address"
grep -q "query\[A\] nosuch.sluice.test" "$DNS_LOG" || fail "the name was not asked of the resolver"
access_log_has "TAG_NONE/502 .* CONNECT nosuch.sluice.test:443 " || fail "access log for the NXDOMAIN: $(cat "$T/access.log")"
ok "unresolvable name: 502 and no 200 before it"

# --- refused port ---------------------------------------------------------------------------
connect_to "127.0.0.1:$DEAD" >"$T/r" || fail "sluice did not close after a refused connect"
refused_with "$T/r" "502 Bad Gateway" "refused" "CONNECT to a port where nothing listens"
connect_to "dead.sluice.test:$DEAD" >"$T/r" || fail "sluice did not close after a refused connect (by name)"
refused_with "$T/r" "502 Bad Gateway" "refused" "CONNECT by name to a port where nothing listens"
code=$(curl -s -o /dev/null -w '%{http_connect}' -m 10 -x "$PROXY" "https://127.0.0.1:$DEAD/")
expect_eq "$code" 502 "curl https:// to a refused port: CONNECT status"
ok "refused port (allowed by connect_ports): 502 and no 200 before it"

# --- silent port: the 200 waits for the handshake, which never comes ------------------------
t0=$(now_ms)
connect_to "127.0.0.1:$HOLE" >"$T/r" || fail "sluice did not close after a connect timeout"
ms=$(($(now_ms) - t0))
refused_with "$T/r" "504 Gateway Timeout" "connect timed out" "CONNECT to a port that never answers"
[ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ] || fail "504 after $ms ms, want about connect_timeout (1 s)"
ok "silent port: no 200 while the connect hangs, 504 after connect_timeout ($ms ms)"

# --- the first address refuses, the second serves: one 200 -------------------------------
# halfclose PORT: send stdin, shut the write side, print all that comes back
halfclose() {
	timeout 10 perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or die "connect: $!";
		local $/; my $req = <STDIN>; print $s $req; shutdown($s, 1);
		binmode STDOUT; my $buf; print $buf while sysread($s, $buf, 65536);' "$1"
}
printf 'CONNECT multi.sluice.test:%s HTTP/1.1\r\nHost: x\r\n\r\nhello through' "$ECHO" | halfclose "$SLUICE_PORT" >"$T/r" \
	|| fail "CONNECT to a name whose first address refuses: the client did not finish"
printf 'HTTP/1.1 200 Connection established\r\n\r\nhello through' >"$T/want"
expect_file "$T/r" "$T/want" "CONNECT to a name whose first address refuses"
access_log_has "TCP_TUNNEL/200 .* CONNECT multi.sluice.test:$ECHO - HIER_DIRECT/127.0.0.1 " \
	|| fail "access log for the fallback: $(grep multi "$T/access.log")"
ok "first address refused, the next one used: one 200, bytes relayed"

# --- clients that give up halfway leave nothing behind ---------------------------------
for i in $(seq 10); do
	# gone before the connect completes (the silent port), and right after the head
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SLUICE_PORT && printf 'CONNECT 127.0.0.1:$HOLE HTTP/1.1\r\n\r\n' >&3" 2>/dev/null
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SLUICE_PORT && printf 'CONNECT 127.0.0.1:$ECHO HTTP/1.1\r\n\r\nbye' >&3" 2>/dev/null
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SLUICE_PORT && printf 'CONNECT nosuch.sluice.test:443 HTTP/1.1\r\n\r\n' >&3" 2>/dev/null
done
back_to_baseline() { [ "$(sockets)" -le "$sockets0" ]; }
wait_for 10 back_to_baseline || fail "sluice holds $(sockets) sockets after 30 abandoned CONNECTs ($sockets0 before)"
ok "30 CONNECTs abandoned before or right after the 200: every socket closed within connect_timeout"

sluice_alive || fail "sluice died"
