# Pipe memory of stalled tunnels stays within tunnel_pipe_memory.
#
# 40 CONNECT tunnels whose origin never reads (a listener that never
# accepts: the kernel takes the handshake and a receive buffer's worth,
# then the window closes) while their clients keep sending: each client ->
# origin direction stalls with bytes in its pipe.  With one worker and
# tunnel_pipe_memory 2m:
#   - the capacity of all of sluice's pipes is at most 2 MiB plus one page
#     per pipe (pipes beyond the budget get one page), where 1 MiB pipes
#     made it 40 MiB before;
#   - the bytes they hold are within that too;
#   - meanwhile plain requests and a fresh tunnel moving 16 MiB each way
#     are served, byte for byte;
#   - once the stalled tunnels go, what sluice keeps idle is within the
#     budget (and a page for each of the 32 it may keep).
#
# Pipe sizes are read from outside: /proc/PID/fd/N of a pipe opens that
# same pipe, and F_GETPIPE_SZ and FIONREAD on it give its capacity and the
# bytes in it (a few lines of perl, perl-base being on every Debian).
# Kernel-wide counters (/proc/meminfo) would also see every other process
# on a shared machine; a debug counter would only say what sluice believes.
. "$(dirname "$0")/lib.sh"

N=40
BUDGET=$((2 << 20))
PAGE=$(getconf PAGESIZE)

# pipe_census PID: "PIPES CAPACITY BYTES BIGGEST" over the pipes PID
# holds (each pipe once, whichever of its ends; stdio left out: a test
# runner may hand sluice a pipe there).
pipe_census() {
	perl -e '
		use strict; use Fcntl;
		my ($pid) = @ARGV; my %seen; my ($n, $cap, $bytes, $big) = (0, 0, 0, 0);
		for my $fd (glob "/proc/$pid/fd/*") {
			my ($num) = $fd =~ m{/(\d+)$}; next if $num <= 2;
			my $l = readlink $fd or next;
			next unless $l =~ /^pipe:\[(\d+)\]$/; next if $seen{$1}++;
			sysopen(my $h, $fd, O_RDONLY | O_NONBLOCK) or next;
			my $sz = fcntl($h, 1032, 0) or next;        # F_GETPIPE_SZ
			my $b = pack("i", 0); ioctl($h, 0x541B, $b);  # FIONREAD
			$n++; $cap += $sz; $bytes += unpack("i", $b); $big = $sz if $sz > $big;
			close $h;
		}
		print "$n $cap $bytes $big\n";' "$1"
}

# The origin that never reads: it listens and never accepts.
perl -MIO::Socket::INET -e '
	my $l = IO::Socket::INET->new(Listen => 128, LocalAddr => "127.0.0.1", LocalPort => 0, ReuseAddr => 1)
		or die "listen: $!";
	open(my $f, ">", "$ARGV[0].tmp") or die; print $f $l->sockport, "\n"; close $f;
	rename "$ARGV[0].tmp", $ARGV[0]; sleep 120;' "$T/sink.port" 2>"$T/sink.err" &
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_for 5 test -s "$T/sink.port" || fail "the never-reading origin did not start: $(cat "$T/sink.err")"
SINK_PORT=$(cat "$T/sink.port")
start_peer -o both -s 16M -r 16M -T 50 # a healthy origin for the fresh tunnel
BOTH_PORT=$PEER_PORT BOTH_REP=$PEER_REPORT
start_origin
start_sluice "workers 1" "connect_ports $SINK_PORT $BOTH_PORT" "tunnel_pipe_memory 2m"

# --- the stalled tunnels -----------------------------------------------------------------------
stalled=()
for i in $(seq "$N"); do
	"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$SINK_PORT" -o send -s 256M -r -1 -T 55 \
		>"$T/stalled.$i" 2>&1 &
	stalled+=($!)
	PIDS+=($!)
done
# every tunnel up (its client had the 200) ...
up() { [ "$(grep -l '^status: HTTP/1.1 200' "$T"/stalled.* 2>/dev/null | wc -l)" -eq "$N" ]; }
wait_for 20 up || fail "$(grep -l '^status: HTTP/1.1 200' "$T"/stalled.* | wc -l) of $N stalled tunnels came up"
# ... and every direction stalled: a pipe each, and nothing moving any more
settled() {
	local a b
	read -r a < <(pipe_census "$SLUICE_PID")
	sleep 0.5
	read -r b < <(pipe_census "$SLUICE_PID")
	[ "${a%% *}" -ge "$N" ] && [ "$a" = "$b" ]
}
wait_for 30 settled || fail "the tunnels did not settle: $(pipe_census "$SLUICE_PID") (pipes capacity bytes biggest)"
read -r npipes cap bytes big < <(pipe_census "$SLUICE_PID")
echo "# $N stalled tunnels: $npipes pipes, capacity $((cap >> 10)) KiB, holding $((bytes >> 10)) KiB, biggest $((big >> 10)) KiB"
limit=$((BUDGET + npipes * PAGE))
[ "$cap" -le "$limit" ] ||
	fail "pipe capacity $((cap >> 10)) KiB with $N stalled tunnels: over the budget ($((BUDGET >> 10)) KiB) and a page per pipe ($((limit >> 10)) KiB)"
[ "$bytes" -le "$cap" ] || fail "pipes hold $bytes bytes, more than their capacity $cap"
[ "$bytes" -gt 0 ] || fail "no bytes in sluice's pipes: the tunnels did not stall in sluice"
ok "$N stalled tunnels: pipes of $((cap >> 10)) KiB in all (budget $((BUDGET >> 10)) KiB + a page per pipe), holding $((bytes >> 10)) KiB"

# --- everyone else is served meanwhile ---------------------------------------------------------
"$ORIGIN_BIN" --gen 100000 >"$T/want"
for i in 1 2 3 4 5; do
	code=$(curl -s -m 10 -x "$PROXY" -o "$T/got" -w '%{http_code}' "$ORIGIN/bytes/100000")
	expect_eq "$code" 200 "request $i beside the stalled tunnels"
	cmp -s "$T/got" "$T/want" || fail "request $i: the body differs"
done
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$BOTH_PORT" -o both -s 16M -r 16M -T 40 >"$T/fresh" 2>&1 ||
	fail "a fresh tunnel beside the stalled ones: $(cat "$T/fresh")"
grep -q "^done recv=16777216 ok .* sent=16777216 eof=1 OK" "$T/fresh" || fail "fresh tunnel: $(cat "$T/fresh")"
wait_for 10 grep -q "^done conn=1 recv=16777216 ok .* sent=16777216 eof=1 OK" "$BOTH_REP" ||
	fail "fresh tunnel, origin side: $(cat "$BOTH_REP")"
ok "plain requests and a fresh tunnel (16 MiB each way) served intact beside them"

# --- afterwards --------------------------------------------------------------------------------
# The clients go, then the origin (a client's EOF waits behind the bytes
# in its pipe; the origin's going resets the connections sluice made).
for p in "${stalled[@]}" "$SINK_PID"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; untrack "$p"; done
idle_within() {
	local n c b g
	read -r n c b g < <(pipe_census "$SLUICE_PID")
	[ "$b" -eq 0 ] && [ "$c" -le $((BUDGET + 32 * PAGE)) ]
}
wait_for 15 idle_within || fail "after the tunnels went: $(pipe_census "$SLUICE_PID") (pipes capacity bytes biggest)"
read -r npipes cap bytes big < <(pipe_census "$SLUICE_PID")
ok "after they went: $npipes idle pipes, $((cap >> 10)) KiB, within the budget (+ a page each)"
sluice_alive || fail "sluice died"
