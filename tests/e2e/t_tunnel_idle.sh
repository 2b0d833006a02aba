# tunnel_idle_timeout: a tunnel silent both ways is closed (client and
# origin both see the end, the log says why) within a bounded time after
# the timeout; traffic in either direction keeps it open past the timeout;
# an upgraded (101) connection gets the same treatment.  And tunnels count
# against max_connections.
. "$(dirname "$0")/lib.sh"

# closed_in OUT LO HI WHAT: the client's "closed after N ms" is within [LO, HI]
closed_in() {
	local ms
	ms=$(sed -n 's/^closed after \([0-9]*\) ms$/\1/p' "$1")
	[ -n "$ms" ] || fail "$4: $(cat "$1")"
	[ "$ms" -ge "$2" ] && [ "$ms" -le "$3" ] || fail "$4: closed after $ms ms, want $2..$3"
	echo "$ms"
}

start_peer -o recv -s 0 -r 0        # silent: waits for the end of the tunnel
SILENT_PORT=$PEER_PORT SILENT_REP=$PEER_REPORT
start_peer -e                       # echoes
ECHO_PORT=$PEER_PORT ECHO_REP=$PEER_REPORT
start_peer -H -o recv -s 0 -r 0     # answers 101, then silent
UP_PORT=$PEER_PORT UP_REP=$PEER_REPORT
start_sluice "connect_ports $SILENT_PORT $ECHO_PORT" "tunnel_idle_timeout 1s"

# --- a silent tunnel is closed ---------------------------------------------------------------
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$SILENT_PORT" -I 8000 >"$T/c1" 2>&1 \
	|| fail "idle tunnel: $(cat "$T/c1")"
ms=$(closed_in "$T/c1" 800 3500 "idle tunnel")
wait_for 5 grep -q "^done conn=1 recv=0 ok .* eof=1 OK" "$SILENT_REP" \
	|| fail "the origin did not see the idle tunnel end: $(cat "$SILENT_REP")"
access_log_has "TCP_TUNNEL/200 .* CONNECT 127.0.0.1:$SILENT_PORT .*tunnel up=0 down=39: tunnel idle timeout\"" \
	|| fail "access log for the idle tunnel: $(cat "$T/access.log")"
ok "tunnel silent both ways closed $ms ms after the 200 (tunnel_idle_timeout 1s), origin saw EOF, logged"

# --- traffic keeps a tunnel open, silence then ends it -------------------------------------
# 8 round trips 400 ms apart: 3.2 s of activity, never 1 s of silence.
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$ECHO_PORT" -P 8:400 -I 8000 >"$T/c2" 2>&1 \
	|| fail "busy tunnel: $(cat "$T/c2")"
grep -q "^pings: 8 echoed" "$T/c2" || fail "busy tunnel closed while in use: $(cat "$T/c2")"
ms=$(closed_in "$T/c2" 400 3500 "busy tunnel, then silent")
access_log_has "CONNECT 127.0.0.1:$ECHO_PORT .*tunnel up=8 down=47: tunnel idle timeout\"" \
	|| fail "access log for the busy tunnel: $(cat "$T/access.log")"
ok "a tunnel in use for 3.2 s stays open; once silent it is closed ($ms ms into the silence after a 400 ms pause)"

# --- the same for an upgraded connection ---------------------------------------------------
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$UP_PORT" -u -I 8000 >"$T/c3" 2>&1 \
	|| fail "idle upgraded connection: $(cat "$T/c3")"
ms=$(closed_in "$T/c3" 800 3500 "idle upgraded connection")
wait_for 5 grep -q "^done conn=1 recv=0 ok .* eof=1 OK" "$UP_REP" \
	|| fail "the origin did not see the idle upgraded connection end: $(cat "$UP_REP")"
access_log_has "TCP_TUNNEL/101 .*tunnel idle timeout\"" || fail "access log for the idle upgrade: $(cat "$T/access.log")"
ok "an idle upgraded connection is closed too ($ms ms)"

sluice_alive || fail "sluice died"

# --- tunnels count against max_connections -------------------------------------------------
stop_sluice
untrack "$SLUICE_PID"
start_sluice "connect_ports $ECHO_PORT" "max_connections 2"
# held CLIENT_OUT: a tunnel held open (idle) in the background; sets HELD_PID
held() {
	"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$ECHO_PORT" -I 60000 -T 70 >"$1" 2>&1 &
	HELD_PID=$!
	PIDS+=("$HELD_PID")
}
held "$T/h1"
H1=$HELD_PID
wait_for 5 grep -q "^status: HTTP/1.1 200" "$T/h1" || fail "first held tunnel: $(cat "$T/h1")"
held "$T/h2"
wait_for 5 grep -q "^status: HTTP/1.1 200" "$T/h2" || fail "second held tunnel: $(cat "$T/h2")"
held "$T/h3"
# the subject: 2 s in which the third must stay unanswered
wait_for 2 grep -q "^status:" "$T/h3" && fail "a third tunnel was opened with two held (max_connections 2): $(cat "$T/h3")"
kill "$H1"
wait "$H1" 2>/dev/null
untrack "$H1"
wait_for 5 grep -q "^status: HTTP/1.1 200" "$T/h3" || fail "the third tunnel was not served once one closed: $(cat "$T/h3")"
ok "two open tunnels fill max_connections 2; the third is served once one closes"
