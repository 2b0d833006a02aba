# Clients that vanish with a reset (SO_LINGER 0) mid-transfer, 30 at a time,
# while a control set of clients fetches from a healthy origin:
#   - mid-download, from a fast origin (200 MB) and a slow one;
#   - mid-upload, to an origin that reads the body;
#   - mid-download through a CONNECT tunnel (the peer floods);
# then, with their own control set:
#   - mid-upload to an origin that does not read the body (the upload backs
#     up into sluice, whose buffer is full when the reset comes);
#   - the same through a CONNECT tunnel.
# Each time sluice must close the origin side too, within seconds: it
# holds no connection to that origin any more (5 s) and the origin sees
# its connection end (10 s; its socket count, or the tunnel peer's report).
# For the origin that does not read, a quiet close() is not enough: the FIN
# would wait behind megabytes of unsent upload, and the origin would hold
# the connection for minutes.  After each part: sluice alive, every
# control request answered, descriptors back to the baseline and RSS
# within 1 MiB of the one after a warm-up.
. "$(dirname "$0")/lib.sh"
command -v ss >/dev/null || skip "ss missing"
N=30

start_origin
HEALTHY=$ORIGIN
start_origin
FAST=$ORIGIN FAST_PORT=$ORIGIN_PORT FAST_PID=$ORIGIN_PID
start_origin
SLOW=$ORIGIN SLOW_PORT=$ORIGIN_PORT SLOW_PID=$ORIGIN_PID
start_origin
READER=$ORIGIN READER_PORT=$ORIGIN_PORT READER_PID=$ORIGIN_PID
start_origin
STALL_PORT=$ORIGIN_PORT STALL_PID=$ORIGIN_PID
start_origin
TSTALL_PORT=$ORIGIN_PORT TSTALL_PID=$ORIGIN_PID
start_peer -o send -s 1G -r -1 -T 40 # floods the client, reads only once it has sent
FLOOD_PORT=$PEER_PORT FLOOD_REP=$PEER_REPORT
start_sluice "workers 2" "upstream_idle_timeout 2s" "connect_ports $FLOOD_PORT $TSTALL_PORT"
read -r fd0 sock0 pipe0 < <(fd_census "$SLUICE_PID")
base=$(nonpipe_fds "$SLUICE_PID")
echo "# baseline: $fd0 fds ($sock0 sockets, $pipe0 pipes)"
rss_slack

# socks PID: sockets PID holds (an origin: its listener, plus one per connection)
socks() {
	local sockets
	read -r _ sockets _ < <(fd_census "$1")
	echo "$sockets"
}
socks_is() { [ "$(socks "$1")" -eq "$2" ]; }

{ echo "$RST_PERL"; cat <<'PERL'; } >"$T/rst.pl"
# rst.pl PROXYPORT MODE ARGS: one client that resets its connection to the proxy.
#   upload HOST PATH CLEN SEND     POST with Content-Length CLEN, SEND bytes of it
#                                  (0: until the proxy takes no more for 1 s), reset
#   download HOST PATH RECV        GET, RECV bytes of the answer, reset
#   tunnel-upload HOST:PORT CLEN   CONNECT, then a POST /stall-body inside it as
#                                  with upload ... 0, reset
#   tunnel-download HOST:PORT RECV CONNECT, RECV bytes from the peer, reset
# Prints "status=... sent=N recv=M".
my ($port, $mode, @a) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Timeout => 5) or die "connect: $!";
$s->blocking(0);
my $sel = IO::Select->new($s);
my $end = time + 20;
my ($sent, $recv, $status, $buf) = (0, 0, "-", "");
sub put {
	my $d = shift;
	while (length $d) {
		die "timed out sending\n" unless time < $end && $sel->can_write($end - time);
		my $n = syswrite($s, $d);
		die "send: $!\n" unless defined $n || $!{EAGAIN};
		substr($d, 0, $n, "") if $n;
	}
}
sub take {	# read until $want bytes came; the head's status line is noted
	my $want = shift;
	my $got = 0;
	while ($got < $want) {
		die "timed out reading ($got of $want)\n" unless time < $end && $sel->can_read($end - time);
		my $n = sysread($s, $buf, 65536);
		die "read: " . (defined $n ? "EOF" : $!) . " after $got\n" unless $n || $!{EAGAIN};
		next unless $n;
		$status = $1 if $status eq "-" && $buf =~ /\A(HTTP\/1\.1 \d{3})/;
		$got += $n;
	}
	$recv += $got;
}
sub connect_through {
	put("CONNECT $_[0] HTTP/1.1\r\nHost: $_[0]\r\n\r\n");
	my $head = "";
	while ($head !~ /\r\n\r\n/) {
		die "no CONNECT answer\n" unless time < $end && $sel->can_read($end - time);
		my $n = sysread($s, my $b, 1);
		die "CONNECT: EOF\n" if defined $n && $n == 0;
		$head .= $b if $n;
	}
	die "CONNECT refused: $head\n" unless $head =~ /\AHTTP\/1\.1 200 /;
	$status = "CONNECT 200";
}
sub upload {
	my ($clen, $amount) = @_;
	my $chunk = "u" x 65536;
	while ($amount == 0 || $sent < $amount) {
		last if $sent >= $clen - 65536 || time >= $end;
		last unless $sel->can_write($amount ? $end - time : 1);
		my $n = syswrite($s, $chunk, $amount ? ($amount - $sent < 65536 ? $amount - $sent : 65536) : 65536);
		die "send: $!\n" unless defined $n || $!{EAGAIN};
		$sent += $n if $n;
	}
}
if ($mode eq "upload") {
	my ($host, $path, $clen, $amount) = @a;
	put("POST http://$host$path HTTP/1.1\r\nHost: $host\r\nContent-Length: $clen\r\n\r\n");
	upload($clen, $amount);
} elsif ($mode eq "download") {
	my ($host, $path, $want) = @a;
	put("GET http://$host$path HTTP/1.1\r\nHost: $host\r\n\r\n");
	take($want);
} elsif ($mode eq "tunnel-upload") {
	my ($hp, $clen) = @a;
	connect_through($hp);
	put("POST /stall-body HTTP/1.1\r\nHost: $hp\r\nContent-Length: $clen\r\n\r\n");
	upload($clen, 0);
} elsif ($mode eq "tunnel-download") {
	my ($hp, $want) = @a;
	connect_through($hp);
	take($want);
} else {
	die "mode?\n";
}
rst($s);
print "status=$status sent=$sent recv=$recv\n";
PERL

