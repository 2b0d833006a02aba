# Access control (acl / http_access, include/sluice/acl.h) end to end:
#  - every ACL type allowing and denying: src, dstdomain (suffix, exact, case,
#    trailing dot, nothing resolved for a denied name), dst (checked after
#    DNS, per address), port, method, listener; "!" negation; the first
#    matching rule decides; no matching rule denies;
#  - what a denied client gets: 403 with "access denied by sluice policy",
#    Connection: close and the close (or a reusable connection), an access
#    log line TCP_DENIED/403 with method and URL, the deciding rule named as
#    FILE:LINE in the error log;
#  - CONNECT denied by dstdomain (the peer never sees a connection) and
#    allowed (a tunnel that echoes);
#  - DNS rebinding / SSRF for a non-loopback client: a name resolving to
#    169.254.169.254 or to loopback gets 403 with no connection attempt (the
#    destination address is checked before connect), a name with a denied
#    and an allowed address is served through the allowed one;
#  - a 100,000-line dstdomain list file;
#  - the loop guard: sluice's own listener as a literal, a name, a
#    v4-mapped IPv6 literal, through a wildcard listener, and by CONNECT: 508;
#  - "sluice -t -c FILE": file and line for each kind of error, exit 0 for a
#    good file.
# Traffic stays on loopback; names come from a dnsmasq started here.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip "curl missing"
[ -x "$BUILD/tunnelpeer" ] || fail "$BUILD/tunnelpeer missing: make $BUILD/tunnelpeer"

# --- helpers ---------------------------------------------------------------------------

# free_port: a loopback TCP port nobody listens on now (bind, note, close).
free_port() {
	perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport'
}

# get URL [CURL OPTIONS...]: one request through $PROXY; prints the status
# code, the body goes to $T/body, the head to $T/head.
get() {
	local url=$1
	shift
	: >"$T/body"
	: >"$T/head"
	curl -s -g -m 10 -o "$T/body" -D "$T/head" -w '%{http_code}' -x "$PROXY" "$@" "$url"
}

# rawreq PORT METHOD TARGET: one request written byte for byte to sluice at
# 127.0.0.1:PORT (Connection: close); the whole answer goes to $T/r.
rawreq() {
	local port=$1 method=$2 target=$3 host=$3
	case $target in http://*) host=${target#http://}; host=${host%%/*};; esac
	printf '%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$method" "$target" "$host" |
		raw "$port" 10 >"$T/r"
}

# re STRING: STRING as an extended regular expression matching itself.
re() { printf '%s' "$1" | sed 's#[][\.*^$+?(){}|]#\\&#g'; }

# rule_line DIRECTIVE: its line number in the config start_sluice wrote.
rule_line() {
	local n
	n=$(grep -n -x -F -- "$1" "$T/sluice.conf" | head -n1 | cut -d: -f1)
	[ -n "$n" ] || fail "\"$1\" not in $T/sluice.conf"
	echo "$n"
}

# denied_by WHAT REQUEST LINE: the error log says REQUEST ("GET host:port",
# "CONNECT host:port", "GET host:port at addr:port") was denied by line LINE
# of $T/sluice.conf ("none": by no rule).
denied_by() {
	local what=$1 req=$2 line=$3 where
	if [ "$line" = none ]; then where="no rule matched"; else where="$T/sluice.conf:$line"; fi
	wait_for 5 grep -qE -- ": $(re "$req") denied by $(re "$where")\$" "$T/sluice.err" ||
		fail "$what: the error log does not say \"$req denied by $where\": $(grep denied "$T/sluice.err" | tail -n 5)"
}

# expect_403 WHAT CODE: a curl answer ($T/body) is sluice's access refusal.
expect_403() {
	expect_eq "$2" 403 "$1: status"
	grep -q "access denied by sluice policy" "$T/body" || fail "$1: 403 body: $(cat "$T/body")"
}

# expect_served WHAT CODE N: a curl answer is the origin's N-byte pattern.
expect_served() {
	expect_eq "$2" 200 "$1: status (body: $(head -c 200 "$T/body"))"
	"$ORIGIN_BIN" --gen "$3" | cmp -s - "$T/body" || fail "$1: body differs"
}

