#!/usr/bin/env bash
# Tunnel throughput and idle-tunnel memory: sluice's CONNECT relay against
# the same transfer straight to the sink and through HAProxy in TCP mode
# with splice, interleaved in rounds; medians.
#   bench/tunnel.sh [ROUNDS] [BYTES_ONE_STREAM] [IDLE_TUNNELS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3} BYTES=${2:-4294967296} IDLE=${3:-2000}
RUN=$(mktemp -d /tmp/sluice-bench.XXXXXX)
PIDS=()
cleanup() { set +e; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$RUN"; }
trap cleanup EXIT
trap "exit 143" TERM INT
ulimit -n "$(ulimit -Hn)"
make -s build/sluice
cc -std=gnu11 -O2 -Wall -Wextra -pthread -o "$RUN/tcpbench" bench/tcpbench.c
TB="$RUN/tcpbench"

"$TB" sink "$RUN/sink.port" & PIDS+=($!)
for _ in $(seq 100); do [ -s "$RUN/sink.port" ] && break; sleep 0.05; done
SINK=127.0.0.1:$(cat "$RUN/sink.port")

printf 'listen 127.0.0.1:0\naccess_log off\nconnect_ports %s\n' "${SINK#*:}" >"$RUN/sluice.conf"
build/sluice -c "$RUN/sluice.conf" 2>"$RUN/sluice.err" & SLUICE_PID=$!; PIDS+=($SLUICE_PID)
for _ in $(seq 100); do grep -q "listening on" "$RUN/sluice.err" && break; sleep 0.05; done
SLUICE=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$RUN/sluice.err" | head -n1)

# HAProxy cannot report a kernel-chosen port: try a few random ones.
for _ in 1 2 3 4 5; do
	HAPORT=$(( 40000 + RANDOM % 10000 ))
	sed -e "s#@LISTEN@#127.0.0.1:$HAPORT#" -e "s#@TARGET@#$SINK#" bench/haproxy-tcp.cfg >"$RUN/haproxy.cfg"
	haproxy -f "$RUN/haproxy.cfg" -db 2>"$RUN/haproxy.err" & HAPID=$!
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/$HAPORT) 2>/dev/null && break
		kill -0 "$HAPID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$HAPID" 2>/dev/null && { PIDS+=($HAPID); break; }
done
(exec 3<>/dev/tcp/127.0.0.1/$HAPORT) 2>/dev/null || { echo "haproxy did not start:" >&2; cat "$RUN/haproxy.err" >&2; exit 1; }

# A failing candidate is reported as failing, never as a number.
gbps() { awk '{print $1}' | grep . || echo FAIL; }
for r in $(seq "$ROUNDS"); do
	echo "direct1 $("$TB" send "$SINK" "$BYTES" 1 | gbps)"
	echo "haproxy1 $("$TB" send "127.0.0.1:$HAPORT" "$BYTES" 1 | gbps)"
	echo "sluice1 $("$TB" send "$SINK" "$BYTES" 1 "$SLUICE" | gbps)"
	echo "direct8 $("$TB" send "$SINK" $((BYTES / 8)) 8 | gbps)"
	echo "haproxy8 $("$TB" send "127.0.0.1:$HAPORT" $((BYTES / 8)) 8 | gbps)"
	echo "sluice8 $("$TB" send "$SINK" $((BYTES / 8)) 8 "$SLUICE" | gbps)"
done | tee "$RUN/results"
median() { awk -v k="$1" '$1 == k {print $2}' "$RUN/results" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for s in 1 8; do
	d=$(median direct$s) h=$(median haproxy$s) l=$(median sluice$s)
	echo "$s stream(s), median GB/s: direct $d, haproxy $h, sluice $l; sluice/haproxy $(awk -v a="$l" -v b="$h" 'BEGIN {printf "%.2f", a / b}'), sluice/direct $(awk -v a="$l" -v b="$d" 'BEGIN {printf "%.2f", a / b}')"
done

# Idle tunnels: RSS before and with IDLE tunnels held open.
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SLUICE_PID/status"; }
before=$(rss)
mkfifo "$RUN/hold"
"$TB" idle "$SINK" "$IDLE" "$SLUICE" <"$RUN/hold" >"$RUN/idle.out" & IDLE_PID=$!; PIDS+=($IDLE_PID)
exec 9>"$RUN/hold"
for _ in $(seq 600); do grep -q ready "$RUN/idle.out" && break; sleep 0.1; done
grep -q ready "$RUN/idle.out" || { echo "idle tunnels did not open" >&2; exit 1; }
after=$(rss)
echo "idle tunnels: $IDLE; sluice RSS $before KiB -> $after KiB; $(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {printf "%.2f", (a - b) / n}') KiB per tunnel"
exec 9>&-
wait "$IDLE_PID" 2>/dev/null || true
