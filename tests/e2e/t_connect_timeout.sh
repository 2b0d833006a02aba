# An origin address that never completes the handshake: connect_timeout
# gives 504, and when the name has another address, that one serves the
# request instead.
. "$(dirname "$0")/lib.sh"
start_origin   # 127.0.0.1:ORIGIN_PORT

# A listener on [::1], same port, that never accepts; once its accept queue
# is full the kernel drops further SYNs, so connects to it hang.  (IPv6 for
# the silent one: address sorting puts ::1 before 127.0.0.1, so it is the
# address tried first.)
perl -MIO::Socket::IP -e '
	my $s = IO::Socket::IP->new(Listen => 1, LocalHost => "::1", LocalPort => $ARGV[0],
				    ReuseAddr => 1) or die "listen: $@";
	open(my $f, ">", $ARGV[1]) or die; print $f "up\n"; close $f;
	sleep 600;' "$ORIGIN_PORT" "$T/hole.up" 2>"$T/hole.err" &
PIDS+=($!)
wait_for 5 test -s "$T/hole.up" || skip "no IPv6 loopback: $(cat "$T/hole.err")"
# Hold connections until the accept queue is full: a probe connect then
# no longer completes (each holder is bounded, and stopped at exit).
full() { ! timeout 1 bash -c "exec 3<>/dev/tcp/::1/$ORIGIN_PORT" 2>/dev/null; }
for i in 1 2 3 4 5 6; do
	full && break
	timeout 60 bash -c "exec 3<>/dev/tcp/::1/$ORIGIN_PORT && sleep 60" 2>/dev/null &
	PIDS+=($!)
	sleep 0.2 # lets the holder connect before the next probe (a bounded poll)
done
full || fail "the silent listener still completes handshakes"

{
	echo "::1 hole.sluice.test"
	echo "::1 half.sluice.test"
	echo "127.0.0.1 half.sluice.test"
} >"$T/hosts"
start_dnsmasq "$T/hosts" 60
start_sluice "resolver 127.0.0.1:$DNS_PORT" "connect_timeout 1s"

t0=$(now_ms)
code=$(curl -s -o "$T/body" -w '%{http_code}' -m 10 -x "$PROXY" "http://hole.sluice.test:$ORIGIN_PORT/bytes/10")
ms=$(($(now_ms) - t0))
expect_eq "$code" 504 "status when the only address never answers"
grep -q "connect timed out" "$T/body" || fail "504 body does not name the cause: $(cat "$T/body")"
[ "$ms" -ge 900 ] && [ "$ms" -lt 4000 ] || fail "504 after $ms ms, want about connect_timeout (1 s)"
ok "silent address -> 504 after connect_timeout ($ms ms)"

t0=$(now_ms)
body=$(curl -sf -m 10 -x "$PROXY" "http://half.sluice.test:$ORIGIN_PORT/bytes/10") || fail "request with a second address failed"
ms=$(($(now_ms) - t0))
expect_eq "$body" "abcdefghij" "body from the second address"
[ "$ms" -ge 900 ] || fail "answered in $ms ms: the silent address was not tried first"
ok "silent first address skipped after connect_timeout, second served ($ms ms)"