# raw_status_is WHAT STATUSLINE TEXT: $T/r (from rawreq) is one local answer
# with STATUSLINE, TEXT in its body.
raw_status_is() {
	expect_eq "$(status_of "$T/r")" "$2" "$1: status line"
	body_of "$T/r" | grep -q -- "$3" || fail "$1: body does not say \"$3\": $(cat "$T/r")"
}

# no_conn_at_witness WHAT: the witness peer (a listener that must never be
# reached) has not seen a connection.
no_conn_at_witness() {
	if grep -q "^conn " "$W_REPORT"; then
		fail "$1: sluice connected to the witness at 127.0.0.1:$W_PORT: $(cat "$W_REPORT")"
	fi
}

# dns_asked NAME: dnsmasq logged an A query for NAME (within 5 s).
# (wait_for evaluates its arguments once: the count goes in a function)
dns_seen() { [ "$(dns_queries "$1")" -ge 1 ]; }
dns_asked() { wait_for 5 dns_seen "$1"; }

next_sluice() {
	stop_sluice
	untrack "$SLUICE_PID"
}

# --- sluice -t: errors with file and line, exit status -----------------------------------

# tcheck WHAT LINE TEXT CONFIG-LINES...: "sluice -t -c F" on a file of
# CONFIG-LINES fails, its message names F:LINE and holds TEXT.
NT=0
tcheck() {
	local what=$1 line=$2 text=$3 f rc
	shift 3
	f="$T/t$((++NT)).conf"
	printf '%s\n' "$@" >"$f"
	"$SLUICE" -t -c "$f" >"$T/t.out" 2>&1
	rc=$?
	[ "$rc" -ne 0 ] || fail "sluice -t: $what: exit 0 for a bad file: $(cat "$T/t.out")"
	grep -qF -- "$f:$line: " "$T/t.out" || fail "sluice -t: $what: message does not name $f:$line: $(cat "$T/t.out")"
	grep -qF -- "$text" "$T/t.out" || fail "sluice -t: $what: message lacks \"$text\": $(cat "$T/t.out")"
}

tcheck "unknown ACL in http_access" 4 'unknown ACL "nosuch"' \
	"listen 127.0.0.1:0" "acl lan src 10.0.0.0/8" "http_access allow lan" "http_access deny nosuch"
tcheck "negated unknown ACL" 2 'unknown ACL "nosuch"' \
	"acl lan src 10.0.0.0/8" "http_access allow lan !nosuch"
tcheck "prefix length 33" 3 '"10.0.0.1/33": bad prefix length' \
	"listen 127.0.0.1:0" "# a comment line counts too" "acl a src 10.0.0.1/33"
tcheck "host bits set" 2 '"10.1.0.0/8": host bits set' \
	"listen 127.0.0.1:0" "acl b dst 10.1.0.0/8" "http_access deny b"
tcheck "missing list file" 2 "cannot read \"$T/nope/list.txt\"" \
	"listen 127.0.0.1:0" "acl c dstdomain \"$T/nope/list.txt\"" "http_access deny c"
mkdir "$T/adir"
tcheck "list file is a folder" 1 "cannot read \"$T/adir\"" \
	"acl c dstdomain \"$T/adir\"" "http_access deny c"
printf '# addresses\n10.0.0.0/8\n10.1.0.0/8\n' >"$T/badlist.txt"
tcheck "bad value in a list file" 2 "$T/badlist.txt:3: \"10.1.0.0/8\": host bits set" \
	"listen 127.0.0.1:0" "acl d dst \"$T/badlist.txt\"" "http_access deny d"
tcheck "duplicate ACL name" 3 "ACL \"dup\" is already defined ($T/t$((NT + 1)).conf:2)" \
	"listen 127.0.0.1:0" "acl dup src 10.0.0.0/8" "acl dup dstdomain .example.com" "http_access deny dup"

