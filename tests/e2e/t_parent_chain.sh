# sluice chained to a second sluice as its parent proxy (and to a dead one,
# a silent one, and fake ones for the answers a real parent will not give on
# demand): HTTP and CONNECT through the parent with sluice's login, the
# client's own credentials never forwarded, one Via per hop; routing by
# dstdomain (one domain direct, the rest through the parent); a literal
# target a dst rule denies refused before any parent hears of it; a dead
# parent (refused) and a silent one (connect_timeout) failing over to the
# next and to direct, and all of them down naming the cause; the parent's
# connections pooled across origins (counted at the parent); a parent cut
# mid-response; a wrong login (the parent's 407 becomes a 502); the bytes a
# parent sends behind its 200 reaching the client first, 1xx before it
# skipped; a parent refusing CONNECT; sticky routes; a reload changing the
# routes; the hierarchy field and the per-parent metrics.  The parent is
# named by a name (resolved through sluice's DNS) or an address.
. "$(dirname "$0")/lib.sh"
command -v htpasswd >/dev/null || fail "htpasswd missing (apache2-utils: make deps-test)"
start_origin
hosts="$T/hosts"
for n in a b c intra fb bad dead early refuse interim slow pp st1 st2 st3 st4 st5 st6; do echo "127.0.0.1 $n.sluice.test"; done >"$hosts"
start_dnsmasq "$hosts" 60
htpasswd -b -c -B "$T/users" gw gwpass 2>/dev/null || fail "htpasswd"

# the parent: asks for a login, logs JSON (the client ports of sluice's connections)
start_sluice_as parent "resolver 127.0.0.1:$DNS_PORT" "connect_ports $ORIGIN_PORT" "auth_basic $T/users" \
	"access_log_format json" "via_name parent"
P=$SLUICE_AS_PORT
PLOG="$T/access-parent.log"
closed_port
DEAD=$CLOSED_PORT
perl "$(dirname "$0")/fakeparent.pl" "$T/early.port" early 2>"$T/early.log" &
PIDS+=("$!")
perl "$(dirname "$0")/fakeparent.pl" "$T/refuse.port" status:403 2>"$T/refuse.log" &
PIDS+=("$!")
perl "$(dirname "$0")/fakeparent.pl" "$T/interim.port" interim 2>"$T/interim.log" &
PIDS+=("$!")
wait_for 5 test -s "$T/interim.port" || fail "fake parent did not start"
wait_for 5 test -s "$T/early.port" || fail "fake parent did not start"
# a parent that never completes a handshake
silent_listener
SILENT=$SILENT_PORT
wait_for 5 test -s "$T/refuse.port" || fail "fake parent did not start"

start_sluice "resolver 127.0.0.1:$DNS_PORT" "connect_ports $ORIGIN_PORT" "admin 127.0.0.1:0" \
	"parent dead 127.0.0.1:$DEAD" \
	"parent silent 127.0.0.1:$SILENT weight=1000" "connect_timeout 1s" \
	"parent p pp.sluice.test:$P login=gw:gwpass" \
	"parent p2 127.0.0.1:$P login=gw:gwpass" \
	"parent bad 127.0.0.1:$P login=gw:wrong" \
	"parent early 127.0.0.1:$(cat "$T/early.port")" \
	"parent refuse 127.0.0.1:$(cat "$T/refuse.port") login=fp:fpass" \
	"parent interim 127.0.0.1:$(cat "$T/interim.port")" \
	"acl a dstdomain a.sluice.test" \
	"acl intra dstdomain intra.sluice.test" \
	"acl fb dstdomain fb.sluice.test" \
	"acl bad dstdomain bad.sluice.test" \
	"acl dead dstdomain dead.sluice.test" \
	"acl early dstdomain early.sluice.test" \
	"acl refuse dstdomain refuse.sluice.test" \
	"acl interim dstdomain interim.sluice.test" \
	"acl slow dstdomain slow.sluice.test" \
	"acl st dstdomain st1.sluice.test st2.sluice.test st3.sluice.test st4.sluice.test st5.sluice.test st6.sluice.test" \
	"route direct intra" \
	"route dead fb fallback direct" \
	"route dead dead" \
	"route bad bad" \
	"route early early" \
	"route refuse refuse" \
	"route interim interim" \
	"route silent,p slow" \
	"route p,p2 st sticky" \
	"route p a" \
	"route_default dead,p"
ADMIN=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) admin.*/\1/p' "$T/sluice.err")
"$ORIGIN_BIN" --gen 100000 >"$T/want"

