# A name that does not exist (NXDOMAIN from dnsmasq) gives 502 with a body
# naming sluice and the DNS failure; the negative answer is cached for
# dns_negative_ttl (no second query inside it, a new one after it); other
# names keep resolving meanwhile.  One worker, so one cache.
. "$(dirname "$0")/lib.sh"


# Search domains must never be applied to proxied names: give c-ares one
# (LOCALDOMAIN overrides resolv.conf's "search") and check it goes unused.
export LOCALDOMAIN=corp.sluice.test
printf '127.0.0.1 web.sluice.test\n' >"$T/hosts"
start_dnsmasq "$T/hosts" 1
start_origin
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT" "dns_negative_ttl 3s"
url="http://nope.sluice.test:$ORIGIN_PORT/bytes/10"

t0=$(now_ms)
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 10 -x "$PROXY" "$url")
expect_eq "$code" 502 "status for a name that does not exist"
grep -qi 'sluice' "$T/body" || fail "502 body does not name sluice: $(cat "$T/body")"
grep -qi 'dns' "$T/body" || fail "502 body does not name the DNS failure: $(cat "$T/body")"
expect_eq "$(dns_queries nope.sluice.test)" 1 "A queries for nope.sluice.test"
expect_eq "$(grep -c 'corp.sluice.test' "$DNS_LOG")" 0 "queries with the search domain appended"
access_log_has "/502 .* GET http://nope.sluice.test:$ORIGIN_PORT/bytes/10 .*DNS" \
	|| fail "access log lacks the 502 and its DNS cause: $(cat "$T/access.log")"
ok "NXDOMAIN -> 502 naming the DNS failure ($(tr -d '\r\n' <"$T/body"))"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "$PROXY" "$url")
expect_eq "$code" 502 "second request for the missing name"
[ $(($(now_ms) - t0)) -lt 2500 ] || fail "machine too slow: second request after $(($(now_ms) - t0)) ms"
expect_eq "$(dns_queries nope.sluice.test)" 1 "A queries after a second request inside dns_negative_ttl"
ok "negative answer cached (no second query)"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "$PROXY" "http://web.sluice.test:$ORIGIN_PORT/bytes/10")
expect_eq "$code" 200 "an existing name while the negative entry lives"
ok "other names unaffected"

# Request every 200 ms until a second query shows (bounded: 8 s).
requery_at=
while [ $(($(now_ms) - t0)) -lt 8000 ]; do
	start=$(now_ms)
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "$PROXY" "$url")
	expect_eq "$code" 502 "request while waiting out dns_negative_ttl"
	if [ "$(dns_queries nope.sluice.test)" -ge 2 ]; then
		requery_at=$(($(now_ms) - t0))
		requery_start=$((start - t0))
		break
	fi
	sleep 0.2
done
[ -n "$requery_at" ] || fail "no new query 8 s after a 3 s dns_negative_ttl"
[ "$requery_at" -ge 2900 ] || fail "negative entry dropped after only ${requery_at} ms (dns_negative_ttl 3s)"
[ "$requery_start" -le 4500 ] || fail "negative entry outlived dns_negative_ttl 3s: new query at ${requery_start} ms"
ok "new query after dns_negative_ttl (at ~${requery_at} ms)"
sluice_alive || fail "sluice died"
