# A name with six addresses whose first four refuse (nothing listens on
# 127.0.0.2-5 at the origin's port): every address the resolver gives is
# tried, so the fifth serves the request; and the next request goes to a
# working address at once, without trying the four again.
. "$(dirname "$0")/lib.sh"
start_origin # 127.0.0.1 only
{
	for i in 2 3 4 5; do echo "127.0.0.$i six.sluice.test"; done
	echo "127.0.0.1 six.sluice.test"
	echo "127.0.0.6 six.sluice.test"
} >"$T/hosts"
start_dnsmasq_opts "$T/hosts" 60 --no-round-robin # the order above, every time
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT" "log_level debug"

failed_connects() { grep -c "connect() to 127\.0\.0\.[2-5]:$ORIGIN_PORT failed" "$T/sluice.err"; }
code=$(curl -s -o "$T/body" -w '%{http_code}' -m 10 -x "$PROXY" "http://six.sluice.test:$ORIGIN_PORT/bytes/10")
[ "$code" = 200 ] || fail "first four addresses refusing: got $code ($(cat "$T/body")), want 200 from the fifth"
expect_eq "$(cat "$T/body")" "abcdefghij" "body"
for i in 2 3 4 5; do
	grep -q "connect() to 127\.0\.0\.$i:$ORIGIN_PORT failed" "$T/sluice.err" ||
		fail "127.0.0.$i was not tried: $(grep 'connect()' "$T/sluice.err")"
done
before=$(failed_connects)
expect_eq "$before" 4 "refused connects to the first four"
ok "four refusing addresses tried, the fifth served the request"

# /close/: every request needs a new connection, so each one picks addresses
for k in 1 2 3; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -x "$PROXY" "http://six.sluice.test:$ORIGIN_PORT/close/10")
	expect_eq "$code" 200 "request $k after the first"
done
expect_eq "$(failed_connects)" "$before" "refused connects to the first four after three more requests"
ok "later requests skip the addresses that refused"
sluice_alive || fail "sluice died"
