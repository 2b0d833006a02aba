# The watchdog: with WATCHDOG_USEC set (the unit's WatchdogSec=), sluice
# sends WATCHDOG=1 every half period while every worker's loop turns, idle
# or not, and none while one is wedged, so systemd would restart it; pings
# resume when the worker turns again.  The wedge is a test hook compiled
# into build/sluice-hooks only (SIGUSR2 stops worker 0's loop for
# SLUICE_TEST_WEDGE_MS); the normal binary has no such hook.  STATUS=
# carries connections, tunnels and requests per second.
. "$(dirname "$0")/lib.sh"

[ -x "$BUILD/sluice-hooks" ] || fail "$BUILD/sluice-hooks missing: make $BUILD/sluice-hooks"
grep -q "test hook" "$BUILD/sluice-hooks" || fail "$BUILD/sluice-hooks lacks the test hook"
grep -q "test hook" "$SLUICE" && fail "the normal binary carries the test hook"

start_notify
start_origin
export WATCHDOG_USEC=1000000 SLUICE_TEST_WEDGE_MS=3000
SLUICE=$BUILD/sluice-hooks start_sluice
unset WATCHDOG_USEC
wait_for 5 notified 1 READY=1 || fail "no READY=1"
wait_for 5 notified 4 WATCHDOG=1 || fail "no watchdog pings: $(cat "$NOTIFY_LOG")"
grep -q "running with 2 workers (watchdog on)" "$T/sluice.err" || fail "the watchdog is not said to be on"
ok "WATCHDOG=1 pings while idle"

# traffic, so the status line has something to count
curl -s -f -o /dev/null --max-time 5 -x "$PROXY" "$ORIGIN/bytes/100" || fail "request"
wait_for 8 grep -qE " STATUS=[0-9]+ connections, [0-9]+ tunnels, [0-9]+ requests/s$" "$NOTIFY_LOG" ||
	fail "no status line: $(grep STATUS "$NOTIFY_LOG")"
ok "STATUS= counts connections, tunnels, requests/s"

pings() { grep -c " WATCHDOG=1$" "$NOTIFY_LOG"; }
before=$(pings)
kill -USR2 "$SLUICE_PID"
wait_for 5 grep -q "watchdog: worker 0 has not turned for" "$T/sluice.err" || fail "the wedge is not noticed"
grep -q " STATUS=worker 0 stalled for " "$NOTIFY_LOG" || fail "STATUS= does not name the stalled worker"
wait_for 10 grep -q "watchdog: every worker turns again" "$T/sluice.err" || fail "the worker never recovered"
# the longest silence between two pings covers the wedge: more than the
# whole WatchdogSec (1 s), where systemd would have stepped in
gap=$(awk '/ WATCHDOG=1$/ { if (last && $1 - last > max) max = $1 - last; last = $1 } END { print max + 0 }' "$NOTIFY_LOG")
[ "$gap" -gt 1000 ] || fail "pings went on during the wedge (longest gap $gap ms)"
now_pings() { [ "$(pings)" -ge $((before + 3)) ]; }
wait_for 5 now_pings || fail "pings did not resume"
curl -s -f -o /dev/null --max-time 5 -x "$PROXY" "$ORIGIN/bytes/100" || fail "request after the wedge"
ok "a wedged worker stops the pings for $gap ms; they resume when it turns"
