# A pooled connection serves a name only while its address is in the
# name's current answer.  moving.sluice.test leads to 127.0.0.2 (TTL 1 s);
# a request leaves a connection to it in the pool; then DNS moves the name
# to 127.0.0.3.  Once the cached answer has expired, the next request is
# served by 127.0.0.3, the origin on 127.0.0.2 sees no new request, and
# the stale pooled connection is closed.  One worker: one cache, one pool.
. "$(dirname "$0")/lib.sh"
start_origin -l 127.0.0.2
PORT=$ORIGIN_PORT
start_origin -l 127.0.0.3 -p "$PORT"
echo "127.0.0.2 moving.sluice.test" >"$T/hosts"
start_dnsmasq "$T/hosts" 1
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT" "upstream_idle_timeout 60s"

# get: one request through sluice, its response head in $T/head
get() {
	curl -s -m 10 -x "$PROXY" -D "$T/head" -o /dev/null -w '%{http_code}' "http://moving.sluice.test:$PORT/bytes/10"
}
# h NAME: a header of the last response
h() { tr -d '\r' <"$T/head" | sed -n "s/^$1: //Ip"; }
# conns_old: sluice's connections to 127.0.0.2 (idle in its pool)
conns_old() { ss -Htanp state established dst "127.0.0.2:$PORT" 2>/dev/null | grep -c "pid=$SLUICE_PID,"; }
pooled_to_old() { [ "$(conns_old)" -ge 1 ]; }
none_to_old() { [ "$(conns_old)" -eq 0 ]; }

expect_eq "$(get)" 200 "first request"
expect_eq "$(h X-Conn-Id) $(h X-Req-Num)" "1 1" "first request: the origin's connection and request numbers"
wait_for 5 pooled_to_old || fail "no connection to 127.0.0.2 after the first request"
ok "first request served by 127.0.0.2, its connection pooled"

echo "127.0.0.3 moving.sluice.test" >"$T/hosts"
kill -HUP "$DNS_PID" # dnsmasq reads its hosts files again and empties its cache
reloaded() { [ "$(grep -c "read $T/hosts" "$DNS_LOG")" -ge 2 ]; }
wait_for 5 reloaded || fail "dnsmasq did not reload $T/hosts"
sleep 1.5 # the subject: longer than the 1 s TTL of sluice's cached answer

expect_eq "$(get)" 200 "request after DNS moved the name"
# 127.0.0.2's pooled connection would say X-Req-Num 2; 127.0.0.3 has had
# no connection before, so its first says "1 1"
expect_eq "$(h X-Conn-Id) $(h X-Req-Num)" "1 1" "second request: a new connection (X-Conn-Id, X-Req-Num)"
expect_eq "$(dns_queries moving.sluice.test)" 2 "A queries (the cached answer expired)"
wait_for 5 none_to_old || fail "the pooled connection to 127.0.0.2 is still open ($(conns_old))"
stop_sluice
access_log_has . || fail "no access log"
peer=$(tail -n 1 "$T/access.log")
case $peer in *" HIER_DIRECT/127.0.0.3 "*) ;; *) fail "second request: the access log says $peer, want HIER_DIRECT/127.0.0.3" ;; esac
ok "after DNS moved the name, the request went to 127.0.0.3, not over the pooled connection to 127.0.0.2"
