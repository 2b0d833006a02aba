# 1 GiB each way through one CONNECT tunnel at the same time, every byte
# checked at both ends (tests/e2e/tunnelpeer: position-dependent streams,
# exact counts, EOF after the last byte); then 16 tunnels at once and a
# second round over the pipes the first one left in the worker pools.
. "$(dirname "$0")/lib.sh"

# client ARGS: "tunnelpeer client" through sluice; output in $T/client.out
client() {
	"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" "$@" >"$T/client.out" 2>&1
}

start_peer -o both -s 1G -r 1G -T 80
BIG_PORT=$PEER_PORT BIG_REPORT=$PEER_REPORT
start_peer -o both -s 8M -r 8M -T 60
MANY_PORT=$PEER_PORT MANY_REPORT=$PEER_REPORT
start_sluice "connect_ports $BIG_PORT $MANY_PORT"
pipes0=$(pipes)
rss0=$(rss_kb "$SLUICE_PID")

# --- one tunnel, 1 GiB each way ---------------------------------------------------------
t0=$(now_ms)
client -t "127.0.0.1:$BIG_PORT" -o both -s 1G -r 1G -T 80 \
	|| fail "1 GiB both ways: client: $(cat "$T/client.out")"
ms=$(($(now_ms) - t0))
grep -q "^done recv=1073741824 ok .* sent=1073741824 eof=1 OK" "$T/client.out" \
	|| fail "client did not get 1 GiB intact: $(cat "$T/client.out")"
wait_for 10 grep -q "^done conn=1 " "$BIG_REPORT" || fail "the sink did not finish: $(cat "$BIG_REPORT")"
grep -q "^done conn=1 recv=1073741824 ok .* sent=1073741824 eof=1 OK" "$BIG_REPORT" \
	|| fail "sink did not get 1 GiB intact: $(cat "$BIG_REPORT")"
# down counts the 39-byte "200 Connection established" head as well
access_log_has "TCP_TUNNEL/200 1073741863 CONNECT 127.0.0.1:$BIG_PORT .*tunnel up=1073741824 down=1073741863\"" \
	|| fail "no access log line with the byte counts: $(cat "$T/access.log")"
ok "1 GiB each way through one tunnel, byte for byte at both ends ($ms ms)"

# The splice path was used: its pipes went back to the per-worker pools.
[ "$(pipes)" -gt "$pipes0" ] || fail "sluice holds no pooled pipes after a tunnel ($(pipes) pipe fds, $pipes0 before)"
ok "pipes returned to the worker pools after the tunnel ($(( $(pipes) - pipes0 )) idle)"

# --- 16 tunnels at once, twice (the second round reuses pooled pipes) -------------------
for round in 1 2; do
	cpids=()
	for i in $(seq 16); do
		"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$MANY_PORT" -o both -s 8M -r 8M -E 300 -T 60 \
			>"$T/many.$round.$i" 2>&1 &
		cpids+=($!)
		PIDS+=($!)
	done
	for i in $(seq 16); do
		wait "${cpids[$((i - 1))]}" || fail "round $round tunnel $i: $(cat "$T/many.$round.$i")"
		untrack "${cpids[$((i - 1))]}"
	done
	wait_for 10 lines_ge $((16 * round)) "^done " "$MANY_REPORT" \
		|| fail "round $round: the sink finished $(grep -c '^done ' "$MANY_REPORT") connections"
done
bad=$(grep '^done ' "$MANY_REPORT" | grep -vc "recv=8388608 ok .* sent=8388608 eof=1 OK")
expect_eq "$bad" 0 "connections the sink saw damaged: $(grep '^done ' "$MANY_REPORT" | grep -v ' OK')"
wait_for 5 lines_ge 32 "TCP_TUNNEL/200 .*CONNECT 127.0.0.1:$MANY_PORT .*tunnel up=8388608 down=8388647\"" "$T/access.log" \
	|| fail "want 32 tunnel lines with exact counts: $(grep -c "CONNECT 127.0.0.1:$MANY_PORT" "$T/access.log") lines"
expect_eq "$(grep -c "CONNECT 127.0.0.1:$MANY_PORT" "$T/access.log")" 32 "access log lines for the 32 tunnels"
ok "32 tunnels (16 at a time) with 8 MiB each way, all intact, one log line each"

# Bytes move through the kernel (or bounded buffers): 1.25 GiB relayed must
# not show up in sluice's memory.
rss=$(rss_kb "$SLUICE_PID")
echo "# sluice RSS: $rss0 kB at start, $rss kB after the tunnels"
[ $((rss - rss0)) -lt 16384 ] || fail "sluice grew by $((rss - rss0)) kB relaying the tunnels"
ok "sluice's memory stayed flat ($rss0 -> $rss kB)"

sluice_alive || fail "sluice died"
