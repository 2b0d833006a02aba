# Shared helpers for the end-to-end tests; each t_*.sh sources this file.
#
# Everything a test starts is recorded and stopped by PID on exit, its files
# live in one temporary folder that is removed, and every wait is a bounded
# poll for a condition (never a bare sleep standing in for one).

set -u
BUILD=${BUILD:-build}
SLUICE=${SLUICE:-$BUILD/sluice}
ORIGIN_BIN=${ORIGIN_BIN:-${ORIGIN:-$BUILD/origin}}   # the test origin's binary
T=$(mktemp -d /tmp/sluice-e2e.XXXXXX)
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		# bounded: a process that ignores SIGTERM gets SIGKILL after 5 s
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# A sanitizer report from sluice or the origin fails the test, even when
	# every request looked fine.
	local f bad=0
	for f in "$T"/sluice*.err "$T"/origin*.err; do
		[ -f "$f" ] || continue
		if grep -qE "ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:" "$f"; then
			echo "FAIL: sanitizer report in $(basename "$f"):" >&2
			grep -A30 -E "ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:" "$f" | head -n 60 >&2
			bad=1
		fi
	done
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
	[ "$bad" = 0 ] || exit 1
}
trap cleanup EXIT
trap "exit 143" TERM INT   # so that EXIT cleanup runs when timeout stops a test

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$T/sluice.err" ]; then echo "--- sluice error log (tail)" >&2; tail -n 20 "$T/sluice.err" >&2; fi
	exit 1
}
skip() { echo "SKIP: $*" >&2; exit 77; }
ok() { echo "ok - $*"; }

# wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds.
wait_for() {
	local limit=$(( $1 * 20 )); shift
	local i
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# expect_eq GOT WANT WHAT
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

# start_origin [ARGS]: sets ORIGIN_PORT, ORIGIN_PID and ORIGIN (its URL).
start_origin() {
	local pf="$T/origin.$RANDOM.port"
	"$ORIGIN_BIN" -f "$pf" "$@" >/dev/null 2>"$T/origin.$RANDOM.err" &
	ORIGIN_PID=$!
	PIDS+=("$ORIGIN_PID")
	wait_for 10 test -s "$pf" || fail "origin did not start"
	ORIGIN_PORT=$(cat "$pf")
	ORIGIN="http://127.0.0.1:$ORIGIN_PORT"
	ORIGIN_URL="$ORIGIN"
}

# start_sluice [CONFIG LINES...]: a sluice on a kernel-chosen loopback port,
# access log in $T/access.log; sets SLUICE_PORT, SLUICE_PID, PROXY.
start_sluice() {
	sluice_conf "$T/sluice.conf" "$T/access.log" "$@"
	: >"$T/sluice.err"
	"$SLUICE" -c "$T/sluice.conf" 2>>"$T/sluice.err" &
	SLUICE_PID=$!
	PIDS+=("$SLUICE_PID")
	wait_for 10 grep -q "listening on 127.0.0.1:" "$T/sluice.err" || fail "sluice did not start"
	SLUICE_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/sluice.err" | head -n1)
	PROXY="http://127.0.0.1:$SLUICE_PORT"
}

# sluice_conf FILE ACCESSLOG [CONFIG LINES...]: the tests' config: a
# kernel-chosen loopback port, 2 workers, errors to stderr, then the lines.
sluice_conf() {
	local file=$1 alog=$2 line
	shift 2
	{
		echo "listen 127.0.0.1:0"
		echo "workers 2"
		echo "access_log $alog"
		echo "error_log stderr"
		for line in "$@"; do echo "$line"; done
	} >"$file"
}

# start_sluice_files ACCESS ERRLOG: as start_sluice, but both logs are the
# files named (SIGUSR1 and logrotate tests); sluice's stderr still goes to
# $T/sluice.err, where cleanup looks for sanitizer reports.
start_sluice_files() {
	printf 'listen 127.0.0.1:0\nworkers 2\naccess_log %s\nerror_log %s\n' "$1" "$2" >"$T/sluice.conf"
	: >"$T/sluice.err"
	"$SLUICE" -c "$T/sluice.conf" 2>>"$T/sluice.err" &
	SLUICE_PID=$!
	PIDS+=("$SLUICE_PID")
	wait_for 10 grep -q "listening on 127.0.0.1:" "$2" ||
		fail "sluice did not start: $(cat "$2" "$T/sluice.err" 2>/dev/null)"
	SLUICE_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$2" | head -n1)
	PROXY="http://127.0.0.1:$SLUICE_PORT"
}

# start_sluice_as TAG [CONFIG LINES...]: another sluice beside start_sluice's
# (a parent proxy, a second hop): config $T/sluice-TAG.conf, access log
# $T/access-TAG.log, stderr $T/sluice-TAG.err (scanned for sanitizer reports
# like the first's); sets SLUICE_AS_PORT and SLUICE_AS_PID.
start_sluice_as() {
	local tag=$1
	shift
	sluice_conf "$T/sluice-$tag.conf" "$T/access-$tag.log" "$@"
	: >"$T/sluice-$tag.err"
	"$SLUICE" -c "$T/sluice-$tag.conf" 2>>"$T/sluice-$tag.err" &
	SLUICE_AS_PID=$!
	PIDS+=("$SLUICE_AS_PID")
	wait_for 10 grep -q "listening on 127.0.0.1:" "$T/sluice-$tag.err" ||
		fail "sluice $tag did not start: $(tail -n 3 "$T/sluice-$tag.err")"
	SLUICE_AS_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/sluice-$tag.err" | head -n1)
}

# silent_listener: a 127.0.0.1 port that never completes a handshake (a
# listener that never accepts, its queue filled, so the kernel drops further
# SYNs: connects to it time out); sets SILENT_PORT.
silent_listener() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0", ReuseAddr => 1) or die "listen: $@";
		open(my $f, ">", $ARGV[0]) or die; print $f $s->sockport, "\n"; close $f;
		sleep 600;' "$T/silent.port" 2>"$T/silent.err" &
	PIDS+=($!)
	wait_for 5 test -s "$T/silent.port" || fail "silent listener did not start: $(cat "$T/silent.err")"
	SILENT_PORT=$(cat "$T/silent.port")
	local i
	for i in 1 2 3 4 5 6; do
		_silent_full && break
		timeout 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SILENT_PORT && sleep 60" 2>/dev/null &
		PIDS+=($!)
		sleep 0.2 # lets the holder connect before the next probe (a bounded poll)
	done
	_silent_full || fail "the silent listener still completes handshakes"
}
_silent_full() { ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SILENT_PORT" 2>/dev/null; }

# free_port: a loopback port nothing listens on (it was free a moment ago).
free_port() {
	perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport, "\n"'
}

# closed_port: sets CLOSED_PORT, a loopback port that refuses connections
# for the rest of the test: a socket holds it bound but never listens, so
# a connect gets a reset and no listener started later (sluice's own on
# port 0, a fake server's) can be given it.  (A port bound and released,
# as free_port does, was once handed to sluice's listener a moment later:
# the request then met the loop guard.)
closed_port() {
	perl -MSocket -e '
		socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
		bind($s, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!";
		my ($port) = unpack_sockaddr_in(getsockname($s));
		open(my $f, ">", $ARGV[0]) or die; print $f "$port\n"; close($f);
		sleep 600;' "$T/closed.port.$$" &
	PIDS+=($!)
	wait_for 5 test -s "$T/closed.port.$$" || fail "closed_port: no port"
	CLOSED_PORT=$(cat "$T/closed.port.$$")
	rm -f "$T/closed.port.$$"
}

# stop_sluice: SIGTERM and wait, so the access log is flushed.
stop_sluice() {
	kill "$SLUICE_PID" 2>/dev/null
	wait "$SLUICE_PID" 2>/dev/null
}

# access_log_has PATTERN: wait (up to 5 s) for the per-second flush.
access_log_has() {
	wait_for 5 grep -q -- "$1" "$T/access.log"
}

# sluice_alive: the proxy process is still running.
sluice_alive() {
	kill -0 "$SLUICE_PID" 2>/dev/null
}

# rss_kb PID
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# raw PORT: send stdin to 127.0.0.1:PORT, print everything the peer sends
# until it closes (bounded by TIMEOUT, default 5 s).  Uses bash's /dev/tcp.
raw() {
	local port=$1 timeout=${2:-5}
	timeout "$timeout" bash -c '
		exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
		cat >&3
		cat <&3' 2>/dev/null
}

# start_dnsmasq HOSTSFILE TTL: a real DNS server on a free loopback UDP/TCP
# port, answering names under sluice.test from HOSTSFILE (NXDOMAIN for the
# others there) and logging every query; sets DNS_PORT and DNS_LOG.
start_dnsmasq() {
	start_dnsmasq_opts "$1" "$2"
}

# start_dnsmasq_opts HOSTSFILE TTL [DNSMASQ OPTIONS...]: start_dnsmasq with
# more options, e.g. --cname=alias.sluice.test,target.sluice.test,TTL.
start_dnsmasq_opts() {
	command -v dnsmasq >/dev/null || skip "dnsmasq missing"
	local hosts=$1 ttl=$2 try port
	shift 2
	DNS_LOG="$T/dnsmasq.log"
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$(( 20000 + (RANDOM % 30000) ))
		dnsmasq --keep-in-foreground --user=root --port="$port" --listen-address=127.0.0.1 \
			--bind-interfaces --no-resolv --no-hosts --no-poll --addn-hosts="$hosts" \
			--local=/sluice.test/ --local-ttl="$ttl" --neg-ttl="$ttl" --log-queries \
			--log-facility="$DNS_LOG" --pid-file="$T/dnsmasq.pid" "$@" 2>"$T/dnsmasq.err" &
		DNS_PID=$!
		if wait_for 5 grep -q "started" "$DNS_LOG" && kill -0 "$DNS_PID" 2>/dev/null; then
			PIDS+=("$DNS_PID")
			DNS_PORT=$port
			return 0
		fi
		kill "$DNS_PID" 2>/dev/null; wait "$DNS_PID" 2>/dev/null
		rm -f "$DNS_LOG"
	done
	fail "dnsmasq did not start"
}

# dns_queries NAME: how many A queries for NAME reached dnsmasq.
dns_queries() {
	grep -c "query\[A\] $1 " "$DNS_LOG" 2>/dev/null || true
}

# --- helpers for byte-level HTTP checks (perl-base is on every Debian) ----------

# head_of FILE / body_of FILE: a raw response's head (through the empty
# line) or everything after it; status_of FILE: its first line.
head_of() { perl -0777 -ne 'print $1 if /\A(.*?\r\n\r\n)/s' "$1"; }
body_of() { perl -0777 -ne 'print $1 if /\A.*?\r\n\r\n(.*)\z/s' "$1"; }
status_of() { head -n1 "$1" | tr -d '\r'; }
# drop_host: filter out Host lines (the test origin's port varies).
drop_host() { perl -pe '$_ = "" if /^host:/i'; }
# strip_ids: the test origin numbers connections and requests; blank those.
strip_ids() { sed 's/^X-Conn-Id: [0-9]*\r$/X-Conn-Id: N\r/; s/^X-Req-Num: [0-9]*\r$/X-Req-Num: N\r/'; }

# expect_file GOT WANT WHAT: byte-exact comparison, shows both on failure.
expect_file() {
	cmp -s "$1" "$2" && return 0
	echo "--- want ($3)" >&2; od -c "$2" | head -60 >&2
	echo "--- got" >&2; od -c "$1" | head -60 >&2
	fail "$3: bytes differ"
}

# run_vtc_case FILE [-D ...]: run tests/e2e/vtc/FILE with varnishtest against
# this sluice (macros proxy_addr, proxy_port); on failure show the exchange
# and return 1.  run_vtc: the same, failing the test.
run_vtc_case() {
	local f=$1; shift
	varnishtest -t 30 -D proxy_addr=127.0.0.1 -D proxy_port="$SLUICE_PORT" "$@" \
		"$(dirname "$0")/vtc/$f" </dev/null >"$T/vtc.out" 2>&1 && return 0
	echo "--- varnishtest $f $*" >&2
	grep -v '^\*\*\*\* dT' "$T/vtc.out" |
		grep -E '^(---|\*\*\*\* c[0-9] +(rx|tx|EXPECT)|\*\*\*\* s[0-9] +(rx|tx)|\*\*\*\* top +shell|#)' |
		tail -n 60 >&2
	return 1
}
run_vtc() { run_vtc_case "$@" || fail "varnishtest $1"; }

# --- timing and process helpers --------------------------------------------------

now_ms() { date +%s%3N; }

# untrack PID: forget a process the test already waited for.
untrack() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# start_shim ARGS: tests/e2e/dnsshim (built by make) on a free loopback port,
# UDP and TCP; sets SHIM_PORT, SHIM_PID and SHIM_LOG (a line per query).
# ARGS: nothing for a silent server; -u PORT -d MS to forward to a real one
# after a delay; -x TYPE to drop queries of one type.
start_shim() {
	local bin="$BUILD/dnsshim"
	[ -x "$bin" ] || fail "$bin missing: make $bin"
	SHIM_LOG="$T/shim.log"
	: >"$SHIM_LOG"
	"$bin" -f "$T/shim.port" -q "$SHIM_LOG" "$@" 2>"$T/shim.err" &
	SHIM_PID=$!
	PIDS+=("$SHIM_PID")
	wait_for 5 test -s "$T/shim.port" || fail "dnsshim did not start: $(cat "$T/shim.err")"
	SHIM_PORT=$(cat "$T/shim.port")
}

# start_shim_as TAG ARGS: like start_shim, for a test that runs more than
# one shim: files $T/shim-TAG.*; sets SHIM_PORT, SHIM_PID and SHIM_LOG.
start_shim_as() {
	local bin="$BUILD/dnsshim" tag=$1
	shift
	[ -x "$bin" ] || fail "$bin missing: make $bin"
	SHIM_LOG="$T/shim-$tag.log"
	: >"$SHIM_LOG"
	"$bin" -f "$T/shim-$tag.port" -q "$SHIM_LOG" "$@" 2>"$T/shim-$tag.err" &
	SHIM_PID=$!
	PIDS+=("$SHIM_PID")
	wait_for 5 test -s "$T/shim-$tag.port" || fail "dnsshim $tag did not start: $(cat "$T/shim-$tag.err")"
	SHIM_PORT=$(cat "$T/shim-$tag.port")
}

# --- tunnel helpers ----------------------------------------------------------------

NPEER=0
# start_peer ARGS: "tunnelpeer serve ARGS" (built by make) on 127.0.0.1; sets
# PEER_PORT, PEER_PID and PEER_REPORT (lines "conn conn=N", "eof conn=N ...",
# "done conn=N ..."; the usage is at the top of tests/e2e/tunnelpeer.c).
start_peer() {
	local bin="$BUILD/tunnelpeer" n=$((++NPEER))
	[ -x "$bin" ] || fail "$bin missing: make $bin"
	PEER_REPORT="$T/peer$n.report"
	: >"$PEER_REPORT"
	"$bin" serve -f "$T/peer$n.port" -R "$PEER_REPORT" "$@" 2>"$T/peer$n.err" &
	PEER_PID=$!
	PIDS+=("$PEER_PID")
	wait_for 5 test -s "$T/peer$n.port" || fail "tunnelpeer did not start: $(cat "$T/peer$n.err")"
	PEER_PORT=$(cat "$T/peer$n.port")
}
# pipes: pipe fds sluice holds now (splice's pipes; idle ones sit in the pools)
pipes() { find "/proc/$SLUICE_PID/fd" -lname 'pipe:*' 2>/dev/null | wc -l; }
# lines_ge N PATTERN FILE: FILE has at least N lines matching PATTERN
lines_ge() { [ "$(grep -c -- "$2" "$3" 2>/dev/null)" -ge "$1" ]; }

# --- fault helpers: descriptors, memory, a control set of clients -------------------

# fd_census PID: "TOTAL SOCKETS PIPES", the descriptors PID holds now.
fd_census() {
	local d=/proc/$1/fd
	echo "$(find "$d" -mindepth 1 2>/dev/null | wc -l)" \
		"$(find "$d" -lname 'socket:*' 2>/dev/null | wc -l)" \
		"$(find "$d" -lname 'pipe:*' 2>/dev/null | wc -l)"
}

# nonpipe_fds PID: descriptors other than pipes (sockets, files, epoll,
# eventfds).  Pipes are left out because splice's pipe pool may keep up to
# 32 idle pipes per worker for good; every other kind must come back to
# its baseline once the connections are gone.
nonpipe_fds() {
	local total sockets pipes
	read -r total sockets pipes < <(fd_census "$1")
	echo $((total - pipes))
}

# accepted_nodelay PORT: connects to sluice on PORT, has one request
# answered (so the socket was accepted and handed to a worker), then prints
# TCP_NODELAY (0 or 1) of the socket sluice holds for that connection, or
# "?" when sluice's sockets cannot be looked at (pidfd_getfd: Linux 5.6,
# and root).
accepted_nodelay() {
	perl -MSocket=:all -MIO::Socket::INET -e '
		my ($pid, $port, $oport) = @ARGV;
		my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Timeout => 5) or die "connect: $!";
		print $c "GET http://127.0.0.1:$oport/bytes/1 HTTP/1.1\r\nHost: 127.0.0.1:$oport\r\n\r\n";
		my $r = "";
		while ($r !~ /\r\n\r\n./s) { sysread($c, $r, 4096, length $r) or die "no answer\n"; }
		my $me = (sockaddr_in(getsockname($c)))[0];
		my $pidfd = syscall(434, $pid + 0, 0);             # pidfd_open
		if ($pidfd < 0) { print "?\n"; exit 0; }
		opendir(my $d, "/proc/$pid/fd") or do { print "?\n"; exit 0; };
		for my $n (grep { /^\d+$/ } readdir($d)) {
			next unless (readlink("/proc/$pid/fd/$n") // "") =~ /^socket:/;
			my $fd = syscall(438, $pidfd + 0, $n + 0, 0);  # pidfd_getfd
			if ($fd < 0) { print "?\n"; exit 0; }
			open(my $s, "+<&=", $fd) or next;
			my $peer = getpeername($s) or next;
			next unless sockaddr_family($peer) == AF_INET && (sockaddr_in($peer))[0] == $me;
			print unpack("i", getsockopt($s, IPPROTO_TCP, TCP_NODELAY)) ? 1 : 0, "\n";
			exit 0;
		}
		print "none\n";' "$SLUICE_PID" "$1" "$ORIGIN_PORT"
}

# listener_defer PORT: TCP_DEFER_ACCEPT (seconds) of sluice's listening
# socket on 127.0.0.1:PORT, "?" as for accepted_nodelay, "none" if absent.
listener_defer() {
	perl -MSocket=:all -e '
		my ($pid, $port) = @ARGV;
		my $pidfd = syscall(434, $pid + 0, 0);
		if ($pidfd < 0) { print "?\n"; exit 0; }
		opendir(my $d, "/proc/$pid/fd") or do { print "?\n"; exit 0; };
		for my $n (grep { /^\d+$/ } readdir($d)) {
			next unless (readlink("/proc/$pid/fd/$n") // "") =~ /^socket:/;
			my $fd = syscall(438, $pidfd + 0, $n + 0, 0);
			if ($fd < 0) { print "?\n"; exit 0; }
			open(my $s, "+<&=", $fd) or next;
			my $me = getsockname($s) or next;
			next if getpeername($s);
			next unless sockaddr_family($me) == AF_INET && (sockaddr_in($me))[0] == $port;
			print unpack("i", getsockopt($s, IPPROTO_TCP, TCP_DEFER_ACCEPT)), "\n";
			exit 0;
		}
		print "none\n";' "$SLUICE_PID" "$1"
}

# full_pipes PID: how many of the pipes PID holds have bytes in them (each
# pipe counted once), or "?" when they cannot be looked at (pidfd_getfd:
# Linux 5.6, and root).  An idle pooled pipe is empty: once traffic has
# settled, a pipe with bytes in it is one that was forgotten with them.
full_pipes() {
	perl -e '
		my $pid = $ARGV[0] + 0;
		my $pidfd = syscall(434, $pid, 0);             # pidfd_open
		if ($pidfd < 0) { print "?\n"; exit 0; }
		my (%seen, $full);
		opendir(my $d, "/proc/$pid/fd") or do { print "?\n"; exit 0; };
		for my $n (grep { /^\d+$/ } readdir($d)) {
			my $l = readlink("/proc/$pid/fd/$n") // next;
			next unless $l =~ /^pipe:\[(\d+)\]$/ && !$seen{$1}++;
			my $fd = syscall(438, $pidfd + 0, $n + 0, 0);  # pidfd_getfd
			if ($fd < 0) { print "?\n"; exit 0; }
			open(my $fh, "<&=", $fd) or next;
			my $bytes = pack("L", 0);
			$full++ if ioctl($fh, 0x541B, $bytes) && unpack("L", $bytes) > 0;   # FIONREAD
			close($fh);
		}
		print(($full // 0), "\n");' "$1"
}

# fd_kinds PID: what PID's descriptors are, counted by kind, for messages
# ("40 socket, 3 anon_inode:[eventpoll], ...")
fd_kinds() {
	find "/proc/$1/fd" -mindepth 1 -printf '%l\n' 2>/dev/null | sed 's/:\[[0-9]*\]$//; s/^\/.*/file/' |
		sort | uniq -c | sort -rn | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }'
}

# fds_at_most PID N: PID holds at most N descriptors other than pipes.
fds_at_most() { [ "$(nonpipe_fds "$1")" -le "$2" ]; }

# conns_to PID PORT: TCP sockets of PID connected to 127.0.0.1:PORT (any
# state but LISTEN): what sluice still holds towards one origin.
conns_to() {
	ss -Htanp state all dst "127.0.0.1:$2" 2>/dev/null | grep -c "pid=$1,"
}

# conns_to_is PID PORT N
conns_to_is() { [ "$(conns_to "$1" "$2")" -eq "$3" ]; }

# rss_slack: set RSS_SLACK_KB, how much sluice's RSS may grow over a
# warmed-up baseline across a fault: 1 MiB.  Under ASan or TSan RSS says
# nothing about leaks (freed memory sits in quarantine, shadow memory
# grows), so there the check is off; under ASan, LeakSanitizer reports
# leaks at exit instead, and cleanup fails the test on its report.
rss_slack() {
	if grep -qE 'lib(a|t)san' "/proc/$SLUICE_PID/maps" 2>/dev/null; then
		RSS_SLACK_KB=$((1 << 30))
		echo "# sanitizer build: RSS growth not checked (under ASan, LeakSanitizer reports leaks at exit)"
	else
		RSS_SLACK_KB=1024
	fi
}

# control_start N URL SIZE: N clients fetch URL (a /bytes/SIZE route of a
# healthy origin) through $PROXY, one connection per request, about 15 a
# second, until control_stop (bounded: 1000 rounds or 90 s per client).  Each
# answer must be 200 with the origin's SIZE-byte pattern; every other
# outcome is written to $T/control.fail.
control_start() {
	local n=$1 url=$2 size=$3 i
	"$ORIGIN_BIN" --gen "$size" >"$T/control.want"
	: >"$T/control.fail"
	rm -f "$T/control.stop"
	CONTROL_PIDS=()
	for i in $(seq "$n"); do
		(
			end=$(($(date +%s) + 90))
			for k in $(seq 1000); do
				[ -e "$T/control.stop" ] && break
				[ "$(date +%s)" -lt "$end" ] || break
				got=$(curl -s -m 10 -x "$PROXY" -o "$T/control.$i.body" -w '%{http_code}' "$url")
				rc=$?
				if [ "$rc" != 0 ] || [ "$got" != 200 ] || ! cmp -s "$T/control.$i.body" "$T/control.want"; then
					echo "control $i round $k: curl exit $rc, status $got, $(wc -c <"$T/control.$i.body" 2>/dev/null) bytes" >>"$T/control.fail"
				fi
				echo "$k" >"$T/control.$i.rounds"
				sleep 0.05 # pacing: about 15 requests a second per client
			done
		) &
		CONTROL_PIDS+=($!)
		PIDS+=($!)
	done
}

# control_stop MIN: stop the control clients, fail unless every one of them
# completed at least MIN rounds and none saw anything but its 200 and body;
# sets CONTROL_ROUNDS (all clients together).
control_stop() {
	local min=$1 p i r
	touch "$T/control.stop"
	for p in "${CONTROL_PIDS[@]}"; do
		wait "$p"
		untrack "$p"
	done
	[ -s "$T/control.fail" ] && fail "control clients (healthy origin) failed: $(head -n 5 "$T/control.fail")"
	CONTROL_ROUNDS=0
	for i in $(seq "${#CONTROL_PIDS[@]}"); do
		r=$(cat "$T/control.$i.rounds" 2>/dev/null || echo 0)
		[ "$r" -ge "$min" ] || fail "control client $i completed only $r rounds"
		CONTROL_ROUNDS=$((CONTROL_ROUNDS + r))
	done
}

# RST_PERL: perl code the fault tests put at the top of their raw clients;
# its rst($sock) closes a socket with a reset (SO_LINGER 0), not a FIN.
RST_PERL='use strict; use warnings; use Socket; use IO::Socket::INET; use IO::Select; use Time::HiRes qw(time);
sub rst { my $s = shift; setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0)); close($s); }'

# fail_later MESSAGE: report a failed check and go on, so that the checks
# after it still run and report (descriptors, memory); the test fails at
# its end (fail_if_any), or at the next fail.
FAILS=0
fail_later() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}
fail_if_any() {
	[ "$FAILS" -eq 0 ] || fail "$FAILS check(s) failed, see above"
}

# fan_out N CMD...: run CMD N times at once, each with its number (1..N) as
# its last argument, all released together (a FIFO start line); returns
# when every one has ended.  CMD may be a shell function.
fan_out() {
	local n=$1 i p go
	shift
	rm -f "$T/fan.go"
	mkfifo "$T/fan.go"
	exec {go}<>"$T/fan.go"
	local pids=()
	for i in $(seq "$n"); do
		( read -r _ <"$T/fan.go"; "$@" "$i" ) &
		pids+=($!)
		PIDS+=($!)
	done
	for i in $(seq "$n"); do echo; done >&"$go"
	for p in "${pids[@]}"; do
		wait "$p"
		untrack "$p"
	done
	exec {go}>&-
	rm -f "$T/fan.go"
}

# --- one client connection, request by request -------------------------------------
# conn_open: a connection to sluice in $C; conn_close ends it.  request,
# read_resp, hdr and conn_closed work on $C.
conn_open() { exec {C}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect to sluice"; }
conn_close() { exec {C}>&-; }

# read_resp [nobody]: read one response from $C into R_STATUS (status line),
# R_HEAD (header lines, CR removed), R_BODY (chunked decoded), R_TRAILER.
read_resp() {
	local line len= chunked=0 size chunk
	R_STATUS= R_HEAD= R_BODY= R_TRAILER=
	IFS= read -r -t 5 -u "$C" line || return 1
	R_STATUS=${line%$'\r'}
	while :; do
		IFS= read -r -t 5 -u "$C" line || return 1
		line=${line%$'\r'}
		[ -n "$line" ] || break
		R_HEAD+=$line$'\n'
		case ${line,,} in
		content-length:*) len=${line#*:}; len=${len//[!0-9]/};;
		transfer-encoding:*chunked) chunked=1;;
		esac
	done
	[ "${1:-}" = nobody ] && return 0
	if [ "$chunked" = 1 ]; then
		while :; do
			IFS= read -r -t 5 -u "$C" line || return 1
			size=$((16#${line%%[;$'\r']*}))
			if [ "$size" -eq 0 ]; then
				while IFS= read -r -t 5 -u "$C" line; do
					line=${line%$'\r'}
					[ -n "$line" ] || return 0
					R_TRAILER+=$line$'\n'
				done
				return 1
			fi
			IFS= read -r -N "$size" -t 5 -u "$C" chunk || return 1
			R_BODY+=$chunk
			IFS= read -r -t 5 -u "$C" line || return 1
		done
	elif [ -n "$len" ]; then
		[ "$len" -eq 0 ] || IFS= read -r -N "$len" -t 5 -u "$C" R_BODY || return 1
	else
		R_BODY=$(timeout 5 cat <&"$C")
	fi
}
# hdr NAME: the first value of NAME in R_HEAD
hdr() { printf '%s' "$R_HEAD" | sed -n "s/^$1: //Ip" | head -n1; }
# conn_closed: the peer closes $C within 5 s (EOF, not a timeout)
conn_closed() {
	local x rc
	IFS= read -r -N 1 -t 5 -u "$C" x
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ -z "$x" ]
}
# request METHOD PATH [HEADER LINES...]: send one HTTP/1.1 request on $C
# (to the origin at $ORIGIN_PORT)
request() {
	local m=$1 p=$2 h; shift 2
	{
		printf '%s http://127.0.0.1:%s%s HTTP/1.1\r\n' "$m" "$ORIGIN_PORT" "$p"
		for h in "$@"; do printf '%s\r\n' "$h"; done
		printf '\r\n'
	} >&"$C"
}


# dnsmasq_at PORT HOSTSFILE TTL TAG [DNSMASQ OPTIONS...]: start_dnsmasq_opts
# on a port of the test's choosing (0: a free one), so that a test can kill
# its DNS server and start another on the same port; log in
# $T/dnsmasq-TAG.log.  Sets DNS_PORT, DNS_PID and DNS_LOG.
dnsmasq_at() {
	command -v dnsmasq >/dev/null || skip "dnsmasq missing"
	local want=$1 hosts=$2 ttl=$3 tag=$4 try port
	shift 4
	DNS_LOG="$T/dnsmasq-$tag.log"
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$want
		[ "$port" != 0 ] || port=$(( 20000 + (RANDOM % 30000) ))
		rm -f "$DNS_LOG"
		dnsmasq --keep-in-foreground --user=root --port="$port" --listen-address=127.0.0.1 \
			--bind-interfaces --no-resolv --no-hosts --no-poll --addn-hosts="$hosts" \
			--local=/sluice.test/ --local-ttl="$ttl" --neg-ttl="$ttl" --log-queries \
			--log-facility="$DNS_LOG" --pid-file="$T/dnsmasq-$tag.pid" "$@" 2>"$T/dnsmasq-$tag.err" &
		DNS_PID=$!
		if wait_for 5 grep -q "started" "$DNS_LOG" && kill -0 "$DNS_PID" 2>/dev/null; then
			PIDS+=("$DNS_PID")
			DNS_PORT=$port
			return 0
		fi
		kill "$DNS_PID" 2>/dev/null; wait "$DNS_PID" 2>/dev/null
		[ "$want" = 0 ] || [ "$try" -lt 3 ] || break
	done
	fail "dnsmasq ($tag) did not start on port $port: $(cat "$T/dnsmasq-$tag.err")"
}

# --- systemd's side of the protocols ---------------------------------------------------

# start_notify: a stand-in for systemd's notification socket (notifysink.pl);
# exports NOTIFY_SOCKET, so a sluice started after reports to it, and sets
# NOTIFY_LOG (lines "MS KEY=value" in the order they came).
start_notify() {
	NOTIFY_LOG="$T/notify.log"
	: >"$NOTIFY_LOG"
	export NOTIFY_SOCKET="$T/notify.sock"
	perl "$(dirname "${BASH_SOURCE[0]}")/notifysink.pl" "$NOTIFY_SOCKET" "$NOTIFY_LOG" 2>"$T/notify.err" &
	PIDS+=("$!")
	wait_for 5 test -S "$NOTIFY_SOCKET" || fail "notify sink did not start: $(cat "$T/notify.err")"
}
# notified N KEY=VALUE: the sink got KEY=VALUE (the whole line) N times or more
notified() { [ "$(grep -c -- " $2\$" "$NOTIFY_LOG")" -ge "$1" ]; }
# notify_keys PATTERN: the KEY=value lines matching PATTERN, in order, without stamps
notify_keys() { grep -E -- "$1" "$NOTIFY_LOG" | cut -d' ' -f2-; }
