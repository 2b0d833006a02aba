# Two resolvers must not stretch a lookup past dns_timeout.  c-ares doubles
# its per-try timeout once per round over all servers, so the per-try
# timeout has to shrink with the number of servers; and an answer for one
# family is used once the other family is late, instead of waiting for its
# last retry.  Two tests/e2e/dnsshim in front of one dnsmasq, both losing
# every AAAA query (-x 28); then two silent ones.  dns_timeout 2s; one worker.
. "$(dirname "$0")/lib.sh"

# get NAME: one request through sluice; prints "status ms".
get() {
	local t code
	t=$(now_ms)
	code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 15 -x "$PROXY" \
		"http://$1:$ORIGIN_PORT/bytes/100")
	echo "$code $(($(now_ms) - t))"
}

printf '127.0.0.1 v4only.sluice.test\n' >"$T/hosts"
start_dnsmasq "$T/hosts" 300
start_shim_as one -u "$DNS_PORT" -d 0 -x 28
P1=$SHIM_PORT
start_shim_as two -u "$DNS_PORT" -d 0 -x 28
P2=$SHIM_PORT
start_origin
start_sluice "workers 1" "resolver 127.0.0.1:$P1,127.0.0.1:$P2" "dns_timeout 2s"

# --- A answered at once, AAAA lost at both resolvers --------------------------------------------
read -r code took < <(get v4only.sluice.test)
grep -q 'type=28 name=v4only.sluice.test' "$T/shim-one.log" || fail "no AAAA query was sent (so none was lost)"
[ "$code" = 200 ] || fail "two resolvers, A answered, AAAA lost: got $code after $took ms ($(tr -d '\r\n' <"$T/body")), want 200"
[ "$took" -lt 1000 ] || fail "two resolvers, AAAA lost: served only after $took ms (the A answer came at once)"
ok "two resolvers, AAAA lost: the A answer used after $took ms"

# --- two silent resolvers: every retry inside dns_timeout -------------------------------------
stop_sluice
untrack "$SLUICE_PID"
start_shim_as s1
start_shim_as s2
start_sluice "workers 1" "resolver 127.0.0.1:$(cat "$T/shim-s1.port"),127.0.0.1:$(cat "$T/shim-s2.port")" \
	"dns_timeout 2s"
read -r code took < <(get slow.sluice.test)
expect_eq "$code" 504 "status with two silent resolvers"
[ "$took" -ge 1800 ] || fail "504 after only $took ms with dns_timeout 2s"
[ "$took" -lt 2400 ] || fail "504 after $took ms with dns_timeout 2s"
sleep 2.5 # a retry c-ares still had planned would show by now
span=$(cat "$T/shim-s1.log" "$T/shim-s2.log" | grep ' name=slow.sluice.test$' |
	sed 's/.* mono=\([0-9]*\) .*/\1/' | sort -n | awk 'NR == 1 { f = $1 } { l = $1 } END { print l - f }')
tries=$(cat "$T/shim-s1.log" "$T/shim-s2.log" | grep -c ' name=slow.sluice.test$')
[ "$tries" -ge 4 ] || fail "only $tries queries for slow.sluice.test reached the two resolvers"
[ "$span" -lt 2000 ] || fail "queries for slow.sluice.test went on for $span ms after the first (dns_timeout 2s)"
ok "two silent resolvers: 504 after $took ms, $tries queries within $span ms"
sluice_alive || fail "sluice died"
