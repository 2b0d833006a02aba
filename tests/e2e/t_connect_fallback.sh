# A name with several addresses: when connecting to one fails, the next one
# is tried, and the client never notices.
. "$(dirname "$0")/lib.sh"
start_origin   # listens on 127.0.0.1 only: 127.0.0.2 refuses
{
	echo "127.0.0.2 multi.sluice.test"
	echo "127.0.0.1 multi.sluice.test"
} >"$T/hosts"
start_dnsmasq "$T/hosts" 60
start_sluice "resolver 127.0.0.1:$DNS_PORT" "log_level debug"
body=$(curl -sf -m 10 -x "$PROXY" "http://multi.sluice.test:$ORIGIN_PORT/bytes/10") || fail "request failed"
expect_eq "$body" "abcdefghij" "body"
grep -q "connect() to 127.0.0.2:$ORIGIN_PORT failed" "$T/sluice.err" || fail "the refusing address was not tried first: $(grep connect "$T/sluice.err")"
ok "refused address skipped, next address served the request"