# rst NAME ARGS... I: one rst.pl client, its output in $T/NAME.I
rst() {
	local name=$1 i=${*: -1}
	set -- "${@:2:$#-2}"
	timeout 30 perl "$T/rst.pl" "$SLUICE_PORT" "$@" >"$T/$name.$i" 2>&1
}
# expect_all NAME PATTERN WHAT: every client's output matches PATTERN
expect_all() {
	local i
	for i in $(seq "$N"); do
		grep -qE -- "$2" "$T/$1.$i" || fail "$3, client $i: $(cat "$T/$1.$i")"
	done
}
# origin_let_go WHAT PORT PID BASE: sluice holds no connection to the origin
# on PORT (within 5 s: sluice hears of a reset at once), and that origin
# (PID) is back to its BASE sockets within 10 s (an origin that was reading
# a body may linger 2 s on its own): it saw its connections end.
origin_let_go() {
	local what=$1 port=$2 pid=$3 want=$4
	if ! wait_for 5 conns_to_is "$SLUICE_PID" "$port" 0; then
		fail_later "$what: sluice still holds $(conns_to "$SLUICE_PID" "$port") connections to the origin 5 s after its clients reset: $(ss -Htanpo dst "127.0.0.1:$port" | head -n 3)"
		return 1
	fi
	if ! wait_for 10 socks_is "$pid" "$want"; then
		fail_later "$what: the origin still holds $(socks "$pid") sockets (baseline $want) 10 s after the resets"
		return 1
	fi
	return 0
}
# settled WHAT: descriptors back to the baseline (10 s), RSS within 1 MiB
# of the warm-up's: buffers and sessions come from free-lists that the
# warm-up already grew, so only a leak, or an unlucky page or two of malloc
# arena, can add; 1 MiB is 64 16-KiB buffers, fewer than the faulted
# exchanges of one part, so a buffer leaked per exchange would show.
settled() {
	local what=$1 total sockets pipes rss
	wait_for 10 fds_at_most "$SLUICE_PID" "$base" ||
		fail_later "$what: $(nonpipe_fds "$SLUICE_PID") descriptors (not counting pipes) 10 s after, baseline $base: $(fd_kinds "$SLUICE_PID")"
	read -r total sockets pipes < <(fd_census "$SLUICE_PID")
	rss=$(rss_kb "$SLUICE_PID")
	echo "# after $what: $total fds ($sockets sockets, $pipes pipes, $(full_pipes "$SLUICE_PID") of them not empty), RSS $rss kB (after the warm-up $rss0 kB)"
	# idle pooled pipes are empty (at most 32 a worker); a tunnel reset
	# with bytes in its pipe must close that pipe
	[ "$pipes" -le $((pipe0 + 2 * 32 * 2)) ] || fail_later "$what: $pipes pipe fds, more than the pools can hold"
	full=$(full_pipes "$SLUICE_PID")
	[ "$full" = 0 ] || [ "$full" = "?" ] || fail_later "$what: $full pipes with bytes in them left in sluice"
	[ "$rss" -le $((rss0 + RSS_SLACK_KB)) ] || fail_later "$what: RSS $rss kB, $rss0 kB after the warm-up"
}

fast0=$(socks "$FAST_PID") slow0=$(socks "$SLOW_PID") reader0=$(socks "$READER_PID")
stall0=$(socks "$STALL_PID") tstall0=$(socks "$TSTALL_PID")