# get URL [CURL ARGS]: the status; the body in $T/body
get() {
	local url=$1
	shift
	curl -s -m 10 -x "$PROXY" -o "$T/body" -w '%{http_code}' "$@" "$url"
}
# connect HOST: a CONNECT to HOST:ORIGIN_PORT, the whole answer in $T/conn
# (sluice closes after refusing one); its status line printed
connect() {
	printf 'CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n' "$1" "$ORIGIN_PORT" "$1" "$ORIGIN_PORT" |
		raw "$SLUICE_PORT" >"$T/conn"
	status_of "$T/conn"
}
# last_line PATTERN FILE: the access log's last line matching
last_line() { grep -- "$1" "$2" | tail -n 1; }

# --- HTTP through the parent -------------------------------------------------------
expect_eq "$(get "http://a.sluice.test:$ORIGIN_PORT/bytes/100000")" 200 "GET through the parent"
cmp -s "$T/body" "$T/want" || fail "GET through the parent: body differs"
expect_eq "$(get "http://a.sluice.test:$ORIGIN_PORT/echo")" 200 "GET /echo through the parent"
expect_eq "$(grep -i '^via:' "$T/body" | tr -d '\r' | paste -sd'|')" "Via: 1.1 sluice|Via: 1.1 parent" \
	"Via lines the origin saw (one per hop)"
wait_for 5 grep -q "echo" "$PLOG" || fail "the parent logged no /echo"
user=$(grep echo "$PLOG" | tail -n 1 | sed -n 's/.*"user":"\([^"]*\)".*/\1/p')
expect_eq "$user" gw "the user the parent saw"
# what a parent is sent: absolute form, sluice's login for it, never the client's
expect_eq "$(get "http://refuse.sluice.test:$ORIGIN_PORT/x" -H 'Proxy-Authorization: Basic Y2xpZW50OnNlY3JldA==')" \
	403 "a parent's own 403 to a GET (relayed: it may be the origin's)"
grep -q "^GET http://refuse.sluice.test:$ORIGIN_PORT/x HTTP/1.1\$" "$T/refuse.log" || fail "request line: $(cat "$T/refuse.log")"
grep -q "^Proxy-Authorization: Basic ZnA6ZnBhc3M=\$" "$T/refuse.log" || fail "no login for the parent: $(cat "$T/refuse.log")"
grep -q "Y2xpZW50" "$T/refuse.log" && fail "the client's credentials reached the parent: $(cat "$T/refuse.log")"
expect_eq "$(grep -c '^Proxy-Authorization' "$T/refuse.log")" 1 "Proxy-Authorization lines the parent got"
access_log_has "GET http://a.sluice.test:$ORIGIN_PORT/echo - FIRSTUP_PARENT/pp.sluice.test " ||
	fail "hierarchy field: $(last_line echo "$T/access.log")"
ok "HTTP through the parent: body intact, sluice's login sent, the client's not, FIRSTUP_PARENT logged"

# --- routing: one domain direct, the rest through the parent ---------------------
before=$(wc -l <"$PLOG")
expect_eq "$(get "http://intra.sluice.test:$ORIGIN_PORT/bytes/10")" 200 "the intranet, direct"
access_log_has "GET http://intra.sluice.test:$ORIGIN_PORT/bytes/10 - HIER_DIRECT/127.0.0.1 " ||
	fail "intra not direct: $(last_line intra "$T/access.log")"
expect_eq "$(get "http://b.sluice.test:$ORIGIN_PORT/bytes/10")" 200 "another name, by route_default"
access_log_has "GET http://b.sluice.test:$ORIGIN_PORT/bytes/10 - DEFAULT_PARENT/pp.sluice.test " ||
	fail "b not through the parent: $(last_line b.sluice "$T/access.log")"
wait_for 5 grep -q "b.sluice.test" "$PLOG" || fail "the parent did not see b"
grep -q "intra.sluice.test" "$PLOG" && fail "the parent saw the intranet request"
ok "routing by dstdomain: intra direct (HIER_DIRECT), b through the parent (DEFAULT_PARENT)"

# the built-in rules' dst ACLs still hold for a literal target sent to a parent
before=$(wc -l <"$PLOG")
expect_eq "$(get "http://169.254.169.254/latest/meta-data/")" 403 "link-local through the parent"
expect_eq "$(wc -l <"$PLOG")" "$before" "lines the parent logged for it"
ok "a literal target a dst rule denies is refused before any parent hears of it"

# --- failover ---------------------------------------------------------------------------
# route_default dead,p: whichever comes first, every request is answered
for i in 1 2 3 4; do
	expect_eq "$(get "http://c.sluice.test:$ORIGIN_PORT/bytes/10")" 200 "request $i past the dead parent"
