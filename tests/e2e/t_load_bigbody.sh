# Big bodies and slow readers keep sluice's memory flat (backpressure):
#  A. 1 GiB at full speed, compared byte for byte with the origin's pattern;
#  B. 1 GiB read at 64 MB/s by a rate-limited curl (the origin could send
#     over ten times faster);
#  C. a reader that stops reading for 2 s in the middle of a 1 GiB body,
#     then reads the rest;
#  D. ten 100 MB downloads at once, each read at 20 MB/s.
# sluice's RSS is sampled throughout and must stay within RSS_GROWTH_KB of
# what it was before the first byte.
. "$(dirname "$0")/lib.sh"
GIB=1073741824
RSS_GROWTH_KB=$((30 * 1024))

MAX_RSS=0
sample_rss() {
	local r
	r=$(rss_kb "$SLUICE_PID")
	[ -n "$r" ] || fail "sluice gone (no RSS)"
	[ "$r" -gt "$MAX_RSS" ] && MAX_RSS=$r
	[ $((r - RSS0)) -le "$RSS_GROWTH_KB" ] \
		|| fail "sluice RSS grew by $((r - RSS0)) kB (from $RSS0 kB) during $PHASE"
}
# watch PID SECONDS: sample sluice's RSS every 100 ms until PID exits
# (bounded); then reap PID and return its status.
watch() {
	local pid=$1 limit=$(($(now_ms) + $2 * 1000))
	while kill -0 "$pid" 2>/dev/null; do
		sample_rss
		[ "$(now_ms)" -lt "$limit" ] || fail "$PHASE did not finish in $2 s"
		sleep 0.1
	done
	wait "$pid"
	local rc=$?
	untrack "$pid"
	return $rc
}

start_origin
start_sluice "workers 2"
# warm up both workers (buffers, pools) before taking the baseline
for _ in 1 2; do
	curl -s -x "$PROXY" "$ORIGIN/bytes/1000000" -o /dev/null "$ORIGIN/bytes/1000000" -o /dev/null
done
RSS0=$(rss_kb "$SLUICE_PID")

# --- A. full speed, byte-exact ---------------------------------------------------
PHASE="A (1 GiB at full speed)"
t=$(now_ms)
(
	set -o pipefail
	curl -s -f --max-time 60 -x "$PROXY" "$ORIGIN/bytes/$GIB" | cmp -s - <("$ORIGIN_BIN" --gen "$GIB")
) &
pid=$!
PIDS+=("$pid")
watch "$pid" 60 || fail "1 GiB body differs from the origin's (or curl failed)"
ok "1 GiB byte-exact in $(($(now_ms) - t)) ms"

# --- B. slow reader ---------------------------------------------------------------------
PHASE="B (1 GiB read at 64 MB/s)"
t=$(now_ms)
curl -s -f --max-time 60 --limit-rate 64M -x "$PROXY" "$ORIGIN/bytes/$GIB" -o /dev/null \
	-w '%{size_download}' >"$T/b.size" &
pid=$!
PIDS+=("$pid")
watch "$pid" 60 || fail "slow 1 GiB download failed"
expect_eq "$(cat "$T/b.size")" "$GIB" "bytes read by the slow reader"
ok "1 GiB through a 64 MB/s reader in $(($(now_ms) - t)) ms, RSS growth <= $((MAX_RSS - RSS0)) kB"

# --- C. a reader that stalls ------------------------------------------------------------------
PHASE="C (reader stalled for 2 s)"
exec {c}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect"
printf 'GET %s/bytes/%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' \
	"$ORIGIN" "$GIB" "$ORIGIN_PORT" >&"$c"
t=$(now_ms)
while [ $(($(now_ms) - t)) -lt 2000 ]; do # the subject: 2 s of not reading
	sample_rss
	sleep 0.1
done
timeout 60 cat <&"$c" | wc -c >"$T/c.size" &
pid=$!
PIDS+=("$pid")
exec {c}>&-
watch "$pid" 60 || fail "reading the rest after the stall failed"
got=$(cat "$T/c.size")
[ "$got" -gt "$GIB" ] && [ "$got" -lt $((GIB + 1024)) ] \
	|| fail "stalled reader got $got bytes, want $GIB plus a response head"
ok "reader stalled for 2 s then got the whole 1 GiB, RSS growth <= $((MAX_RSS - RSS0)) kB"

# --- D. ten slow readers at once ----------------------------------------------------------------
PHASE="D (10 x 100 MB at 20 MB/s)"
t=$(now_ms)
urls=()
for i in $(seq 10); do urls+=("$ORIGIN/bytes/$((100000000 + i))" -o /dev/null); done
curl -s -f --max-time 60 -Z --parallel-max 10 --parallel-immediate --limit-rate 20M \
	-x "$PROXY" -w '%{size_download}\n' "${urls[@]}" >"$T/d.sizes" 2>/dev/null &
pid=$!
PIDS+=("$pid")
watch "$pid" 60 || fail "parallel slow downloads failed"
expect_eq "$(sort -n "$T/d.sizes" | tr '\n' ' ')" "$(seq 100000001 100000010 | tr '\n' ' ')" "sizes read by 10 slow readers"
ok "10 concurrent slow readers of 100 MB, RSS growth <= $((MAX_RSS - RSS0)) kB"
sluice_alive || fail "sluice died"
echo "# sluice RSS: $RSS0 kB before, $MAX_RSS kB at most"
