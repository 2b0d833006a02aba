# worker_buffers_max bounds the buffers a worker hands out.  When a
# connection needs one more and none is left, that connection is closed,
# the error log says why, and nothing touches what the closed connection
# gave back (under ASan a buffer on the free-list is poisoned, so a write
# through a stale pointer fails this test in `make asan-test`).  Everyone
# else is served once buffers come back.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_origin

# One buffer per worker: a request takes it for its head, and the answer
# that sluice writes itself (TRACE with Max-Forwards: 0), or the rewritten
# head of a forwarded request, finds none.
start_sluice "workers 1" "worker_buffers_max 1"
printf 'TRACE http://127.0.0.1:%s/ HTTP/1.1\r\nMax-Forwards: 0\r\n\r\n' "$ORIGIN_PORT" | raw "$SLUICE_PORT" >"$T/resp" ||
	fail "TRACE: connection left open"
[ ! -s "$T/resp" ] || fail "TRACE: got an answer with no buffer for it: $(head -c 200 "$T/resp")"
printf 'GET http://127.0.0.1:%s/bytes/10 HTTP/1.1\r\n\r\n' "$ORIGIN_PORT" | raw "$SLUICE_PORT" >"$T/resp" ||
	fail "GET: connection left open"
[ ! -s "$T/resp" ] || fail "GET: got an answer with no buffer for it"
grep -q "no buffer for a connection (worker_buffers_max reached): closing it" "$T/sluice.err" ||
	fail "the error log does not say why"
sluice_alive || fail "sluice died"
ok "at worker_buffers_max a connection that needs a buffer more is closed, and the log says why"
stop_sluice
untrack "$SLUICE_PID"

# Six buffers, twenty clients at once: some are refused, none is stuck, and
# once they are done every buffer is back: requests one at a time all pass.
start_sluice "workers 1" "worker_buffers_max 6"
for i in $(seq 20); do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -x "$PROXY" "$ORIGIN/slowbody/20000" >>"$T/codes" &
	PIDS+=($!)
done
wait_for 20 lines_ge 20 . "$T/codes" || fail "clients did not finish: $(wc -l <"$T/codes") of 20"
grep -q '^200$' "$T/codes" || fail "nobody was served: $(sort "$T/codes" | uniq -c | tr '\n' ' ')"
for i in $(seq 5); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/1000")
	expect_eq "$code" 200 "request $i after the crowd"
done
sluice_alive || fail "sluice died"
ok "twenty clients on six buffers: $(grep -c '^200$' "$T/codes") served, the rest closed; every buffer came back"