printf '.good.example\nexact.example # a comment\n\n# only a comment\n' >"$T/good.txt"
printf '%s\n' "listen 127.0.0.1:0" "listen 127.0.0.1:0" "acl lan src 10.0.0.0/8 fc00::/7 192.168.1.1" \
	"acl bad dst 127.0.0.0/8 169.254.0.0/16 self ::1" "acl names dstdomain .a.example b.example \"$T/good.txt\"" \
	"acl web port 80 443 1024-65535" "acl rw method POST PUT CONNECT" "acl who user alice" \
	"acl l listener 127.0.0.1:0" "http_access deny bad" "http_access allow lan !names web !rw" \
	"http_access allow l who" "http_access deny all" >"$T/good.conf"
"$SLUICE" -t -c "$T/good.conf" >"$T/t.out" 2>&1 || fail "sluice -t on a good file: exit $?: $(cat "$T/t.out")"
grep -q "configuration ok" "$T/t.out" || fail "sluice -t on a good file says: $(cat "$T/t.out")"
ok "sluice -t: unknown ACL, bad CIDRs, unreadable list file, bad list entry and duplicate ACL named with FILE:LINE, exit non-zero; a good file passes"

# --- the world: names, an origin, a witness no request may reach -------------------------------

{
	for n in web a.blocked blocked vip.blocked notblocked inner two self clean ads-77777 x.tracker; do
		echo "127.0.0.1 $n.sluice.test"
	done
	echo "169.254.169.254 meta.sluice.test"
	echo "::1 two.sluice.test"
} >"$T/hosts"
start_dnsmasq "$T/hosts" 300
start_origin

# The witness: a listener on 127.0.0.1 that any denied request would reach.
start_peer -e
W_PORT=$PEER_PORT W_REPORT=$PEER_REPORT
# An echo server for the allowed CONNECT.
start_peer -e
ECHO_PORT=$PEER_PORT ECHO_REPORT=$PEER_REPORT

# --- every ACL type, negation, order, no match, and the denied client's view -------------------------

start_sluice "resolver 127.0.0.1:$DNS_PORT" \
	"acl c2 src 127.0.0.2/32" \
	"acl c1 src 127.0.0.1" \
	"acl vip dstdomain vip.blocked.sluice.test" \
	"acl blocked dstdomain .blocked.sluice.test" \
	"acl witness port $W_PORT" \
	"acl post method POST" \
	"acl safe method GET HEAD" \
	"http_access deny c2" \
	"http_access allow vip" \
	"http_access deny blocked" \
	"http_access deny witness" \
	"http_access deny post" \
	"http_access deny !safe" \
	"http_access allow c1"
L_C2=$(rule_line "http_access deny c2")
L_BLOCKED=$(rule_line "http_access deny blocked")
L_WITNESS=$(rule_line "http_access deny witness")
L_POST=$(rule_line "http_access deny post")
L_NEG=$(rule_line "http_access deny !safe")
WEB="http://web.sluice.test:$ORIGIN_PORT"

# src
code=$(get "$WEB/bytes/1000" --interface 127.0.0.2)
expect_403 "client 127.0.0.2" "$code"
denied_by "client 127.0.0.2" "GET web.sluice.test:$ORIGIN_PORT" "$L_C2"
grep -q "client 127\.0\.0\.2:[0-9]*: GET web.sluice.test:$ORIGIN_PORT denied" "$T/sluice.err" ||
	fail "the refusal is not logged for client 127.0.0.2: $(grep denied "$T/sluice.err")"
code=$(get "$WEB/bytes/1000" --interface 127.0.0.1)
expect_served "client 127.0.0.1" "$code" 1000
ok "src: 127.0.0.2 denied (rule at line $L_C2), 127.0.0.1 served"

# dstdomain: a suffix entry covers the name itself and every name under it
for name in a.blocked.sluice.test blocked.sluice.test; do
	code=$(get "http://$name:$ORIGIN_PORT/bytes/100")
	expect_403 "$name" "$code"
	denied_by "$name" "GET $name:$ORIGIN_PORT" "$L_BLOCKED"
