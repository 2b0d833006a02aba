# What an answer's TTL is: a CNAME chain lives as long as its shortest
# record, not its longest (dnsmasq --cname gives the CNAME a 1 s TTL, the
# A record 300 s); a TTL of 2^31 or more reads as 0 (RFC 2181 section 8:
# tests/e2e/dnsshim -t rewrites every answer's TTL), so it is not cached.
# One worker, so one cache.
. "$(dirname "$0")/lib.sh"

# get NAME: one request through sluice; prints the status code.
get() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "$PROXY" \
		"http://$1:$ORIGIN_PORT/close/100"
}

printf '127.0.0.1 target.sluice.test\n127.0.0.1 big.sluice.test\n' >"$T/hosts"
start_dnsmasq_opts "$T/hosts" 300 --cname=alias.sluice.test,target.sluice.test,1
start_origin
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT"

# --- CNAME 1 s -> A 300 s: cached for 1 s -------------------------------------------------------
t0=$(now_ms)
expect_eq "$(get alias.sluice.test)" 200 "first request for alias.sluice.test"
expect_eq "$(get alias.sluice.test)" 200 "second request for alias.sluice.test"
[ $(($(now_ms) - t0)) -lt 900 ] || fail "machine too slow: two requests took $(($(now_ms) - t0)) ms"
expect_eq "$(dns_queries alias.sluice.test)" 1 "A queries for alias.sluice.test within the CNAME's TTL"
sleep 1.5 # past the CNAME's 1 s, far inside the A record's 300 s
expect_eq "$(get alias.sluice.test)" 200 "request for alias.sluice.test after 1.5 s"
expect_eq "$(dns_queries alias.sluice.test)" 2 "A queries for alias.sluice.test after the CNAME's TTL (1 s, A 300 s)"
ok "a CNAME chain is cached for its shortest TTL"

# --- TTL 2^31: read as 0 -----------------------------------------------------------------------
start_shim -u "$DNS_PORT" -d 0 -t 2147483648
stop_sluice
untrack "$SLUICE_PID"
start_sluice "workers 1" "resolver 127.0.0.1:$SHIM_PORT"
expect_eq "$(get big.sluice.test)" 200 "first request for big.sluice.test"
expect_eq "$(get big.sluice.test)" 200 "second request for big.sluice.test"
expect_eq "$(dns_queries big.sluice.test)" 2 "A queries for two requests, answers with TTL 2^31"
ok "a TTL of 2^31 is not cached"
sluice_alive || fail "sluice died"
