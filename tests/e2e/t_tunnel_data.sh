# CONNECT tunnels, byte level (tests/e2e/tunnelpeer at both ends, every
# byte checked at its offset): bytes sent in the same write as the CONNECT
# head reach the origin first and intact; half-close either way (the side
# that ended still gets everything the other sends, the other sees EOF, and
# the tunnel ends, logged once with its byte counts, when both have ended);
# a client that shuts its write side before the 200; 100 MiB each way at
# once; an upgraded (101) connection; a CONNECT pipelined behind a GET on
# the same connection; HTTP/1.0 CONNECT; an [::1] target; a reset closes
# the tunnel at once.
#
# TUNNEL_SPLICE=off runs the same checks over the recv/send fallback
# (t_tunnel_copy.sh does), and then sluice must not have made a pipe.
. "$(dirname "$0")/lib.sh"

SPLICE=${TUNNEL_SPLICE:-on}
# client ARGS: "tunnelpeer client" through sluice; output in $T/client.out
client() {
	"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" "$@" >"$T/client.out" 2>&1
}
# peer_done REPORT N: wait for connection N's "done" line, print it
peer_done() {
	wait_for 10 grep -q "^done conn=$2 " "$1" || fail "tunnelpeer connection $2 did not finish: $(cat "$1")"
	grep "^done conn=$2 " "$1"
}
# tunnel_logged PORT COUNTS WHAT: wait for the access log line of a tunnel to
# 127.0.0.1:PORT ending in COUNTS (workers flush their lines independently,
# so lines are found by content, not by order)
tunnel_logged() {
	access_log_has "TCP_TUNNEL/200 .* CONNECT 127.0.0.1:$1 .*$2\"\$" ||
		fail "$3: no access log line for CONNECT 127.0.0.1:$1 with $2: $(grep -- ":$1 " "$T/access.log")"
}
OK200=39 # "HTTP/1.1 200 Connection established\r\n\r\n", counted as down

start_peer -o both -s 0 -r -1           # A: takes what comes; sends nothing
A_PORT=$PEER_PORT A_REP=$PEER_REPORT
start_peer -o recv -s 300000 -r -1 -d 1200  # B: answers only after the client's EOF
B_PORT=$PEER_PORT B_REP=$PEER_REPORT
start_peer -o send -s 300000 -r -1      # C: sends and shuts first, then reads to EOF
C_PORT=$PEER_PORT C_REP=$PEER_REPORT
start_peer -K 1000                      # D: resets after 1000 bytes
D_PORT=$PEER_PORT D_REP=$PEER_REPORT
start_peer -o both -s 100M -r 100M      # E: 100 MiB each way
E_PORT=$PEER_PORT E_REP=$PEER_REPORT
start_peer -H -G 1000 -o both -s 10M -r 10M  # F: answers 101 (+1000 bytes), 10 MiB each way
F_PORT=$PEER_PORT F_REP=$PEER_REPORT
start_peer -e                           # G: echoes
G_PORT=$PEER_PORT
start_origin
start_sluice "connect_ports $A_PORT $B_PORT $C_PORT $D_PORT $E_PORT $G_PORT 443" "tunnel_splice $SPLICE"
pipes0=$(pipes)
rss0=$(rss_kb "$SLUICE_PID")

# --- data in the same write as the CONNECT head -------------------------------------
n=0
for early in 5 517 16000 1048576; do
	n=$((n + 1))
	client -t "127.0.0.1:$A_PORT" -o send -E "$early" -s "$early" -r 0 \
		|| fail "$early bytes behind the head: client: $(cat "$T/client.out")"
	line=$(peer_done "$A_REP" $n)
	case $line in
	*" recv=$early ok "*" OK") ;;
	*) fail "$early bytes behind the head: the origin got: $line" ;;
	esac
done
n=$((n + 1))
# and the rest of a stream after the early bytes, in order
client -t "127.0.0.1:$A_PORT" -o send -E 517 -s 2M -r 0 || fail "517 early bytes then 2 MiB: $(cat "$T/client.out")"
case $(peer_done "$A_REP" $n) in
*" recv=2097152 ok "*" OK") ;;
*) fail "517 early bytes then 2 MiB: the origin got: $(grep "^done conn=$n " "$A_REP")" ;;
esac
tunnel_logged "$A_PORT" "tunnel up=517 down=$OK200" "517 bytes behind the head"
ok "bytes in the same write as the CONNECT head reach the origin first and intact (5, 517, 16000, 1 MiB; 517 + 2 MiB)"

# --- the client half-closes first --------------------------------------------------------
# B reads to EOF, waits 1.2 s (over an access-log flush), then answers 300000
# bytes: a tunnel torn down at the client's EOF would lose them.
client -t "127.0.0.1:$B_PORT" -o send -E 100 -s 100000 -r 300000 \
	|| fail "client half-close: client: $(cat "$T/client.out")"
grep -q "^done recv=300000 ok .* sent=100000 eof=1 OK" "$T/client.out" \
	|| fail "client half-close: client got: $(cat "$T/client.out")"
