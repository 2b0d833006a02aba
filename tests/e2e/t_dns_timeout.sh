# A resolver that never answers (tests/e2e/dnsshim in silent mode: it reads
# UDP queries and holds TCP connections, so nothing fails fast with
# "refused"): with dns_timeout 1s the client gets 504 naming the DNS
# timeout after about a second; the worker keeps serving others meanwhile;
# the timeout is not cached; a client that gives up mid-lookup harms nothing.
. "$(dirname "$0")/lib.sh"

# lookups NAME: distinct A queries for NAME that reached the shim (c-ares
# retransmits a query with its ID unchanged).
lookups() {
	grep " type=1 name=$1\$" "$SHIM_LOG" | grep -o 'id=[0-9a-f]*' | sort -u | wc -l
}

start_shim
start_origin
start_sluice "workers 1" "resolver 127.0.0.1:$SHIM_PORT" "dns_timeout 1s"

# --- 504 after dns_timeout, others served meanwhile ---------------------------------------
t0=$(now_ms)
curl -s -o "$T/body" -w '%{http_code} %{time_total}' --max-time 15 -x "$PROXY" \
	"http://slow.sluice.test:$ORIGIN_PORT/bytes/10" >"$T/res" &
CURL_PID=$!
PIDS+=("$CURL_PID")
wait_for 5 grep -q "name=slow.sluice.test" "$SHIM_LOG" || fail "no query reached the silent resolver"
t=$(now_ms)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/10")
took=$(($(now_ms) - t))
expect_eq "$code" 200 "literal-address request while a lookup hangs"
[ "$took" -lt 700 ] || fail "literal-address request took ${took} ms while a lookup hung"
kill -0 "$CURL_PID" 2>/dev/null || fail "the lookup ended before the other request was served"
ok "the worker serves others while a lookup hangs (${took} ms)"

wait "$CURL_PID"
untrack "$CURL_PID"
elapsed=$(($(now_ms) - t0))
read -r code secs <"$T/res"
expect_eq "$code" 504 "status when the resolver never answers"
[ "$elapsed" -ge 800 ] || fail "504 after only ${elapsed} ms: not the 1 s dns_timeout"
[ "$elapsed" -lt 3000 ] || fail "504 took ${elapsed} ms with dns_timeout 1s"
grep -qi 'sluice' "$T/body" || fail "504 body does not name sluice: $(cat "$T/body")"
grep -qi 'dns' "$T/body" || fail "504 body does not name DNS: $(cat "$T/body")"
access_log_has "/504 .* GET http://slow.sluice.test:$ORIGIN_PORT/bytes/10 .*DNS" \
	|| fail "access log lacks the 504 and its DNS cause: $(cat "$T/access.log")"
ok "DNS timeout -> 504 after ${elapsed} ms ($(tr -d '\r\n' <"$T/body"))"

# --- a client giving up mid-lookup -----------------------------------------------------------
t_gone=$(now_ms)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.3 -x "$PROXY" \
	"http://gone.sluice.test:$ORIGIN_PORT/bytes/10")
wait_for 5 grep -q "name=gone.sluice.test" "$SHIM_LOG" || fail "no query for gone.sluice.test"

# --- the timeout is not cached -------------------------------------------------------------
# The first lookup may still be retrying inside c-ares (requests join it);
# once it is over, the next request must start a new one.  Bounded: 10 s.
first=$(lookups slow.sluice.test)
[ "$first" -ge 1 ] || fail "no A query for slow.sluice.test logged"
while [ $(($(now_ms) - t0)) -lt 10000 ]; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" \
		"http://slow.sluice.test:$ORIGIN_PORT/bytes/10")
	expect_eq "$code" 504 "repeated request to the silent resolver"
	[ "$(lookups slow.sluice.test)" -gt "$first" ] && break
done
[ "$(lookups slow.sluice.test)" -gt "$first" ] || fail "no new lookup within 10 s: a timeout was cached"
ok "timeouts are not cached (new lookup after $(($(now_ms) - t0)) ms)"

# Keep serving until the abandoned gone.sluice.test lookup has surely given
# up inside c-ares (3 tries spread over dns_timeout, with backoff: < 3 s);
# its end must find nobody to call back.
while [ $(($(now_ms) - t_gone)) -lt 3500 ]; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/10")
	expect_eq "$code" 200 "request while the abandoned lookup runs out"
	sleep 0.2
done
sluice_alive || fail "sluice died after an abandoned lookup"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/10")
expect_eq "$code" 200 "request after the abandoned lookup ended"
ok "a client leaving mid-lookup does no harm"