done
expect_eq "$(get "http://fb.sluice.test:$ORIGIN_PORT/bytes/10")" 200 "dead parent, fallback direct"
access_log_has "GET http://fb.sluice.test:$ORIGIN_PORT/bytes/10 - HIER_DIRECT/127.0.0.1 " ||
	fail "fallback not direct: $(last_line fb.sluice "$T/access.log")"
expect_eq "$(get "http://dead.sluice.test:$ORIGIN_PORT/bytes/10")" 502 "the only parent dead"
grep -q "parent proxy refused the connection" "$T/body" || fail "all down: body $(cat "$T/body")"
grep -q "parent dead (127.0.0.1:$DEAD) is down" "$T/sluice.err" || fail "no down line in the error log"
ok "a dead parent: the next one takes over, fallback goes direct, alone it is a 502 naming the cause"

# a parent that times out (tried first, by weight): the next one after connect_timeout
expect_eq "$(get "http://slow.sluice.test:$ORIGIN_PORT/bytes/100000")" 200 "past a silent parent"
cmp -s "$T/body" "$T/want" || fail "past a silent parent: body differs"
grep -q "parent silent (127.0.0.1:$SILENT) is down: parent proxy connect timed out" "$T/sluice.err" ||
	fail "the silent parent was not tried first, or not marked down"
ok "a parent that times out: the next one serves the request after connect_timeout"

# --- the parent's connections serve every origin ------------------------------------------
curl -s -m 10 -x "$PROXY" -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
	"http://a.sluice.test:$ORIGIN_PORT/bytes/1" "http://b.sluice.test:$ORIGIN_PORT/bytes/2" \
	"http://c.sluice.test:$ORIGIN_PORT/bytes/3" "http://127.0.0.1:$ORIGIN_PORT/bytes/4" || fail "four origins"
# (the parent's log is flushed once a second: wait for the four lines)
wait_for 5 lines_ge 4 "/bytes/[1-4]\"" "$PLOG" || fail "the parent logged $(grep -c '/bytes/[1-4]"' "$PLOG") of 4"
ports=$(grep '/bytes/[1-4]"' "$PLOG" | sed -n 's/.*"client_port":\([0-9]*\).*/\1/p' | sort -u | wc -l)
expect_eq "$ports" 1 "connections from sluice to the parent for four origins"
ok "four origins on one kept-alive client: one pooled connection to the parent"

# --- a parent cut mid-response --------------------------------------------------------------
curl -s -m 10 -x "$PROXY" -o "$T/cut" "http://a.sluice.test:$ORIGIN_PORT/truncate/100000"
rc=$?
[ "$rc" = 18 ] || fail "truncated through the parent: curl exit $rc, want 18 (partial file)"
access_log_has "truncate/100000 - FIRSTUP_PARENT/pp.sluice.test .*upstream closed mid-response" ||
	fail "cut not logged: $(last_line truncate "$T/access.log")"
ok "a response cut at the parent is cut for the client (curl exit 18)"

# --- the parent refuses sluice's login ------------------------------------------------------
expect_eq "$(get "http://bad.sluice.test:$ORIGIN_PORT/bytes/10")" 502 "wrong login for the parent"
grep -q "407" "$T/body" || fail "502 without the parent's 407: $(cat "$T/body")"
expect_eq "$(connect bad.sluice.test)" "HTTP/1.1 502 Bad Gateway" "wrong login, CONNECT"
grep -q "407" "$T/conn" || fail "CONNECT: 502 without the parent's 407: $(cat "$T/conn")"
ok "the parent's 407 (a wrong login) is a 502 naming it, for HTTP and CONNECT"

# --- CONNECT through the parent ----------------------------------------------------------------
expect_eq "$(get "http://a.sluice.test:$ORIGIN_PORT/bytes/100000" -p)" 200 "CONNECT through the parent"
cmp -s "$T/body" "$T/want" || fail "CONNECT through the parent: body differs"
access_log_has "CONNECT a.sluice.test:$ORIGIN_PORT - FIRSTUP_PARENT/pp.sluice.test " ||
	fail "CONNECT not through the parent: $(last_line CONNECT "$T/access.log")"
wait_for 5 grep -q "\"CONNECT\".*a.sluice.test:$ORIGIN_PORT" "$PLOG" || fail "the parent logged no CONNECT"
ok "CONNECT through the parent: a 100000-byte GET inside, byte-exact"

