# The admin listener's /metrics after traffic of a known shape: 5 GETs to
# one origin and 3 to another by name, a name that does not exist, a
# refused port, a denied request, a tunnel of 100,000 bytes each way: the
# page shows exactly those counts, and promtool checks it.  /healthz says
# ok; other paths 404; only GET and HEAD; the admin port is never proxied;
# a client outside admin_allow is closed unanswered.  Admin connections do
# not count against max_connections_per_client (2 here): a dozen scrapes and
# checks from 127.0.0.1 leave its proxy requests served.
. "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || fail "promtool missing (package prometheus, TEST_DEBS)"

start_origin
O1=$ORIGIN_PORT
start_origin
O2=$ORIGIN_PORT
start_peer -s 100000 -r 100000
printf '127.0.0.1 a.sluice.test\n127.0.0.1 b.sluice.test\n' >"$T/hosts"
start_dnsmasq "$T/hosts" 60
start_sluice "workers 1" "admin 127.0.0.1:0" "admin_allow 127.0.0.1" "max_connections_per_client 2" "resolver 127.0.0.1:$DNS_PORT" "connect_ports $PEER_PORT" \
	"acl banned dst 127.0.0.1/32" "acl banned_port port 9" "http_access deny banned banned_port" "http_access allow all"
ADMIN=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) admin.*/\1/p' "$T/sluice.err")
[ -n "$ADMIN" ] || fail "no admin listener logged"
# a closed port, held so that no listener can be given it (bound and
# released instead, the kernel once gave it to sluice's own listener next:
# the request met the loop guard, 508)
closed_port
REFUSED=$CLOSED_PORT
deny_line=$(grep -n "^http_access deny" "$T/sluice.conf" | cut -d: -f1)

get() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$1"; }
for i in 1 2 3 4 5; do expect_eq "$(get "http://a.sluice.test:$O1/bytes/100")" 200 "GET a $i"; done
for i in 1 2 3; do expect_eq "$(get "http://b.sluice.test:$O2/bytes/1000")" 200 "GET b $i"; done
expect_eq "$(get "http://nosuch.sluice.test:$O1/")" 502 "a name that does not exist"
expect_eq "$(get "http://127.0.0.1:$REFUSED/")" 502 "a refused port"
expect_eq "$(get "http://127.0.0.1:9/")" 403 "a denied request"
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$PEER_PORT" -s 100000 -r 100000 -T 20 >"$T/tun.out" 2>&1 ||
	fail "tunnel: $(cat "$T/tun.out")"
# the tunnel's line is written when it ends: wait for it
access_log_has "CONNECT 127.0.0.1:$PEER_PORT" || fail "the tunnel did not end"