done
code=$(get "http://notblocked.sluice.test:$ORIGIN_PORT/bytes/100")
expect_served "notblocked.sluice.test (not under .blocked.sluice.test)" "$code" 100
# case and a trailing dot in the request's host (written raw, as sent)
rawreq "$SLUICE_PORT" GET "http://A.Blocked.SLUICE.Test.:$ORIGIN_PORT/bytes/100"
raw_status_is "A.Blocked.SLUICE.Test." "HTTP/1.1 403 Forbidden" "access denied by sluice policy"
rawreq "$SLUICE_PORT" GET "http://BLOCKED.sluice.test:$ORIGIN_PORT/bytes/100"
raw_status_is "BLOCKED.sluice.test" "HTTP/1.1 403 Forbidden" "access denied by sluice policy"
rawreq "$SLUICE_PORT" GET "http://blocked.sluice.test.:$ORIGIN_PORT/bytes/100"
raw_status_is "blocked.sluice.test." "HTTP/1.1 403 Forbidden" "access denied by sluice policy"
# the same spellings of a name that is not blocked are served
for name in NotBlocked.Sluice.TEST notblocked.sluice.test.; do
	rawreq "$SLUICE_PORT" GET "http://$name:$ORIGIN_PORT/bytes/100"
	expect_eq "$(status_of "$T/r")" "HTTP/1.1 200 OK" "$name: status line"
done
ok "dstdomain .blocked.sluice.test: a.blocked and blocked denied (also in upper case and with a trailing dot), notblocked served"

# first matching rule decides: vip.blocked is allowed by the rule before
# "deny blocked"; a.blocked was denied although "allow c1" (later) matches too
code=$(get "http://vip.blocked.sluice.test:$ORIGIN_PORT/bytes/100")
expect_served "vip.blocked.sluice.test (allow vip comes before deny blocked)" "$code" 100
ok "first matching rule wins, in both directions"

# port (the witness's port is denied; the origin's is not)
code=$(get "http://web.sluice.test:$W_PORT/")
expect_403 "port $W_PORT" "$code"
denied_by "port $W_PORT" "GET web.sluice.test:$W_PORT" "$L_WITNESS"
no_conn_at_witness "denied port"
ok "port: $W_PORT denied before any connection, $ORIGIN_PORT served"

# method, and negation (deny !safe: every method but GET and HEAD)
code=$(get "$WEB/echo" -d 'x=1')
expect_403 "POST" "$code"
denied_by "POST" "POST web.sluice.test:$ORIGIN_PORT" "$L_POST"
code=$(get "$WEB/bytes/100")
expect_served "GET" "$code" 100
code=$(get "$WEB/bytes/100" -X PUT -d 'x=1')
expect_403 "PUT (deny !safe)" "$code"
denied_by "PUT" "PUT web.sluice.test:$ORIGIN_PORT" "$L_NEG"
code=$(get "$WEB/bytes/100" -I)
expect_eq "$code" 200 "HEAD (a safe method, not caught by deny !safe)"
ok "method: POST denied (line $L_POST), GET served; negation: PUT denied by deny !safe (line $L_NEG), HEAD served"

# no rule matches a client at 127.0.0.3 (not c1, not c2): denied
code=$(get "$WEB/bytes/100" --interface 127.0.0.3)
expect_403 "client 127.0.0.3 (no rule matches)" "$code"
denied_by "client 127.0.0.3" "GET web.sluice.test:$ORIGIN_PORT" none
ok "no matching rule: denied"

# What a denied client sees, on a connection that already served a request.
conn_open
printf 'GET %s/bytes/10 HTTP/1.1\r\nHost: web.sluice.test:%s\r\n\r\n' "$WEB" "$ORIGIN_PORT" >&"$C"
read_resp || fail "no answer to the first request on the connection"
expect_eq "$R_STATUS" "HTTP/1.1 200 OK" "first request on the connection"
printf 'GET http://a.blocked.sluice.test:%s/deny/me?q=1 HTTP/1.1\r\nHost: a.blocked.sluice.test:%s\r\n\r\n' \
	"$ORIGIN_PORT" "$ORIGIN_PORT" >&"$C"
