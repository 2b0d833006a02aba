# A resolver that answers A queries at once but never answers AAAA (a
# firewall or old server losing one family; tests/e2e/dnsshim -x 28 in front
# of dnsmasq): the IPv4 answer must still be used, so the request is served,
# at the latest shortly after dns_timeout, instead of failing with 504.
. "$(dirname "$0")/lib.sh"


printf '127.0.0.1 v4only.sluice.test\n' >"$T/hosts"
start_dnsmasq "$T/hosts" 300
start_shim -u "$DNS_PORT" -d 0 -x 28 # AAAA queries are dropped
start_origin
start_sluice "workers 1" "resolver 127.0.0.1:$SHIM_PORT" "dns_timeout 2s"

t=$(now_ms)
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 15 -x "$PROXY" \
	"http://v4only.sluice.test:$ORIGIN_PORT/bytes/100")
took=$(($(now_ms) - t))
expect_eq "$(dns_queries v4only.sluice.test)" 1 "A queries answered by dnsmasq"
grep -q 'type=28 name=v4only.sluice.test' "$SHIM_LOG" || fail "no AAAA query was sent (so none was dropped)"
[ "$code" = 200 ] || fail "A answered at once, AAAA never: got $code after $took ms ($(tr -d '\r\n' <"$T/body")), want 200 from the A answer"
[ "$took" -le 3500 ] || fail "served only after $took ms with dns_timeout 2s"
ok "AAAA lost, A answered: served in $took ms"
sluice_alive || fail "sluice died"
