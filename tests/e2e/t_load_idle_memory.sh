# Memory per idle connection: 2,000 keep-alive clients, each after one
# request, cost sluice at most 1.2 KiB of RSS apiece (they hold no exchange
# and no buffer between requests); 1,000 idle CONNECT tunnels at most 1.6
# KiB apiece (a tunnel keeps only the part of its exchange that its log
# line needs).  Both still work afterwards, and the tunnels' log lines name
# their targets.  (Not checked under a sanitizer: its allocator's RSS says
# nothing about sluice's.)
. "$(dirname "$0")/lib.sh"

KA_N=2000 TUN_N=1000

# hold_conns MODE N ARG: N connections to sluice held open until stdin
# closes, each after one exchange: MODE get (ARG: the URL, one GET on a
# kept-alive connection) or connect (ARG: HOST:PORT, one CONNECT).
# Prints "ready N" once all N are through; "bad ..." and exits 1 on an
# answer that is not 200.
hold_conns() {
	perl -MIO::Socket::INET -e '
		my ($mode, $n, $arg, $port) = @ARGV;
		my @held;
		for my $i (1 .. $n) {
			my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10)
				or do { print "bad connect $i: $@\n"; exit 1 };
			if ($mode eq "get") {
				print $s "GET $arg HTTP/1.1\r\nHost: x\r\n\r\n";
			} else {
				print $s "CONNECT $arg HTTP/1.1\r\nHost: $arg\r\n\r\n";
			}
			my ($head, $c) = ("", "");
			while ($head !~ /\r\n\r\n/) {
				sysread($s, $c, 1) == 1 or do { print "bad $mode $i: closed after \"$head\"\n"; exit 1 };
				$head .= $c;
			}
			$head =~ m{^HTTP/1.1 200 } or do { print "bad $mode $i: $head\n"; exit 1 };
			if ($head =~ /^Content-Length: (\d+)/mi) {
				my ($body, $got) = ("", 0);
				$got += sysread($s, $body, $1 - $got, $got) while $got < $1;
			}
			push @held, $s;
		}
		$| = 1;
		print "ready ", scalar(@held), "\n";
		1 while sysread(STDIN, my $x, 1);' "$@" "$SLUICE_PORT"
}

kib() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); } # KiB x 1000 as KiB

# settled_rss: sluice's RSS once it stopped moving (two reads alike, 0.2 s
# apart: the worker may still be handing out the last answers)
settled_rss() {
	local a b i
	b=$(rss_kb "$SLUICE_PID")
	for i in $(seq 20); do
		sleep 0.2 # a bounded poll for the figure to settle
		a=$b
		b=$(rss_kb "$SLUICE_PID")
		[ "$a" = "$b" ] && break
	done
	echo "$b"
}

start_origin
start_peer -o recv -s 0 -r 0 # silent: waits for each tunnel's end
start_sluice "connect_ports $PEER_PORT"
sanitized=0
grep -qE 'lib(a|t)san' "/proc/$SLUICE_PID/maps" && sanitized=1

# warm_up: the allocator's arenas, the worker's spares and buffers
warm_up() {
	local line
	exec {W}< <(hold_conns get 200 "$ORIGIN/bytes/100" </dev/null)
	read -r -t 30 line <&$W || true
	expect_eq "$line" "ready 200" "warm-up clients"
	exec {W}<&-
}
warm_up

# held_cost NAME MODE N ARG MAX: N connections held (hold_conns MODE N ARG)
# while sluice's RSS is read before and after; fails over MAX (KiB x 1000)
# each.  Sets PER (KiB x 1000 each); the holder waits on fd HOLD until
# closed, then HOLD_PID ends.
held_cost() {
	local name=$1 mode=$2 n=$3 arg=$4 max=$5 rss0 rss1
	rss0=$(settled_rss)
	mkfifo "$T/$name.in"
	hold_conns "$mode" "$n" "$arg" <"$T/$name.in" >"$T/$name.out" &
	HOLD_PID=$!
	PIDS+=("$HOLD_PID")
	exec {HOLD}>"$T/$name.in"
	wait_for 60 grep -q "^ready\|^bad" "$T/$name.out" || fail "$name: $(cat "$T/$name.out")"
	expect_eq "$(cat "$T/$name.out")" "ready $n" "$name held"
	rss1=$(settled_rss)
	PER=$(((rss1 - rss0) * 1000 / n))
	echo "# $n $name: RSS $rss0 -> $rss1 kB, $(kib "$PER") KiB each"
	[ "$sanitized" = 1 ] || [ "$PER" -le "$max" ] ||
		fail "$n $name cost $(kib "$PER") KiB each, want <= $(kib "$max")"
}

# --- idle keep-alive clients --------------------------------------------------------------
held_cost "idle keep-alive clients" get "$KA_N" "$ORIGIN/bytes/100" 1200
# they leave room for others (an answer on a held connection after idling is
# t_http_keepalive's)
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -m 10 -x "$PROXY" "$ORIGIN/bytes/10")" 200 \
	"a request beside $KA_N idle clients"
ok "$KA_N idle keep-alive clients: $(kib "$PER") KiB of RSS each (at most 1.2 KiB)"
exec {HOLD}>&-
wait "$HOLD_PID"

# --- idle tunnels ---------------------------------------------------------------------------
# (a fresh sluice: the clients' freed memory would be reused and hide a cost)
stop_sluice
start_sluice "connect_ports $PEER_PORT"
warm_up
held_cost "idle tunnels" connect "$TUN_N" "127.0.0.1:$PEER_PORT" 1600
exec {HOLD}>&-
wait "$HOLD_PID"
wait_for 10 lines_ge "$TUN_N" "TCP_TUNNEL/200 [0-9]* CONNECT 127.0.0.1:$PEER_PORT - HIER_DIRECT/127.0.0.1 " \
	"$T/access.log" || fail "tunnels' log lines: $(grep -c "CONNECT 127.0.0.1:$PEER_PORT" "$T/access.log") of $TUN_N"
ok "$TUN_N idle tunnels: $(kib "$PER") KiB of RSS each (at most 1.6 KiB), each logged with its target"

sluice_alive || fail "sluice died"