read_resp || fail "no complete answer to the denied request"
expect_eq "$R_STATUS" "HTTP/1.1 403 Forbidden" "denied request on a kept-alive connection"
case $R_BODY in *"access denied by sluice policy"*) ;; *) fail "403 body: $R_BODY";; esac
if [ "$(hdr Connection | tr -d '\r' | tr A-Z a-z)" = close ]; then
	conn_closed || fail "403 said Connection: close but the connection stayed open"
	how="Connection: close, then closed"
else
	# no close announced: the connection must serve the next request
	printf 'GET %s/bytes/10 HTTP/1.1\r\nHost: web.sluice.test:%s\r\n\r\n' "$WEB" "$ORIGIN_PORT" >&"$C"
	read_resp || fail "403 without Connection: close, but the connection does not answer the next request"
	expect_eq "$R_STATUS" "HTTP/1.1 200 OK" "request after a 403 on the same connection"
	how="connection kept and reused"
fi
conn_close
access_log_has " TCP_DENIED/403 .* GET http://a\.blocked\.sluice\.test:$ORIGIN_PORT/deny/me?q=1 " ||
	fail "access log: no TCP_DENIED/403 line for the denied GET: $(tail -n 5 "$T/access.log")"
denied_by "the denied GET" "GET a.blocked.sluice.test:$ORIGIN_PORT" "$L_BLOCKED"
access_log_has " TCP_DENIED/403 .* POST http://web\.sluice\.test:$ORIGIN_PORT/echo " ||
	fail "access log: no TCP_DENIED/403 line for the denied POST: $(tail -n 5 "$T/access.log")"
ok "denied client: 403 with the policy's words, $how; access log TCP_DENIED/403 with method and URL; error log names $T/sluice.conf:LINE"

# Denied by name: never resolved.
for name in a.blocked.sluice.test blocked.sluice.test; do
	expect_eq "$(dns_queries "$name")" 0 "A queries for $name (denied before DNS)"
done
ok "a name denied by dstdomain is not resolved"
next_sluice

# --- listener ------------------------------------------------------------------------------------

P2=$(free_port)
start_sluice "listen 127.0.0.1:$P2" "resolver 127.0.0.1:$DNS_PORT" \
	"acl second listener 127.0.0.1:$P2" "http_access allow second"
[ "$SLUICE_PORT" != "$P2" ] || fail "the first listener is on $P2 too"
code=$(get "$WEB/bytes/100")
expect_403 "through the first listener (127.0.0.1:$SLUICE_PORT)" "$code"
denied_by "first listener" "GET web.sluice.test:$ORIGIN_PORT" none
code=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' -x "http://127.0.0.1:$P2" "$WEB/bytes/100")
expect_served "through the second listener (127.0.0.1:$P2)" "$code" 100
ok "listener: allowed on 127.0.0.1:$P2 only, denied on the other listen line"
next_sluice

# --- CONNECT -------------------------------------------------------------------------------------

start_sluice "resolver 127.0.0.1:$DNS_PORT" "connect_ports $W_PORT $ECHO_PORT" \
	"acl blocked dstdomain .blocked.sluice.test" "http_access deny blocked" "http_access allow all"
L_BLOCKED=$(rule_line "http_access deny blocked")
printf 'CONNECT a.blocked.sluice.test:%s HTTP/1.1\r\nHost: a.blocked.sluice.test:%s\r\n\r\n' "$W_PORT" "$W_PORT" |
	raw "$SLUICE_PORT" 10 >"$T/r" || fail "sluice did not close after refusing a CONNECT"
raw_status_is "CONNECT a.blocked.sluice.test" "HTTP/1.1 403 Forbidden" "access denied by sluice policy"
expect_eq "$(grep -a -c '^HTTP/' "$T/r")" 1 "status lines in the answer to the denied CONNECT"
denied_by "denied CONNECT" "CONNECT a.blocked.sluice.test:$W_PORT" "$L_BLOCKED"
access_log_has " TCP_DENIED/403 .* CONNECT a\.blocked\.sluice\.test:$W_PORT " ||
	fail "access log: no TCP_DENIED/403 CONNECT line: $(tail -n 5 "$T/access.log")"
