# sluice with real parent proxies: squid (asking for a login, checked by its
# basic_ncsa_auth against an htpasswd file) and tinyproxy, both resolving
# names through the test's own DNS.  HTTP and CONNECT through each; the
# login accepted and refused (squid's 407 becomes a 502 naming it); a dead
# parent failing over to squid; squid's connection from sluice kept and
# reused across origins (counted in squid's log); squid cutting a response
# short; tinyproxy, which closes after every response, serving request
# after request.  sluice itself resolves nothing the parents are sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/parents.sh"
start_origin
for n in sq sq2 sqbad fo tp; do echo "127.0.0.1 $n.sluice.test"; done >>"$PARENT_HOSTS"
start_squid sq auth
SQ=$SQUID_PORT
start_tinyproxy tp
TP=$TINYPROXY_PORT
# sluice's own DNS knows none of these names: a lookup would fail the request
: >"$T/none.hosts"
start_dnsmasq "$T/none.hosts" 60
closed_port
DEAD=$CLOSED_PORT
start_sluice "resolver 127.0.0.1:$DNS_PORT" "connect_ports $ORIGIN_PORT" \
	"parent sq 127.0.0.1:$SQ login=$PARENT_USER:$PARENT_PASS" \
	"parent sqbad 127.0.0.1:$SQ login=$PARENT_USER:wrong" \
	"parent tp 127.0.0.1:$TP" \
	"parent dead 127.0.0.1:$DEAD weight=1000" \
	"acl to_sq dstdomain sq.sluice.test sq2.sluice.test" \
	"acl to_bad dstdomain sqbad.sluice.test" \
	"acl to_fo dstdomain fo.sluice.test" \
	"acl to_tp dstdomain tp.sluice.test" \
	"route sq to_sq" "route sqbad to_bad" "route tp to_tp" "route dead,sq to_fo"
"$ORIGIN_BIN" --gen 100000 >"$T/want"

get() {
	local url=$1
	shift
	curl -s -m 10 -x "$PROXY" -o "$T/body" -w '%{http_code}' "$@" "$url"
}
# tunnel URL: a GET inside a CONNECT; the CONNECT's status
tunnel() { curl -s -m 10 -p -x "$PROXY" -o "$T/body" -w '%{http_connect}' "$1"; }

# --- squid ---------------------------------------------------------------------------
expect_eq "$(get "http://sq.sluice.test:$ORIGIN_PORT/bytes/100000")" 200 "GET through squid"
cmp -s "$T/body" "$T/want" || fail "GET through squid: body differs"
wait_for 5 grep -q "sq.sluice.test:$ORIGIN_PORT/bytes/100000 $PARENT_USER " "$SQUID_LOG" ||
	fail "squid did not log the request with sluice's login: $(cat "$SQUID_LOG")"
access_log_has "GET http://sq.sluice.test:$ORIGIN_PORT/bytes/100000 - FIRSTUP_PARENT/127.0.0.1 " ||
	fail "not logged as through the parent: $(tail -n 3 "$T/access.log")"
ok "HTTP through squid, with sluice's login (basic_ncsa_auth)"

expect_eq "$(tunnel "http://sq.sluice.test:$ORIGIN_PORT/bytes/100000")" 200 "CONNECT through squid"
cmp -s "$T/body" "$T/want" || fail "CONNECT through squid: body differs"
wait_for 5 grep -q "CONNECT sq.sluice.test:$ORIGIN_PORT $PARENT_USER " "$SQUID_LOG" ||
	fail "squid did not log the CONNECT: $(tail -n 2 "$SQUID_LOG")"
ok "CONNECT through squid: a 100000-byte GET inside, byte-exact"

expect_eq "$(get "http://sqbad.sluice.test:$ORIGIN_PORT/bytes/10")" 502 "a wrong login at squid"
grep -q "parent proxy refused sluice's login (407)" "$T/body" || fail "wrong login: body $(cat "$T/body")"
expect_eq "$(tunnel "http://sqbad.sluice.test:$ORIGIN_PORT/bytes/10")" 502 "a wrong login at squid, CONNECT"
ok "squid refusing the login (407): a 502 naming it, for HTTP and CONNECT"

expect_eq "$(get "http://fo.sluice.test:$ORIGIN_PORT/bytes/100000")" 200 "a dead parent, then squid"
cmp -s "$T/body" "$T/want" || fail "failover: body differs"
grep -q "parent dead (127.0.0.1:$DEAD) is down" "$T/sluice.err" || fail "the dead parent was not tried first"
access_log_has "GET http://fo.sluice.test:$ORIGIN_PORT/bytes/100000 - FIRSTUP_PARENT/127.0.0.1 " ||
	fail "failover not logged: $(tail -n 3 "$T/access.log")"
ok "a dead parent (tried first, by weight) fails over to squid unnoticed"

# one kept-alive client, two origins: squid sees them on one connection
before=$(squid_requests sq)
curl -s -m 10 -x "$PROXY" -o /dev/null -o /dev/null -o /dev/null \
	"http://sq.sluice.test:$ORIGIN_PORT/bytes/7" "http://sq2.sluice.test:$ORIGIN_PORT/bytes/8" \
	"http://sq.sluice.test:$ORIGIN_PORT/bytes/9" || fail "three requests through squid"
wait_for 5 parent_count_is $((before + 3)) squid_requests sq || fail "squid logged $(squid_requests sq) - $before"
conns=$(grep -E "/bytes/[789] " "$SQUID_LOG" | awk '{ print $2 }' | sort -u | wc -l)
expect_eq "$conns" 1 "connections to squid for two origins"
ok "two origins through squid on one pooled connection"

curl -s -m 10 -x "$PROXY" -o /dev/null "http://sq.sluice.test:$ORIGIN_PORT/truncate/100000"
rc=$?
[ "$rc" = 18 ] || fail "cut short through squid: curl exit $rc, want 18"
ok "a response squid cuts short is cut for the client (curl exit 18)"

# --- tinyproxy -------------------------------------------------------------------------
for i in 1 2 3; do
	expect_eq "$(get "http://tp.sluice.test:$ORIGIN_PORT/bytes/100000")" 200 "GET $i through tinyproxy"
	cmp -s "$T/body" "$T/want" || fail "GET $i through tinyproxy: body differs"
done
wait_for 5 parent_count_is 3 tinyproxy_requests tp || fail "tinyproxy logged $(tinyproxy_requests tp) requests"
expect_eq "$(tunnel "http://tp.sluice.test:$ORIGIN_PORT/bytes/100000")" 200 "CONNECT through tinyproxy"
cmp -s "$T/body" "$T/want" || fail "CONNECT through tinyproxy: body differs"
access_log_has "CONNECT tp.sluice.test:$ORIGIN_PORT - FIRSTUP_PARENT/127.0.0.1 " ||
	fail "CONNECT not logged: $(tail -n 3 "$T/access.log")"
ok "tinyproxy: three GETs (it closes after each) and a CONNECT"

expect_eq "$(dns_queries sq.sluice.test)$(dns_queries tp.sluice.test)" 00 "names sluice looked up"
ok "sluice resolved none of the names it sent to its parents"