grep -q "^eof conn=1 recv=100000$" "$B_REP" || fail "the origin did not see the client's EOF: $(cat "$B_REP")"
case $(peer_done "$B_REP" 1) in
*" recv=100000 ok "*" sent=300000 eof=1 OK") ;;
*) fail "client half-close: origin: $(cat "$B_REP")" ;;
esac
tunnel_logged "$B_PORT" "tunnel up=100000 down=$((300000 + OK200))" "client half-close"
# the line also says how long the tunnel lasted: B waited 1.2 s before answering
elapsed=$(grep "CONNECT 127.0.0.1:$B_PORT .*tunnel up=100000 " "$T/access.log" | awk '{ print $2 }')
[ "$elapsed" -ge 1200 ] && [ "$elapsed" -lt 10000 ] || fail "client half-close: logged duration $elapsed ms, want >= 1200"
ok "client shuts its write side: the origin sees EOF, the client still gets all 300000 bytes, one log line"

# --- the origin half-closes first --------------------------------------------------------
client -t "127.0.0.1:$C_PORT" -o recv -d 300 -s 200000 -r 300000 \
	|| fail "origin half-close: client: $(cat "$T/client.out")"
grep -q "^done recv=300000 ok .* sent=200000 eof=1 OK" "$T/client.out" \
	|| fail "origin half-close: client got: $(cat "$T/client.out")"
case $(peer_done "$C_REP" 1) in
*" recv=200000 ok "*" sent=300000 eof=1 OK") ;;
*) fail "origin half-close: origin: $(cat "$C_REP")" ;;
esac
tunnel_logged "$C_PORT" "tunnel up=200000 down=$((300000 + OK200))" "origin half-close"
ok "origin shuts its write side: the client sees EOF, the origin still gets all 200000 bytes"

# --- the client ends its side before the 200 arrives ----------------------------------
client -t "127.0.0.1:$B_PORT" -o send -E 517 -s 517 -X -r 300000 \
	|| fail "shut before the 200: client: $(cat "$T/client.out")"
case $(peer_done "$B_REP" 2) in
*" recv=517 ok "*" sent=300000 eof=1 OK") ;;
*) fail "shut before the 200: origin: $(cat "$B_REP")" ;;
esac
ok "CONNECT + 517 bytes + shutdown in one go: the bytes, the EOF and the answer all pass"

# --- 100 MiB each way at once ---------------------------------------------------------------
client -t "127.0.0.1:$E_PORT" -o both -E 517 -s 100M -r 100M || fail "100 MiB each way: client: $(cat "$T/client.out")"
grep -q "^done recv=104857600 ok .* sent=104857600 eof=1 OK" "$T/client.out" \
	|| fail "100 MiB each way: client got: $(cat "$T/client.out")"
case $(peer_done "$E_REP" 1) in
*" recv=104857600 ok "*" sent=104857600 eof=1 OK") ;;
*) fail "100 MiB each way: origin: $(cat "$E_REP")" ;;
esac
tunnel_logged "$E_PORT" "tunnel up=104857600 down=$((104857600 + OK200))" "100 MiB each way"
rss=$(rss_kb "$SLUICE_PID")
[ $((rss - rss0)) -lt 16384 ] || fail "sluice grew by $((rss - rss0)) kB relaying 200 MiB"
ok "100 MiB each way at once through one tunnel, intact at both ends (sluice RSS $rss0 -> $rss kB)"

# --- an upgraded connection: the same relay ----------------------------------------------
client -t "127.0.0.1:$F_PORT" -u -o both -s 10M -r 10M || fail "upgraded connection: client: $(cat "$T/client.out")"
grep -q "^done recv=10485760 ok .* sent=10485760 eof=1 OK" "$T/client.out" \
	|| fail "upgraded connection: client got: $(cat "$T/client.out")"
case $(peer_done "$F_REP" 1) in
*" recv=10485760 ok "*" sent=10485760 eof=1 OK") ;;
*) fail "upgraded connection: origin: $(cat "$F_REP")" ;;
esac
ok "101 with 1000 bytes behind it, then 10 MiB each way through the upgraded connection, intact"

if [ "$SPLICE" = off ]; then
	expect_eq "$(pipes)" "$pipes0" "pipe fds in sluice with tunnel_splice off (before the tunnels: $pipes0)"
	ok "tunnel_splice off: no pipe was made, the bytes went through recv/send"
fi

# --- a CONNECT pipelined behind a GET on one connection --------------------------------
{
	printf 'GET http://127.0.0.1:%s/bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n' "$ORIGIN_PORT"
	printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: x\r\n\r\nping-pong' "$G_PORT"
} | timeout 10 perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or die "connect: $!";
	local $/; my $req = <STDIN>; print $s $req; shutdown($s, 1);
	binmode STDOUT; my $buf; print $buf while sysread($s, $buf, 65536);' "$SLUICE_PORT" >"$T/pipelined" \
	|| fail "GET then CONNECT on one connection: the client did not finish"