scrape() { curl -s -f --max-time 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics"; }
scrape || fail "GET /metrics failed"
promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1 || fail "promtool: $(cat "$T/promtool.out")"
ok "/metrics passes promtool check metrics"

# metric SERIES: the value of the sample whose name and labels are SERIES
metric() { awk -v s="$1" 'index($0, s " ") == 1 { print $NF }' "$T/metrics"; }
expect_eq "$(metric 'sluice_requests_total{method="GET",code="2xx"}')" 8 "GETs answered 2xx"
expect_eq "$(metric 'sluice_requests_total{method="GET",code="5xx"}')" 2 "GETs answered 5xx"
expect_eq "$(metric 'sluice_requests_total{method="GET",code="4xx"}')" 1 "GETs answered 4xx"
expect_eq "$(metric 'sluice_requests_total{method="CONNECT",code="2xx"}')" 1 "tunnels"
expect_eq "$(metric 'sluice_request_duration_seconds_count')" 12 "requests timed"
expect_eq "$(metric 'sluice_errors_total{code="502",cause="DNS name not found"}')" 1 "DNS failures"
expect_eq "$(metric 'sluice_errors_total{code="502",cause="upstream refused the connection"}')" 1 "refused"
expect_eq "$(metric "sluice_denials_total{code=\"403\",rule=\"$T/sluice.conf:$deny_line\"}")" 1 "denials by rule"
expect_eq "$(metric 'sluice_tunnels_total')" 1 "tunnels ended"
expect_eq "$(metric 'sluice_tunnel_bytes_total{direction="up"}')" 100000 "tunnel bytes up"
down=$(metric 'sluice_tunnel_bytes_total{direction="down"}')
[ "$down" -ge 100000 ] && [ "$down" -lt 100200 ] || fail "tunnel bytes down: $down (100000 and the 200 head)"
expect_eq "$(metric 'sluice_dns_answers_total{result="ok"}')" 2 "names resolved"
expect_eq "$(metric 'sluice_dns_answers_total{result="notfound"}')" 1 "names not found"
expect_eq "$(metric 'sluice_dns_cache_hits_total')" 6 "names answered from the cache"
expect_eq "$(metric 'sluice_upstream_pool_misses_total')" 4 "server connections opened (a, b, refused, tunnel)"
expect_eq "$(metric 'sluice_upstream_pool_hits_total')" 6 "requests on pooled connections"
expect_eq "$(metric 'sluice_connections_accepted_total')" 13 "connections (12 clients, this scrape)"
expect_eq "$(metric 'sluice_handoffs_total')" 13 "sockets handed from the acceptor to the workers"
awk -v s="$(metric 'sluice_handoff_seconds_total')" 'BEGIN { exit !(s > 0 && s < 13) }' ||
	fail "hand-off time summed over 13 sockets: $(metric 'sluice_handoff_seconds_total') s"
[ "$(metric 'sluice_origin_received_bytes_total')" -ge $((5 * 100 + 3 * 1000)) ] || fail "origin bytes"
[ "$(metric 'sluice_client_sent_bytes_total')" -ge $((5 * 100 + 3 * 1000)) ] || fail "client bytes"
expect_eq "$(metric 'sluice_workers')" 1 "workers"
expect_eq "$(metric 'sluice_config_last_reload_success')" 1 "no failed reload"
grep -q '^sluice_build_info{version="[0-9.]*",llhttp="[0-9.]*",cares="[0-9.]*"} 1$' "$T/metrics" || fail "build info"
[ "$(metric process_open_fds)" -gt 5 ] || fail "process_open_fds"
[ "$(metric process_resident_memory_bytes)" -gt 1000000 ] || fail "process_resident_memory_bytes"
ok "the counts match the traffic: 8 GETs 2xx, 2 errors by cause, 1 denial by rule, a 100,000-byte tunnel, DNS and pool"

# a failed reload shows
echo "http_access allow nosuchacl" >>"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 5 grep -q "reload failed" "$T/sluice.err" || fail "the reload did not fail"
scrape || fail "GET /metrics after the reload"
expect_eq "$(metric 'sluice_config_reloads_total{result="failed"}')" 1 "failed reloads"
expect_eq "$(metric 'sluice_config_last_reload_success')" 0 "the last reload's success"
ok "a failed reload shows in the metrics"

expect_eq "$(curl -s --max-time 5 "http://127.0.0.1:$ADMIN/healthz")" ok "/healthz"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$ADMIN/nope")" 404 "an unknown path"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$ADMIN/metrics")" 405 "POST"
expect_eq "$(get "http://127.0.0.1:$ADMIN/metrics")" 508 "the admin port through the proxy"
curl -s -o /dev/null --max-time 5 --interface 127.0.0.9 "http://127.0.0.1:$ADMIN/metrics"
rc=$?
[ "$rc" = 52 ] || [ "$rc" = 56 ] || fail "a client outside admin_allow: curl exit $rc, want 52 or 56 (closed unanswered)"
grep -q "client 127.0.0.9:[0-9]*: not in admin_allow: closed (admin listener)" "$T/sluice.err" || fail "not logged"
ok "/healthz ok, 404, 405, never proxied (508), admin_allow enforced"
for i in 1 2 3 4 5; do curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$ADMIN/healthz"; done
expect_eq "$(get "http://a.sluice.test:$O1/bytes/100")" 200 "a proxy request after a dozen admin connections"
ok "admin connections hold no max_connections_per_client slot"
