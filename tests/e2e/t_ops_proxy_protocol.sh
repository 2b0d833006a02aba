# PROXY protocol behind a real HAProxy (TCP mode): "listen ... proxy-protocol"
# takes the v1 (send-proxy) and v2 (send-proxy-v2) headers from the sources
# in proxy_protocol_from, and the client address they carry is the one the
# access log, the ACLs and the per-client limit use.  Anyone else is closed
# and logged; a malformed header is closed and logged; a v2 header split
# across reads still works; a LOCAL header (a balancer's health check) keeps
# the connection's own address.
. "$(dirname "$0")/lib.sh"
command -v haproxy >/dev/null || fail "haproxy missing (TEST_DEBS)"

start_origin
start_sluice "listen 127.0.0.1:0 proxy-protocol" "proxy_protocol_from 127.0.0.1" \
	"acl banned src 127.0.0.6" "http_access deny banned" "http_access allow all" \
	"max_connections_per_client 1"
# the second line's port: the proxy-protocol listener
PP_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) proxy-protocol.*/\1/p' "$T/sluice.err" | head -n1)
[ -n "$PP_PORT" ] || fail "no proxy-protocol listener logged"

# HAProxy in front: V1_PORT sends v1, V2_PORT sends v2, both to PP_PORT
start_haproxy() {
	local try
	for try in 1 2 3 4 5; do
		V1_PORT=$((20000 + RANDOM % 30000)) V2_PORT=$((20000 + RANDOM % 30000))
		cat >"$T/haproxy.cfg" <<EOF
global
	maxconn 200
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
frontend v1
	bind 127.0.0.1:$V1_PORT
	default_backend v1
backend v1
	server sluice 127.0.0.1:$PP_PORT send-proxy
frontend v2
	bind 127.0.0.1:$V2_PORT
	default_backend v2
backend v2
	server sluice 127.0.0.1:$PP_PORT send-proxy-v2
EOF
		haproxy -f "$T/haproxy.cfg" -db 2>"$T/haproxy.err" &
		HAPROXY_PID=$!
		listening() { ss -ltn | grep -q "127.0.0.1:$V2_PORT "; }
		if wait_for 5 listening && kill -0 "$HAPROXY_PID" 2>/dev/null; then
			PIDS+=("$HAPROXY_PID")
			return 0
		fi
		kill "$HAPROXY_PID" 2>/dev/null
		wait "$HAPROXY_PID" 2>/dev/null
	done
	fail "haproxy did not start: $(cat "$T/haproxy.err")"
}
start_haproxy

# via PORT FROM PATH: a GET through HAProxy's PORT, the client bound to FROM;
# prints the status code
via() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface "$2" -x "http://127.0.0.1:$1" "$ORIGIN$3"; }

expect_eq "$(via "$V1_PORT" 127.0.0.5 /bytes/101)" 200 "v1: a request"
expect_eq "$(via "$V2_PORT" 127.0.0.7 /bytes/102)" 200 "v2: a request"
access_log_has "GET $ORIGIN/bytes/102 " || fail "the requests are not logged"
grep -q "127.0.0.5 TCP_MISS/200 [0-9]* GET $ORIGIN/bytes/101 " "$T/access.log" ||
	fail "v1: the access log does not show the real client: $(grep bytes/101 "$T/access.log")"
grep -q "127.0.0.7 TCP_MISS/200 [0-9]* GET $ORIGIN/bytes/102 " "$T/access.log" ||
	fail "v2: the access log does not show the real client: $(grep bytes/102 "$T/access.log")"
ok "v1 and v2 through HAProxy: the access log shows the real clients"

expect_eq "$(via "$V1_PORT" 127.0.0.6 /bytes/103)" 403 "v1: a banned client"
expect_eq "$(via "$V2_PORT" 127.0.0.6 /bytes/104)" 403 "v2: a banned client"
ok "the ACLs see the real client (src 127.0.0.6 denied behind HAProxy)"