control_start 4 "$HEALTHY/bytes/30000" 30000

# --- warm-up: the same transfers, completed, against the healthy origin -------------------
warm() {
	curl -s -m 20 -x "$PROXY" -o /dev/null "$HEALTHY/bytes/3000000" -o /dev/null "$HEALTHY/slowbody/20000"
	"$ORIGIN_BIN" --gen 2000000 | curl -s -m 20 -x "$PROXY" -o /dev/null --data-binary @- "$HEALTHY/echo"
}
fan_out "$N" warm
wait_for 10 fds_at_most "$SLUICE_PID" $((base + 8)) || fail "after the warm-up: $(nonpipe_fds "$SLUICE_PID") fds, baseline $base"
rss0=$(rss_kb "$SLUICE_PID")
echo "# after the warm-up: RSS $rss0 kB"

# --- mid-download ------------------------------------------------------------------------------
fan_out "$N" rst dl download "127.0.0.1:$FAST_PORT" /bytes/200000000 1048576
expect_all dl "^status=HTTP/1.1 200 sent=0 recv=[0-9]{7,}" "reset mid-download (fast origin)"
origin_let_go "reset mid-download (fast origin)" "$FAST_PORT" "$FAST_PID" "$fast0" &&
	ok "$N clients reset after 1 MiB of a 200 MB download: sluice and the origin let go"
fan_out "$N" rst sdl download "127.0.0.1:$SLOW_PORT" /slowbody/3000000 20000
expect_all sdl "^status=HTTP/1.1 200 sent=0 recv=[0-9]{5,}" "reset mid-download (slow origin)"
origin_let_go "reset mid-download (slow origin)" "$SLOW_PORT" "$SLOW_PID" "$slow0" &&
	ok "$N clients reset after 20 kB of a slow download: sluice and the origin let go"

# --- mid-upload, to an origin that reads --------------------------------------------------------
fan_out "$N" rst up upload "127.0.0.1:$READER_PORT" /echo 8000000 1048576
expect_all up "^status=- sent=1048576 recv=0" "reset mid-upload (reading origin)"
origin_let_go "reset mid-upload (reading origin)" "$READER_PORT" "$READER_PID" "$reader0" &&
	ok "$N clients reset after 1 MiB of an 8 MB upload: sluice and the origin let go"

# --- mid-download through a tunnel --------------------------------------------------------------
fan_out "$N" rst tdl tunnel-download "127.0.0.1:$FLOOD_PORT" 1048576
expect_all tdl "^status=CONNECT 200 sent=0 recv=[0-9]{7,}" "reset mid-download (tunnel)"
if ! wait_for 5 conns_to_is "$SLUICE_PID" "$FLOOD_PORT" 0; then
	fail_later "reset mid-download (tunnel): sluice still holds $(conns_to "$SLUICE_PID" "$FLOOD_PORT") tunnels to the peer 5 s after"
elif ! wait_for 10 lines_ge "$N" "^done " "$FLOOD_REP"; then
	fail_later "reset mid-download (tunnel): the peer saw only $(grep -c "^done " "$FLOOD_REP") of $N tunnels end"
else
	ok "$N clients reset a tunnel after 1 MiB of a flood: sluice closed the peer's side, the peer saw all $N end"
fi

control_stop 3
ok "control clients on the healthy origin: $CONTROL_ROUNDS requests, all 200 and intact"
sluice_alive || fail "sluice died"
settled "the resets mid-download and mid-upload"

# --- mid-upload, to an origin that does not read ------------------------------------------------
control_start 4 "$HEALTHY/bytes/30000" 30000
fan_out "$N" rst sup upload "127.0.0.1:$STALL_PORT" /stall-body 1000000000 0
expect_all sup "^status=- sent=[0-9]{5,} recv=0" "reset mid-upload (stalled origin)"
origin_let_go "reset mid-upload (stalled origin)" "$STALL_PORT" "$STALL_PID" "$stall0" &&
	ok "$N clients reset an upload the origin does not read: sluice and the origin let go"

fan_out "$N" rst tup tunnel-upload "127.0.0.1:$TSTALL_PORT" 1000000000
expect_all tup "^status=CONNECT 200 sent=[0-9]{5,} recv=0" "reset mid-upload (tunnel, stalled origin)"
origin_let_go "reset mid-upload (tunnel, stalled origin)" "$TSTALL_PORT" "$TSTALL_PID" "$tstall0" &&
	ok "$N clients reset a tunnelled upload the origin does not read: sluice and the origin let go"

control_stop 3
ok "control clients on the healthy origin: $CONTROL_ROUNDS requests, all 200 and intact"
sluice_alive || fail "sluice died"
code=$(curl -s -m 5 -x "$PROXY" -o /dev/null -w '%{http_code}' "$HEALTHY/bytes/10")
expect_eq "$code" 200 "a request after the resets"
settled "the resets mid-upload to a stalled origin"
fail_if_any
ok "sluice alive and serving; descriptors and memory back"