# bytes behind the parent's 200, and the client's own first bytes waiting for it
printf -v req 'CONNECT early.sluice.test:%s HTTP/1.1\r\nHost: early.sluice.test:%s\r\n\r\nhello' "$ORIGIN_PORT" "$ORIGIN_PORT"
got=$(printf '%s' "$req" | timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$SLUICE_PORT"'; cat >&3; head -c 55 <&3')
printf -v want 'HTTP/1.1 200 Connection established\r\n\r\nEARLY-BYTESHELLO'
expect_eq "$got" "$want" "the tunnel's first bytes"
grep -q "^CONNECT early.sluice.test:$ORIGIN_PORT HTTP/1.1\$" "$T/early.log" || fail "fake parent saw: $(cat "$T/early.log")"
grep -q "^Via: 1.1 sluice\$" "$T/early.log" || fail "no Via on the CONNECT: $(cat "$T/early.log")"
printf -v req 'CONNECT interim.sluice.test:%s HTTP/1.1\r\nHost: interim.sluice.test:%s\r\n\r\nhello' "$ORIGIN_PORT" "$ORIGIN_PORT"
got=$(printf '%s' "$req" | timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$SLUICE_PORT"'; cat >&3; head -c 55 <&3')
expect_eq "$got" "$want" "the tunnel's first bytes, after a 100 and a 103 from the parent"
ok "the bytes behind the parent's 200 reach the client first; the client's early bytes wait for it; 1xx before it are skipped"

expect_eq "$(connect refuse.sluice.test)" "HTTP/1.1 502 Bad Gateway" "the parent refuses CONNECT"
grep -q "parent proxy answered CONNECT with 403" "$T/conn" || fail "refused CONNECT: $(cat "$T/conn")"
grep -q "parent-secret-body" "$T/conn" && fail "the parent's body was relayed"
access_log_has "CONNECT refuse.sluice.test:$ORIGIN_PORT .*parent proxy answered CONNECT with 403" ||
	fail "refused CONNECT not logged: $(last_line refuse "$T/access.log")"
ok "a parent's 403 to CONNECT is a 502 naming it; its body is never relayed"

# --- sticky: a name keeps its parent ------------------------------------------------------------
for round in 1 2 3; do
	for n in 1 2 3 4 5 6; do
		expect_eq "$(get "http://st$n.sluice.test:$ORIGIN_PORT/bytes/10")" 200 "st$n, round $round"
	done
done
access_log_has "st6.sluice.test:$ORIGIN_PORT/bytes/10 .*PARENT" || fail "sticky requests not logged"
sticky_logged() { [ "$(grep -c 'st[1-6].sluice.test' "$T/access.log")" -ge 18 ]; }
wait_for 5 sticky_logged || fail "sticky: $(grep -c 'st[1-6].sluice.test' "$T/access.log") of 18 logged"
for n in 1 2 3 4 5 6; do
	peers=$(grep "st$n.sluice.test" "$T/access.log" | awk '{ print $9 }' | sort -u)
	expect_eq "$(echo "$peers" | wc -l)" 1 "parents that served st$n ($peers)"
done
spread=$(grep 'st[1-6].sluice.test' "$T/access.log" | awk '{ print $9 }' | sort -u | wc -l)
expect_eq "$spread" 2 "parents serving the six names"
ok "sticky: each of six names kept one parent over three rounds; both parents served some"

# --- a reload: the new routes apply, the parents keep their health -------------------------------
sed -i 's/^route direct intra$/route p intra/' "$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 grep -q "configuration reloaded" "$T/sluice.err" || fail "no reload: $(tail -n 3 "$T/sluice.err")"
expect_eq "$(get "http://intra.sluice.test:$ORIGIN_PORT/bytes/11")" 200 "intra after the reload"
access_log_has "GET http://intra.sluice.test:$ORIGIN_PORT/bytes/11 - FIRSTUP_PARENT/pp.sluice.test " ||
	fail "intra after the reload: $(last_line intra "$T/access.log")"
ok "a reload changes the routes: the intranet now goes through the parent"

# --- metrics -----------------------------------------------------------------------------------
# (dead failed just now: down for 10 s whatever the time the sections above took)
expect_eq "$(get "http://dead.sluice.test:$ORIGIN_PORT/bytes/10")" 502 "the only parent dead, again"
curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics" || fail "metrics"
metric() { sed -n "s/^$1 //p" "$T/metrics"; }
[ "$(metric 'sluice_parent_requests_total{parent="p"}')" -ge 10 ] ||
	fail "requests to p: $(grep parent "$T/metrics")"
[ "$(metric 'sluice_parent_failures_total{parent="dead"}')" -ge 2 ] ||
	fail "failures of dead: $(grep parent "$T/metrics")"
expect_eq "$(metric 'sluice_parent_up{parent="dead"}')" 0 "dead is down"
expect_eq "$(metric 'sluice_parent_failures_total{parent="silent"}')" 1 "failures of silent"
expect_eq "$(metric 'sluice_parent_up{parent="p"}')" 1 "p is up"
expect_eq "$(metric 'sluice_parent_failures_total{parent="p"}')" 0 "failures of p"
ok "per-parent metrics: requests, failures, up"
