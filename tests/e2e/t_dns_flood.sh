# One client must not be able to make every new name fail.  Requests for
# names that never answer, from clients that give up, leave lookups in
# flight; those must neither fill the cache (so that new names get an
# instant 502) nor push out answers still valid, and lookups nobody waits
# for any more must make room rather than pile up.  The resolver is
# dnsmasq behind tests/e2e/dnsshim -n: names under void.sluice.test never
# answer, the others do.  A 10 s dns_timeout keeps the abandoned lookups in
# flight for the whole test.  Last, dns_cache_size 0 keeps no answer.  One
# worker, so one cache.
. "$(dirname "$0")/lib.sh"

# get NAME: one request through sluice; prints "status ms".
get() {
	local t code
	t=$(now_ms)
	code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 10 -x "$PROXY" \
		"http://$1:$ORIGIN_PORT/close/100")
	echo "$code $(($(now_ms) - t))"
}
# expect_200 NAME WHAT: get NAME, which must be served at once.
expect_200() {
	local code took
	read -r code took < <(get "$1")
	[ "$code" = 200 ] || fail "$2: got $code after $took ms ($(tr -d '\r\n' <"$T/body")), want 200"
	[ "$took" -lt 2000 ] || fail "$2: served only after $took ms"
	TOOK=$took
}
# abandon N TAG: N requests at once (300 at most in flight) for
# n1.TAG.void.sluice.test ... nN.TAG.void.sluice.test, each client giving
# up (closing) after 0.5 s; returns when all have.
abandon() {
	curl -s -Z --parallel-max 300 --parallel-immediate --max-time 0.5 -x "$PROXY" \
		"http://n[1-$1].$2.void.sluice.test:$ORIGIN_PORT/" >/dev/null 2>&1
}
# reset_clients N TAG BATCH: the same, BATCH connections at a time, each reset
# (RST) 0.3 s after its request: sluice drops such a client at once, so
# nobody waits for its lookup any more.
reset_clients() {
	perl -e '
		use strict; use Socket;
		my ($port, $oport, $n, $tag, $batch) = @ARGV;
		for (my $i = 1; $i <= $n; $i += $batch) {
			my @socks;
			for my $k ($i .. ($i + $batch - 1 < $n ? $i + $batch - 1 : $n)) {
				socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
				connect($s, sockaddr_in($port, inet_aton("127.0.0.1"))) or die "connect: $!";
				my $host = "n$k.$tag.void.sluice.test:$oport";
				syswrite($s, "GET http://$host/ HTTP/1.1\r\nHost: $host\r\n\r\n");
				push @socks, $s;
			}
			select(undef, undef, undef, 0.3);
			for my $s (@socks) {
				setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0));
				close($s);
			}
		}' "$SLUICE_PORT" "$ORIGIN_PORT" "$@"
}
# names TAG: distinct names of TAG whose A query reached the shim
names() {
	grep -o "type=1 name=n[0-9]*\\.$1\\.void" "$SHIM_LOG" | sort -u | wc -l
}

{
	for n in 0 1 2 3 4 5; do echo "127.0.0.1 good$n.sluice.test"; done
} >"$T/hosts"
start_dnsmasq "$T/hosts" 300
start_shim -u "$DNS_PORT" -d 0 -n void.sluice.test
start_origin
start_sluice "workers 1" "resolver 127.0.0.1:$SHIM_PORT" "dns_cache_size 8" "dns_timeout 10s"

# --- an answer to keep ------------------------------------------------------------------
expect_200 good0.sluice.test "good0.sluice.test"
expect_eq "$(dns_queries good0.sluice.test)" 1 "A queries for good0"

# --- 40 abandoned lookups (five times the cache) do not block a new name ---------------------
abandon 40 a
expect_200 good1.sluice.test "a new name after 40 abandoned lookups"
expect_eq "$(dns_queries good1.sluice.test)" 1 "A queries for good1"
expect_eq "$(names a)" 40 "abandoned names whose lookup went out"
ok "a new name resolves while 40 abandoned lookups are in flight ($TOOK ms)"

# --- the answer held before is still served from the cache ------------------------------------------
expect_200 good0.sluice.test "good0.sluice.test again"
expect_eq "$(dns_queries good0.sluice.test)" 1 "A queries for good0 after the abandoned lookups (its answer was evicted)"
ok "a usable answer is not evicted for lookups in flight"

# --- 300 more ------------------------------------------------------------------------------------
abandon 300 b
expect_200 good2.sluice.test "a new name after 340 abandoned lookups"
ok "a new name resolves while 340 abandoned lookups are in flight ($TOOK ms)"
sluice_alive || fail "sluice died"

# --- lookups nobody waits for make room -------------------------------------------------------------
# max_connections 100: at most 100 * 4/3 + 256 = 389 lookups in flight.
stop_sluice
untrack "$SLUICE_PID"
start_sluice "workers 1" "resolver 127.0.0.1:$SHIM_PORT" "dns_cache_size 8" "dns_timeout 10s" \
	"max_connections 100"
expect_200 good3.sluice.test "good3.sluice.test"
reset_clients 480 c 80
# (a few queries of such a burst may be lost on the way: more than the 389 is what counts)
[ "$(names c)" -gt 400 ] || fail "only $(names c) lookups of reset clients went out"
expect_200 good4.sluice.test "a new name after 480 lookups whose clients were reset"
grep -q "nobody waits for" "$T/sluice.err" || fail "the error log does not say idle lookups were cancelled"
expect_200 good3.sluice.test "good3.sluice.test again"
expect_eq "$(dns_queries good3.sluice.test)" 1 "A queries for good3 (its answer was evicted)"
ok "lookups nobody waits for are cancelled to make room ($(grep -o 'dns: .*nobody waits for' "$T/sluice.err" | head -n1))"
sluice_alive || fail "sluice died"

# --- dns_cache_size 0: nothing kept --------------------------------------------------------------
stop_sluice
untrack "$SLUICE_PID"
start_sluice "workers 1" "resolver 127.0.0.1:$SHIM_PORT" "dns_cache_size 0"
expect_200 good5.sluice.test "good5.sluice.test with dns_cache_size 0"
expect_200 good5.sluice.test "good5.sluice.test again with dns_cache_size 0"
expect_eq "$(dns_queries good5.sluice.test)" 2 "A queries for two requests with dns_cache_size 0"
ok "dns_cache_size 0 keeps no answer"
sluice_alive || fail "sluice died"
