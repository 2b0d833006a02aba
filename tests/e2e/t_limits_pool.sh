# Idle pooled upstream connections count against the descriptors sluice
# may hold, and give way to clients.
#
# sluice runs with RLIMIT_NOFILE 256 (one worker).  Three times, 60
# clients fetch a slow body from one of origins A, C and D at once and
# leave: their server connections stay in the pool, idle (180 of them, if
# nothing gave way).  Then 80 clients connect and each asks origin B for a
# slow body, all at once, so each needs a server connection of its own,
# and they stay connected (keep-alive) for a second round:
#   - max_connections is lowered at start to what 256 descriptors allow,
#     with a warning;
#   - every client of every round is accepted and served: idle pooled
#     connections are closed to make room (the longest idle first), and
#     accept never runs into EMFILE (no "Too many open files" logged).
# Without the count, 180 pooled connections leave room for about 60
# clients: accept fails with EMFILE, the clients beyond wait unanswered,
# and those accepted cannot all have a server socket (502).
. "$(dirname "$0")/lib.sh"
command -v prlimit >/dev/null || skip "prlimit missing"
command -v ss >/dev/null || skip "ss missing"
LIMIT=256 POOL=60 HOLD=80

POOLED=()
for o in A C D; do
	start_origin
	POOLED+=("$ORIGIN_PORT")
done
start_origin
B_URL=$ORIGIN
cat >"$T/sluice-lowfd" <<WRAP
#!/bin/sh
exec prlimit --nofile=$LIMIT:$LIMIT "$SLUICE" "\$@"
WRAP
chmod +x "$T/sluice-lowfd"
SLUICE="$T/sluice-lowfd" start_sluice "workers 1" "upstream_pool_max 1000" "upstream_idle_timeout 120s" \
	"keepalive_timeout 120s" "header_timeout 60s"
expect_eq "$(awk '/^Max open files/ { print $4 }' "/proc/$SLUICE_PID/limits")" "$LIMIT" "sluice's fd limit"
grep -q "warn: max_connections 10000 lowered to [0-9]*: RLIMIT_NOFILE $LIMIT" "$T/sluice.err" ||
	fail "no warning that max_connections was lowered: $(cat "$T/sluice.err")"
ok "max_connections lowered at start: $(grep -o 'max_connections 10000 lowered to [0-9]*' "$T/sluice.err")"

# burst PORT N ROUNDS URL: N clients connect to PORT one after another and
# each sends GET URL; then every answer is read; ROUNDS times on the same
# connections.  Prints the 200s with the whole body, per round; a client
# without its answer when the burst's 15 s are up counts as a failure (on
# stderr).
burst() {
	timeout 60 perl -MIO::Socket::INET -MIO::Select -e '
		my ($port, $n, $rounds, $url) = @ARGV;
		my $deadline = time + 15;
		my @s;
		for (1 .. $n) {
			push @s, IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die "connect: $!";
		}
		sub answer {
			my ($s) = @_;
			my $sel = IO::Select->new($s);
			my $in = "";
			my $more = sub {
				my $left = $deadline - time;
				$left > 0 and $sel->can_read($left) and sysread($s, $in, 65536, length $in);
			};
			while ($in !~ /\r\n\r\n/) { $more->() or return "no head: [$in]"; }
			my ($head) = $in =~ /^(.*?\r\n\r\n)/s;
			my ($len) = $head =~ /^Content-Length: *(\d+)/mi;
			return "no length: $head" unless defined $len;
			while (length($in) - length($head) < $len) { $more->() or return "short body"; }
			return $head =~ m{^HTTP/1\.1 200 } ? "" : "status: $head";
		}
		my @ok;
		for my $r (1 .. $rounds) {
			print $_ "GET $url HTTP/1.1\r\nHost: x\r\n\r\n" for @s;
			my $ok = 0;
			for my $i (0 .. $#s) {
				my $why = answer($s[$i]);
				if ($why eq "") { $ok++ } else { print STDERR "round $r client $i: $why\n" }
			}
			push @ok, $ok;
		}
		print "@ok\n";' "$@"
}

# --- a large idle pool --------------------------------------------------------------------------
# POOL requests for a 200 ms body to each origin, all sent before any answer
# is read: each takes a server connection of its own, which goes to the
# pool after.
for port in "${POOLED[@]}"; do
	got=$(burst "$SLUICE_PORT" "$POOL" 1 "http://127.0.0.1:$port/slowbody/20000" 2>"$T/pool.err")
	expect_eq "$got" "$POOL" "slow requests to 127.0.0.1:$port answered ($(head -n 3 "$T/pool.err"))"
done
idle_pooled() {
	local port n=0
	for port in "${POOLED[@]}"; do n=$((n + $(conns_to "$SLUICE_PID" "$port"))); done
	echo "$n"
}
pool0=$(idle_pooled)
[ "$pool0" -ge "$POOL" ] || fail "only $pool0 idle connections in the pool"
grep -q "Too many open files" "$T/sluice.err" && fail "EMFILE logged: $(grep 'Too many open files' "$T/sluice.err" | head -n 3)"
ok "$pool0 idle connections in the pool after 3 x $POOL slow requests"

# --- clients that need room ---------------------------------------------------------------------
got=$(burst "$SLUICE_PORT" "$HOLD" 2 "$B_URL/slowbody/20000" 2>"$T/hold.err")
pool1=$(idle_pooled)
grep -q "Too many open files" "$T/sluice.err" && fail "EMFILE logged: $(grep 'Too many open files' "$T/sluice.err" | head -n 3)"
expect_eq "$got" "$HOLD $HOLD" "clients answered in each round, $pool1 idle connections left ($(head -n 3 "$T/hold.err"))"
[ "$pool1" -lt "$pool0" ] || fail "no idle pooled connection was closed ($pool0 -> $pool1)"
grep -q "info: descriptors short" "$T/sluice.err" || fail "the error log does not say idle descriptors were reclaimed"
ok "$HOLD clients, each with a server connection of its own, served twice; idle pooled connections: $pool0 -> $pool1; no EMFILE"
sluice_alive || fail "sluice died"