no_conn_at_witness "denied CONNECT"
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "web.sluice.test:$ECHO_PORT" -S 200 -P 3:0 -T 10 >"$T/c.out" 2>&1 ||
	fail "allowed CONNECT web.sluice.test:$ECHO_PORT: $(cat "$T/c.out")"
grep -q "pings: 3 echoed" "$T/c.out" || fail "allowed CONNECT: no echo through the tunnel: $(cat "$T/c.out")"
# the peers' reports do show connections (what no_conn_at_witness relies on)
wait_for 5 grep -q "^conn " "$ECHO_REPORT" || fail "the echo peer's report shows no connection: $(cat "$ECHO_REPORT")"
ok "CONNECT: denied by dstdomain with 403 and no connection; allowed one tunnels (echo)"
next_sluice

# --- DNS rebinding / SSRF: dst rules, checked per resolved address ----------------------------------

# A second origin on ::1 at the witness's port: two.sluice.test has A
# 127.0.0.1 (the witness: denied) and AAAA ::1 (this origin: allowed).
"$ORIGIN_BIN" -l ::1 -p "$W_PORT" >/dev/null 2>"$T/origin6.err" &
O6_PID=$!
PIDS+=("$O6_PID")
if wait_for 5 curl -s -g -o /dev/null "http://[::1]:$W_PORT/bytes/1"; then HAVE6=1; else HAVE6=0; fi

start_sluice "resolver 127.0.0.1:$DNS_PORT" "connect_timeout 3s" \
	"acl lan src 127.0.0.2/32" \
	"acl bad dst 127.0.0.0/8 169.254.0.0/16" \
	"http_access deny bad" \
	"http_access allow lan"
L_BAD=$(rule_line "http_access deny bad")
LAN=(--interface 127.0.0.2)

# A name resolving to loopback (checked first: with a broken dst rule the
# metadata address below would be tried off this host).
code=$(get "http://inner.sluice.test:$W_PORT/" "${LAN[@]}")
expect_403 "inner.sluice.test (127.0.0.1)" "$code"
denied_by "inner.sluice.test" "GET inner.sluice.test:$W_PORT at 127.0.0.1:$W_PORT" "$L_BAD"
dns_asked inner.sluice.test || fail "inner.sluice.test was denied without being resolved"
no_conn_at_witness "inner.sluice.test"
code=$(get "http://127.0.0.1:$W_PORT/" "${LAN[@]}")
expect_403 "literal 127.0.0.1:$W_PORT" "$code"
denied_by "literal 127.0.0.1" "GET 127.0.0.1:$W_PORT at 127.0.0.1:$W_PORT" "$L_BAD"
no_conn_at_witness "literal 127.0.0.1"
ok "dst: a name resolving to a denied address (and the literal) refused 403 after DNS, no connection"

# The metadata address, watched with strace when it can attach: no connect,
# sendto or sendmsg to it.
TRACING=0
if command -v strace >/dev/null; then
	strace -f -e trace=connect,sendto,sendmsg -o "$T/strace.out" -p "$SLUICE_PID" 2>"$T/strace.err" &
	STRACE_PID=$!
	PIDS+=("$STRACE_PID")
	if wait_for 5 grep -q "attached" "$T/strace.err" && kill -0 "$STRACE_PID" 2>/dev/null; then
		TRACING=1
	else
		echo "# strace cannot attach to sluice ($(head -c 200 "$T/strace.err")): connect witness skipped"
	fi
fi
start=$(now_ms)
code=$(get "http://meta.sluice.test/latest/meta-data/" "${LAN[@]}")
ms=$(($(now_ms) - start))
expect_403 "meta.sluice.test (169.254.169.254)" "$code"
denied_by "meta.sluice.test" "GET meta.sluice.test:80 at 169.254.169.254:80" "$L_BAD"
dns_asked meta.sluice.test || fail "meta.sluice.test was denied without being resolved"
[ "$ms" -lt 3000 ] || fail "the 403 for meta.sluice.test took $ms ms (a connect attempt waiting for its timeout?)"
access_log_has " TCP_DENIED/403 .* GET http://meta\.sluice\.test/latest/meta-data/ .* HIER_NONE" ||
	fail "access log for meta.sluice.test: $(grep meta "$T/access.log")"

