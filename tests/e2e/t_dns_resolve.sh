# Name resolution through a real DNS server on loopback (dnsmasq): a name is
# resolved and the request served; /etc/hosts is honoured without asking the
# resolver; every address of a name is tried in turn when connects are
# refused; literal IPv4/IPv6 targets skip DNS; a name with only an AAAA
# record is served over IPv6 (IPv6 parts skipped without ::1).
. "$(dirname "$0")/lib.sh"

# Five names whose first three addresses refuse connections: dnsmasq answers
# a name's first query in hosts-file order (it rotates later answers), so
# the working address comes last and a proxy that stops early fails.
{
	echo "127.0.0.1 web.sluice.test"
	echo "::1 v6.sluice.test"
	for n in 1 2 3 4 5; do
		echo "127.0.0.2 multi$n.sluice.test"
		echo "127.0.0.3 multi$n.sluice.test"
		echo "127.0.0.4 multi$n.sluice.test"
		echo "127.0.0.1 multi$n.sluice.test"
	done
} >"$T/hosts"
start_dnsmasq "$T/hosts" 300
start_origin
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT"

# --- a name from dnsmasq -----------------------------------------------------------
curl -s -f -x "$PROXY" "http://web.sluice.test:$ORIGIN_PORT/bytes/70000" -o "$T/got" \
	|| fail "request for web.sluice.test failed"
"$ORIGIN_BIN" --gen 70000 | cmp -s - "$T/got" || fail "web.sluice.test: body differs"
expect_eq "$(dns_queries web.sluice.test)" 1 "A queries for web.sluice.test at dnsmasq"
host=$(curl -s -x "$PROXY" "http://web.sluice.test:$ORIGIN_PORT/echo" | grep -i '^host:' | tr -d '\r')
expect_eq "$host" "Host: web.sluice.test:$ORIGIN_PORT" "Host seen by the origin"
access_log_has "TCP_MISS/200 .* GET http://web.sluice.test:$ORIGIN_PORT/bytes/70000 - HIER_DIRECT/127.0.0.1" \
	|| fail "access log lacks the resolved request: $(cat "$T/access.log")"
ok "name from the configured resolver resolves and is served"

# --- /etc/hosts ----------------------------------------------------------------------
if grep -Eq '^[[:space:]]*127\.0\.0\.1[[:space:]](.*[[:space:]])?localhost([[:space:]]|$)' /etc/hosts; then
	curl -s -f -x "$PROXY" "http://localhost:$ORIGIN_PORT/bytes/1000" -o "$T/got" \
		|| fail "request for localhost failed"
	"$ORIGIN_BIN" --gen 1000 | cmp -s - "$T/got" || fail "localhost: body differs"
	grep -qi 'query\[[A-Z]*\] localhost' "$DNS_LOG" \
		&& fail "localhost was sent to the resolver instead of read from /etc/hosts"
	ok "/etc/hosts honoured (localhost answered without a DNS query)"
else
	echo "# /etc/hosts has no 127.0.0.1 localhost line: /etc/hosts part skipped"
fi

# --- every address tried in turn ----------------------------------------------------------
for n in 1 2 3 4 5; do
	# /close/ makes the origin close, so no pooled connection hides the lookup
	code=$(curl -s -o "$T/got" -w '%{http_code}' --max-time 10 -x "$PROXY" \
		"http://multi$n.sluice.test:$ORIGIN_PORT/close/2000")
	expect_eq "$code" 200 "multi$n.sluice.test (three refusing addresses, one working)"
	"$ORIGIN_BIN" --gen 2000 | cmp -s - "$T/got" || fail "multi$n: body differs"
done
ok "refused addresses skipped, the working one used"

# --- literal addresses ------------------------------------------------------------------
grep -q 'query\[[A-Z]*\] 127\.0\.0\.1' "$DNS_LOG" && fail "literal 127.0.0.1 was sent to DNS"

pf="$T/origin6.port"
"$ORIGIN_BIN" -l ::1 -f "$pf" >/dev/null 2>"$T/origin6.err" &
O6_PID=$!
PIDS+=("$O6_PID")
if wait_for 5 test -s "$pf"; then
	O6_PORT=$(cat "$pf")
	curl -s -f -g -x "$PROXY" "http://[::1]:$O6_PORT/bytes/5000" -o "$T/got" \
		|| fail "request for http://[::1]:$O6_PORT/ failed"
	"$ORIGIN_BIN" --gen 5000 | cmp -s - "$T/got" || fail "[::1]: body differs"
	host=$(curl -s -g -x "$PROXY" "http://[::1]:$O6_PORT/echo" | grep -i '^host:' | tr -d '\r')
	expect_eq "$host" "Host: [::1]:$O6_PORT" "Host for an IPv6 literal"
	grep -q 'query\[[A-Z]*\] ::1' "$DNS_LOG" && fail "literal ::1 was sent to DNS"
	ok "literal IPv6 target [::1] served"

	curl -s -f -x "$PROXY" "http://v6.sluice.test:$O6_PORT/bytes/5000" -o "$T/got" \
		|| fail "request for v6.sluice.test (AAAA ::1 only) failed"
	"$ORIGIN_BIN" --gen 5000 | cmp -s - "$T/got" || fail "v6.sluice.test: body differs"
	grep -q 'query\[AAAA\] v6.sluice.test' "$DNS_LOG" || fail "no AAAA query for v6.sluice.test"
	ok "a name with only an AAAA record served over IPv6"
else
	echo "# origin cannot listen on ::1 ($(cat "$T/origin6.err")): IPv6 part skipped"
fi
sluice_alive || fail "sluice died"
