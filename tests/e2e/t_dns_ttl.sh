# The per-worker DNS cache honours each answer's TTL: with a 1 s TTL a
# second request at once sends no query and one after the TTL sends a new
# one; with a 300 s TTL a request 1.5 s later sends none; and
# dns_cache_max_ttl caps a long TTL.  One worker, so one cache.
. "$(dirname "$0")/lib.sh"

# get NAME PATH: one request through sluice; prints the status code.
get() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "$PROXY" \
		"http://$1:$ORIGIN_PORT$2"
}

printf '127.0.0.1 short.sluice.test\n127.0.0.1 long.sluice.test\n127.0.0.1 capped.sluice.test\n' >"$T/hosts"
start_origin

# --- TTL 1 s ---------------------------------------------------------------------
start_dnsmasq "$T/hosts" 1
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT"

# /close/ responses end the upstream connection, so no pooled connection
# lets a request skip the lookup.
t0=$(now_ms)
expect_eq "$(get short.sluice.test /close/100)" 200 "first request"
expect_eq "$(dns_queries short.sluice.test)" 1 "A queries after the first request"
expect_eq "$(get short.sluice.test /close/100)" 200 "second request"
t1=$(now_ms)
[ $((t1 - t0)) -lt 900 ] || fail "machine too slow: two requests took $((t1 - t0)) ms (TTL is 1 s)"
expect_eq "$(dns_queries short.sluice.test)" 1 "A queries after a second request within the TTL"
ok "second request within the TTL answered from the cache"

# Request every 100 ms until a second query shows (bounded: 5 s).
requery_at=
while [ $(($(now_ms) - t0)) -lt 5000 ]; do
	start=$(now_ms)
	expect_eq "$(get short.sluice.test /close/100)" 200 "request while waiting out the TTL"
	end=$(now_ms)
	if [ "$(dns_queries short.sluice.test)" -ge 2 ]; then
		requery_at=$((end - t0))
		requery_start=$((start - t0))
		break
	fi
	sleep 0.1
done
[ -n "$requery_at" ] || fail "no new query 5 s after a 1 s TTL"
[ "$requery_at" -ge 950 ] || fail "new query only ${requery_at} ms after the first answer (TTL 1 s)"
[ "$requery_start" -le 2500 ] || fail "cache outlived the 1 s TTL: new query at ${requery_start} ms"
expect_eq "$(dns_queries short.sluice.test)" 2 "A queries after the TTL"
ok "new query after the 1 s TTL (at ~${requery_at} ms)"

# --- TTL 300 s, then a 1 s dns_cache_max_ttl ---------------------------------------------
stop_sluice
untrack "$SLUICE_PID"
kill "$DNS_PID"
wait "$DNS_PID" 2>/dev/null
untrack "$DNS_PID"
mv "$DNS_LOG" "$T/dnsmasq-ttl1.log"
start_dnsmasq "$T/hosts" 300

start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT"
expect_eq "$(get long.sluice.test /close/100)" 200 "first request (TTL 300)"
sleep 1.5 # the subject: longer than a 1 s TTL, far shorter than 300 s
expect_eq "$(get long.sluice.test /close/100)" 200 "request 1.5 s later (TTL 300)"
expect_eq "$(dns_queries long.sluice.test)" 1 "A queries for a 300 s TTL after 1.5 s"
ok "a 300 s TTL is kept beyond 1.5 s"

stop_sluice
untrack "$SLUICE_PID"
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT" "dns_cache_max_ttl 1s"
t0=$(now_ms)
expect_eq "$(get capped.sluice.test /close/100)" 200 "first request (capped)"
expect_eq "$(get capped.sluice.test /close/100)" 200 "second request (capped)"
expect_eq "$(dns_queries capped.sluice.test)" 1 "A queries right after the first (capped)"
requery_at=
while [ $(($(now_ms) - t0)) -lt 5000 ]; do
	start=$(now_ms)
	expect_eq "$(get capped.sluice.test /close/100)" 200 "request while waiting out the cap"
	if [ "$(dns_queries capped.sluice.test)" -ge 2 ]; then
		requery_start=$((start - t0))
		requery_at=$(($(now_ms) - t0))
		break
	fi
	sleep 0.1
done
[ -n "$requery_at" ] || fail "dns_cache_max_ttl 1s: no new query within 5 s (answer TTL 300)"
[ "$requery_at" -ge 950 ] || fail "dns_cache_max_ttl 1s: new query after only ${requery_at} ms"
[ "$requery_start" -le 2500 ] || fail "dns_cache_max_ttl 1s: new query only at ${requery_start} ms"
ok "dns_cache_max_ttl caps a 300 s TTL to 1 s"
sluice_alive || fail "sluice died"
