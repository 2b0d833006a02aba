#!/usr/bin/env bash
# The core forwarding figure: wrk with absolute-form requests through sluice
# against the same wrk run straight at the origin, interleaved in rounds.
#   bench/wrk-core.sh [ROUNDS] [SECONDS] [CONNECTIONS]
# Everything runs on loopback and is stopped by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3} SECS=${2:-10} CONNS=${3:-400}
RUN=$(mktemp -d /tmp/sluice-bench.XXXXXX)
PIDS=()
cleanup() { set +e; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$RUN"; }
trap cleanup EXIT
trap "exit 143" TERM INT
OPORT=$(( 30000 + RANDOM % 10000 )) SPORT=$(( 40000 + RANDOM % 10000 ))
chmod 755 "$RUN"; mkdir -p "$RUN/www"
head -c 100 /dev/zero | tr '\0' 'x' >"$RUN/www/small"
sed -e "s#@RUN@#$RUN#g" -e "s#@PORT@#$OPORT#g" bench/nginx-origin.conf >"$RUN/nginx.conf"
nginx -c "$RUN/nginx.conf" & PIDS+=($!)
build/sluice -l 127.0.0.1:$SPORT 2>"$RUN/sluice.err" -c /dev/stdin <<<"access_log off" & PIDS+=($!)
for _ in $(seq 100); do
	curl -sf -x http://127.0.0.1:$SPORT http://127.0.0.1:$OPORT/small >/dev/null && break
	sleep 0.1
done
URL=http://127.0.0.1:$OPORT/small
one() { # $1 = label; rest = wrk args
	local label=$1; shift
	local out; out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$@")
	local rps errs non2xx
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	errs=$(grep -c "Socket errors" <<<"$out" || true)
	non2xx=$(grep -c "Non-2xx" <<<"$out" || true)
	echo "$label $rps socket_errors_lines=$errs non2xx_lines=$non2xx p50=$(awk '$1=="50%" {print $2}' <<<"$out") p99=$(awk '$1=="99%" {print $2}' <<<"$out")"
	[ "$errs" = 0 ] && [ "$non2xx" = 0 ] || { echo "$out" >&2; return 1; }
}
for r in $(seq "$ROUNDS"); do
	one direct "$URL"
	one sluice -s bench/absolute.lua "http://127.0.0.1:$SPORT" -- "$URL"
done | tee "$RUN/results"
median() { awk -v k="$1" '$1 == k {print $2}' "$RUN/results" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
d=$(median direct) s=$(median sluice)
echo "median req/s: direct $d, sluice $s; ratio sluice/direct $(awk -v a="$s" -v b="$d" 'BEGIN {printf "%.2f", a / b}')"