# max_connections_per_client 1 counts the real client, not HAProxy: one
# client holds a connection open, another still gets in, the first's second
# connection is closed
exec {HOLD}<>/dev/tcp/127.0.0.1/"$V2_PORT" || fail "connect to haproxy"
printf 'GET %s/bytes/5 HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n' "$ORIGIN" "$ORIGIN_PORT" >&"$HOLD"
IFS= read -r -t 5 -u "$HOLD" line || fail "the held connection got no answer"
expect_eq "$(via "$V2_PORT" 127.0.0.8 /bytes/105)" 200 "another client beside the held connection"
access_log_has "GET $ORIGIN/bytes/5 " || fail "the held connection's request is not logged"
expect_eq "$(grep " GET $ORIGIN/bytes/5 " "$T/access.log" | awk '{print $3}')" 127.0.0.1 "the held connection's client"
expect_eq "$(via "$V2_PORT" 127.0.0.1 /bytes/106)" 000 "the held client's second connection"
wait_for 5 grep -q "client 127.0.0.1:[0-9]* (via 127.0.0.1:[0-9]*): over max_connections_per_client: closed" "$T/sluice.err" ||
	fail "the per-client limit is not applied to the real client"
exec {HOLD}>&-
ok "max_connections_per_client counts the clients behind HAProxy"

# straight to the listener from a source not in proxy_protocol_from
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface 127.0.0.9 -x "http://127.0.0.1:$PP_PORT" "$ORIGIN/bytes/1")
expect_eq "$code" 000 "a client not in proxy_protocol_from"
wait_for 5 grep -q "client 127.0.0.9:[0-9]*: not in proxy_protocol_from: closed" "$T/sluice.err" ||
	fail "the untrusted source is not logged"
ok "a source not in proxy_protocol_from is closed and logged"

# from a trusted source, but no header: plain HTTP
out=$(printf 'GET %s/bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n' "$ORIGIN" | raw "$PP_PORT")
[ -z "$out" ] || fail "a request without a PROXY header was answered: $out"
wait_for 5 grep -q "client 127.0.0.1:[0-9]*: not a PROXY protocol header: closed" "$T/sluice.err" ||
	fail "the malformed header is not logged: $(tail -n 3 "$T/sluice.err")"
out=$(printf 'PROXY TCP4 127.0.0.1 127.0.0.1 99999 3128\r\n' | raw "$PP_PORT")
[ -z "$out" ] || fail "a bad v1 header was answered: $out"
wait_for 5 grep -q "client 127.0.0.1:[0-9]*: v1: .*: closed" "$T/sluice.err" || fail "the bad v1 header is not logged"
ok "malformed headers are closed and logged"

# a v2 header split across reads (the first 7 bytes, a pause, the rest and
# the request), claiming 127.0.0.77; and a v2 LOCAL header (a health check)
v2() { # CMD SRC: a v2 TCP4 header for SRC:4242 -> 127.0.0.1:3128
	perl -e 'my ($cmd, $src) = @ARGV; my @a = split /\./, $src;
		print "\r\n\r\n\0\r\nQUIT\n", chr(0x20 | $cmd), chr(0x11), pack("n", 12),
		pack("C4", @a), pack("C4", 127, 0, 0, 1), pack("nn", 4242, 3128);' "$1" "$2"
}
printf -v req 'GET %s/bytes/107 HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$ORIGIN" "$ORIGIN_PORT"
hdr=$(v2 1 127.0.0.77 | od -An -tx1 | tr -d ' \n')
out=$(timeout 5 perl -MIO::Socket::INET -e '
	my ($port, $hex, $req) = @ARGV; my $h = pack("H*", $hex);
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die "connect: $!";
	$s->autoflush(1);
	print $s substr($h, 0, 7);
	select(undef, undef, undef, 0.2);
	print $s substr($h, 7), $req;
	local $/; print <$s>;' "$PP_PORT" "$hdr" "$req")
case $out in "HTTP/1.1 200 OK"*) ;; *) fail "a split v2 header: $out";; esac
access_log_has "127.0.0.77 TCP_MISS/200 [0-9]* GET $ORIGIN/bytes/107 " || fail "the split v2 header's client is not logged"
ok "a v2 header split across reads: served, logged as 127.0.0.77"
out=$( { v2 0 127.0.0.78; printf 'GET %s/bytes/108 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$ORIGIN"; } | raw "$PP_PORT")
case $out in "HTTP/1.1 200 OK"*) ;; *) fail "a v2 LOCAL header: $out";; esac
access_log_has " 127.0.0.1 TCP_MISS/200 [0-9]* GET $ORIGIN/bytes/108 " || fail "a LOCAL header's connection is not logged with its own address"
ok "a v2 LOCAL header: served with the connection's own address"
