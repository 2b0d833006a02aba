# A name whose first address is silent (a listener whose accept queue is
# full: the kernel drops further SYNs, so connects to it hang) and whose
# second serves: the first request pays connect_timeout once, and the
# requests after it go straight to the working address, since the silent
# one is remembered and tried last.  One worker: the memory is a worker's.
. "$(dirname "$0")/lib.sh"
start_origin # 127.0.0.1:ORIGIN_PORT

# the hole: 127.0.0.2, same port, a listener that never accepts
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.2", LocalPort => $ARGV[0],
				      ReuseAddr => 1) or die "listen: $@";
	open(my $f, ">", $ARGV[1]) or die; print $f "up\n"; close $f;
	sleep 600;' "$ORIGIN_PORT" "$T/hole.up" 2>"$T/hole.err" &
PIDS+=($!)
wait_for 5 test -s "$T/hole.up" || fail "the silent listener did not start: $(cat "$T/hole.err")"
# Hold connections until the accept queue is full: a probe connect then
# no longer completes (each holder is bounded, and stopped at exit).
full() { ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.2/$ORIGIN_PORT" 2>/dev/null; }
for i in 1 2 3 4 5 6; do
	full && break
	timeout 60 bash -c "exec 3<>/dev/tcp/127.0.0.2/$ORIGIN_PORT && sleep 60" 2>/dev/null &
	PIDS+=($!)
	sleep 0.2 # lets the holder connect before the next probe (a bounded poll)
done
full || fail "the silent listener still completes handshakes"

printf '127.0.0.2 hole.sluice.test\n127.0.0.1 hole.sluice.test\n' >"$T/hosts"
start_dnsmasq_opts "$T/hosts" 60 --no-round-robin # the silent address first, every time
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT" "connect_timeout 1s"

# get PATH: one request through sluice; prints "CODE MS"
get() {
	local t0 code
	t0=$(now_ms)
	code=$(curl -s -o "$T/body" -w '%{http_code}' -m 10 -x "$PROXY" "http://hole.sluice.test:$ORIGIN_PORT$1")
	echo "$code $(($(now_ms) - t0))"
}
read -r code ms < <(get /close/10)
expect_eq "$code" 200 "first request"
[ "$ms" -ge 900 ] || fail "first request answered in $ms ms: the silent address was not tried first"
ok "first request: silent address timed out, the second served ($ms ms)"

# /close/: each request needs a new connection, so each one chooses
for k in 1 2 3 4 5; do
	read -r code ms < <(get /close/10)
	expect_eq "$code" 200 "request $((k + 1))"
	[ "$ms" -lt 500 ] || fail "request $((k + 1)) took $ms ms: the silent address cost connect_timeout again"
done
ok "five later requests went straight to the working address"
sluice_alive || fail "sluice died"