# Two addresses, one denied (the witness on 127.0.0.1), one allowed (::1):
# served through ::1, every time (the start address rotates).
if [ "$HAVE6" = 1 ]; then
	for i in 1 2 3 4; do
		code=$(get "http://two.sluice.test:$W_PORT/close/300" "${LAN[@]}")
		expect_served "two.sluice.test round $i" "$code" 300
	done
	access_log_has " TCP_MISS/200 .* GET http://two\.sluice\.test:$W_PORT/close/300 - HIER_DIRECT/\[\?::1" ||
		fail "access log: two.sluice.test not served by ::1: $(grep two.sluice "$T/access.log")"
	no_conn_at_witness "two.sluice.test"
	ok "a name with a denied (127.0.0.1) and an allowed (::1) address is served through ::1 only"
else
	echo "# no ::1 listener ($(cat "$T/origin6.err")): the two-address part skipped"
	code=$(get "http://notblocked.sluice.test:$ORIGIN_PORT/bytes/10" "${LAN[@]}") # something to sync on
fi
if [ "$TRACING" = 1 ]; then
	# the two.sluice.test requests connected to [::1]:W_PORT while traced:
	# the trace sees sluice's connections
	traced_v6() { grep "htons($W_PORT)" "$T/strace.out" | grep -q '"::1"'; }
	if [ "$HAVE6" = 1 ]; then
		wait_for 5 traced_v6 || fail "strace saw no connect to [::1]:$W_PORT: $(tail -n 5 "$T/strace.out")"
	fi
	kill "$STRACE_PID" 2>/dev/null
	wait "$STRACE_PID" 2>/dev/null
	untrack "$STRACE_PID"
	# c-ares sorts a name's addresses (RFC 6724) by connect()ing a UDP
	# socket to each with port 0, which sends nothing: only port 80, the
	# request's, is a connection attempt
	grep '169\.254\.169\.254' "$T/strace.out" | grep -q 'htons(80)' &&
		fail "sluice tried to reach 169.254.169.254:80: $(grep '169\.254' "$T/strace.out" | head -n 3)"
	what="no connect/sendto to it on port 80 (strace)"
else
	what="answered in $ms ms"
fi
ok "rebinding: a name resolving to 169.254.169.254 refused 403 after DNS, $what"
next_sluice

# --- a 100,000-line dstdomain list file -----------------------------------------------------------

{
	echo "# generated block list: 100,000 lines"
	seq 2 99999 | sed 's/.*/ads-&.sluice.test/'
	echo ".tracker.sluice.test"
} >"$T/block.txt"
expect_eq "$(wc -l <"$T/block.txt")" 100000 "lines in block.txt"
start_sluice "resolver 127.0.0.1:$DNS_PORT" "acl ads dstdomain \"$T/block.txt\"" \
	"http_access deny ads" "http_access allow all"
L_ADS=$(rule_line "http_access deny ads")
for name in ads-77777.sluice.test x.tracker.sluice.test; do
	code=$(get "http://$name:$ORIGIN_PORT/bytes/100")
	expect_403 "$name (listed)" "$code"
	denied_by "$name" "GET $name:$ORIGIN_PORT" "$L_ADS"
done
code=$(get "http://clean.sluice.test:$ORIGIN_PORT/bytes/100")
expect_served "clean.sluice.test (not listed)" "$code" 100
ok "dstdomain from a 100,000-line file: listed names denied, an unlisted one served"
next_sluice

# --- the loop guard -----------------------------------------------------------------------------------