expect_eq "$(grep -a -c '^HTTP/1.1 200 OK' "$T/pipelined")" 1 "GET then CONNECT: the GET's answer"
perl -0777 -ne 'exit(/abcdefghijHTTP\/1\.1 200 Connection established\r\n\r\nping-pong\z/ ? 0 : 1)' "$T/pipelined" \
	|| fail "GET then CONNECT: want the GET's body, the 200 and the echoed bytes: $(od -c "$T/pipelined" | tail -5)"
tunnel_logged "$G_PORT" "tunnel up=9 down=$((9 + OK200))" "GET then CONNECT"
ok "a CONNECT pipelined behind a GET (with data behind its head) becomes a tunnel after the GET's answer"

# HTTP/1.0 clients use CONNECT too
printf 'CONNECT 127.0.0.1:%s HTTP/1.0\r\n\r\nold client' "$G_PORT" | timeout 10 perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or die "connect: $!";
	local $/; my $req = <STDIN>; print $s $req; shutdown($s, 1);
	binmode STDOUT; my $buf; print $buf while sysread($s, $buf, 65536);' "$SLUICE_PORT" >"$T/old" \
	|| fail "HTTP/1.0 CONNECT: the client did not finish"
printf 'HTTP/1.1 200 Connection established\r\n\r\nold client' >"$T/want"
expect_file "$T/old" "$T/want" "HTTP/1.0 CONNECT"
ok "an HTTP/1.0 CONNECT is tunnelled too"

# --- an IPv6 literal target ---------------------------------------------------------------
"$BUILD/tunnelpeer" serve -l ::1 -f "$T/p6.port" -R "$T/p6.report" -o both -s 1M -r 1M 2>"$T/p6.err" &
PIDS+=($!)
if wait_for 5 test -s "$T/p6.port"; then
	P6=$(cat "$T/p6.port")
	stop_sluice
	untrack "$SLUICE_PID"
	start_sluice "connect_ports $P6" "tunnel_splice $SPLICE"
	client -t "[::1]:$P6" -o both -E 517 -s 1M -r 1M || fail "[::1]: client: $(cat "$T/client.out")"
	case $(peer_done "$T/p6.report" 1) in
	*" recv=1048576 ok "*" OK") ;;
	*) fail "[::1]: origin: $(cat "$T/p6.report")" ;;
	esac
	access_log_has "TCP_TUNNEL/200 .* CONNECT \[::1\]:$P6 .*HIER_DIRECT/::1 .*tunnel up=1048576 down=$((1048576 + OK200))\"" \
		|| fail "[::1]: access log: $(grep -F "[::1]" "$T/access.log")"
	ok "CONNECT [::1]:port relays 1 MiB each way"
	stop_sluice
	untrack "$SLUICE_PID"
	start_sluice "connect_ports $A_PORT $B_PORT $C_PORT $D_PORT $E_PORT $G_PORT 443" "tunnel_splice $SPLICE"
else
	echo "# no IPv6 loopback ($(cat "$T/p6.err")): [::1] part skipped"
fi

# --- a reset ends the tunnel at once ---------------------------------------------------
t0=$(now_ms)
client -t "127.0.0.1:$D_PORT" -o both -s 64M -r -1 -T 20 && fail "a reset tunnel looked complete: $(cat "$T/client.out")"
ms=$(($(now_ms) - t0))
grep -q "timed out" "$T/client.out" && fail "the client was left hanging after the origin's reset: $(cat "$T/client.out")"
[ "$ms" -lt 10000 ] || fail "the client saw the reset after $ms ms"
case $(peer_done "$D_REP" 1) in
*" OK") ;;
*) fail "reset: origin: $(cat "$D_REP")" ;;
esac
wait_for 5 grep -q "CONNECT 127.0.0.1:$D_PORT .*tunnel up=[0-9]* down=[0-9]*: tunnel connection reset\"" "$T/access.log" \
	|| fail "reset: access log: $(grep "CONNECT 127.0.0.1:$D_PORT" "$T/access.log")"
ok "an origin reset closes the tunnel ($ms ms) and is logged as one"

sluice_alive || fail "sluice died"
# one line per tunnel, whatever the way it ended
stop_sluice
untrack "$SLUICE_PID"
expect_eq "$(grep -c " CONNECT 127.0.0.1:$A_PORT " "$T/access.log")" 5 "access log lines for A's tunnels"
expect_eq "$(grep -c " CONNECT 127.0.0.1:$B_PORT " "$T/access.log")" 2 "access log lines for B's tunnels"
expect_eq "$(grep -c " CONNECT 127.0.0.1:$C_PORT " "$T/access.log")" 1 "access log lines for C's tunnel"
expect_eq "$(grep -c " CONNECT 127.0.0.1:$D_PORT " "$T/access.log")" 1 "access log lines for D's tunnel"
expect_eq "$(grep -c " CONNECT 127.0.0.1:$E_PORT " "$T/access.log")" 1 "access log lines for E's tunnel"
ok "one access log line per tunnel"