P=$(free_port)
Q=$(free_port)
[ "$P" != "$Q" ] || Q=$(free_port)
LOOPCONF=("listen 127.0.0.1:$P" "listen 0.0.0.0:$Q")
# an IPv6 wildcard listener on the origin's port: IPv6 only (sluice sets
# IPV6_V6ONLY), so the origin at 127.0.0.1 on that port is no loop
[ "$HAVE6" = 1 ] && LOOPCONF+=("listen [::]:$ORIGIN_PORT")
start_sluice "${LOOPCONF[@]}" "resolver 127.0.0.1:$DNS_PORT" "connect_ports $P" "http_access allow all"
loop_is_508() {
	local what=$1
	raw_status_is "$what" "HTTP/1.1 508 Loop Detected" "loops back to sluice"
}
rawreq "$SLUICE_PORT" GET "http://127.0.0.1:$P/x"
loop_is_508 "http://127.0.0.1:$P (own listener, literal)"
wait_for 5 grep -qF "GET 127.0.0.1:$P: 127.0.0.1:$P is sluice itself: answering 508" "$T/sluice.err" ||
	fail "error log for the loop: $(tail -n 5 "$T/sluice.err")"
rawreq "$SLUICE_PORT" GET "http://self.sluice.test:$P/x"
loop_is_508 "http://self.sluice.test:$P (a name for 127.0.0.1)"
rawreq "$SLUICE_PORT" GET "http://[::ffff:127.0.0.1]:$P/x"
loop_is_508 "http://[::ffff:127.0.0.1]:$P (v4-mapped)"
rawreq "$SLUICE_PORT" GET "http://127.0.0.2:$Q/x"
loop_is_508 "http://127.0.0.2:$Q (wildcard listener 0.0.0.0:$Q)"
rawreq "$SLUICE_PORT" GET "http://self.sluice.test:$Q/x"
loop_is_508 "http://self.sluice.test:$Q (wildcard listener, by name)"
printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n' "$P" "$P" | raw "$SLUICE_PORT" 10 >"$T/r"
loop_is_508 "CONNECT 127.0.0.1:$P"
access_log_has "/508 .* GET http://127\.0\.0\.1:$P/x " ||
	fail "access log for the 508: $(tail -n 5 "$T/access.log")"
ok "loop guard: own listener by literal, name, [::ffff:127.0.0.1], a wildcard listener's 127.0.0.2, and CONNECT: 508"

# The first listener, "listen 127.0.0.1:0" (start_sluice's), has a port the
# kernel chose: the guard compares the bound addresses, so it loops too.
rawreq "$SLUICE_PORT" GET "http://127.0.0.1:$SLUICE_PORT/x"
expect_eq "$(status_of "$T/r")" "HTTP/1.1 508 Loop Detected" "GET http://127.0.0.1:$SLUICE_PORT/x (listen 127.0.0.1:0)"
ok "loop guard: the kernel-chosen port of \"listen 127.0.0.1:0\" is a loop too"

# connect() to 0.0.0.0 (or its v4-mapped form) reaches this host: the
# listener on 127.0.0.1:P takes it, so it loops like 127.0.0.1:P.
for target in "0.0.0.0:$P" "[::ffff:0.0.0.0]:$P"; do
	rawreq "$SLUICE_PORT" GET "http://$target/x"
	expect_eq "$(status_of "$T/r")" "HTTP/1.1 508 Loop Detected" "GET http://$target/x (sluice on 127.0.0.1:$P)"
done
ok "loop guard: http://0.0.0.0:P and its v4-mapped form are loops too"

# IPv6 listeners are V6ONLY: a wildcard one takes this host's IPv6
# addresses only, so an IPv4 service on the same port is no loop.
if [ "$HAVE6" = 1 ]; then
	code=$(get "http://127.0.0.1:$ORIGIN_PORT/bytes/100")
	expect_served "the origin at 127.0.0.1:$ORIGIN_PORT beside sluice's [::]:$ORIGIN_PORT" "$code" 100
	ok "an IPv6-only wildcard listener does not make the same IPv4 port a loop"
fi
sluice_alive || fail "sluice died"
next_sluice

# --- end: nothing ever reached the witness; every sluice ran through -------------------------------
no_conn_at_witness "the whole test"
fail_if_any
