# max_connections_per_client: one address holding its limit of connections
# gets any further one closed at accept (and the refusals noted in the log
# at most every 10 s), while every other client is served; once it lets
# one go, it may connect again.
. "$(dirname "$0")/lib.sh"
start_origin
start_sluice "max_connections_per_client 3" "keepalive_timeout 30s"

# hold.pl COUNT: open COUNT connections from 127.0.0.2 and keep them open
# until stdin closes; prints "open N" once they are accepted (each gets an
# answer, so each was taken by sluice, not just queued in the backlog).
cat >"$T/hold.pl" <<'PERL'
use strict; use warnings; use IO::Socket::INET;
my ($port, $origin, $n) = @ARGV;
my @c;
for my $i (1 .. $n) {
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, LocalAddr => "127.0.0.2")
		or die "connect $i: $!";
	print $s "GET http://127.0.0.1:$origin/bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n";
	my $got = "";
	while ($got !~ /\r\n\r\n./s) { sysread($s, $got, 4096, length $got) or die "connection $i: no answer\n" }
	push @c, $s;
}
$| = 1;
print "open $n\n";
<STDIN>;
PERL
# try.pl: one more connection from 127.0.0.2: prints "closed" when sluice
# closes it without an answer, or the status line it got.
cat >"$T/try.pl" <<'PERL'
use strict; use warnings; use IO::Socket::INET;
my ($port, $origin) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, LocalAddr => "127.0.0.2")
	or die "connect: $!";
print $s "GET http://127.0.0.1:$origin/bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n";
local $SIG{ALRM} = sub { print "no answer\n"; exit 0 };
alarm 5;
my $got = "";
my $n = sysread($s, $got, 4096);
print !$n ? "closed\n" : ($got =~ /\A([^\r\n]*)/)[0] . "\n";
PERL

mkfifo "$T/hold.in"
perl "$T/hold.pl" "$SLUICE_PORT" "$ORIGIN_PORT" 3 <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLD=$!
PIDS+=("$HOLD")
exec {HOLD_IN}>"$T/hold.in"
wait_for 10 grep -q "open 3" "$T/hold.out" || fail "3 connections from 127.0.0.2 were not served: $(cat "$T/hold.out")"

expect_eq "$(perl "$T/try.pl" "$SLUICE_PORT" "$ORIGIN_PORT")" closed "a 4th connection from 127.0.0.2"
expect_eq "$(perl "$T/try.pl" "$SLUICE_PORT" "$ORIGIN_PORT")" closed "a 5th connection from 127.0.0.2"
wait_for 5 grep -q "client 127.0.0.2:[0-9]*: over max_connections_per_client 3: closed" "$T/sluice.err" ||
	fail "no log line for the refusal: $(tail -n 5 "$T/sluice.err")"
expect_eq "$(grep -c "over max_connections_per_client" "$T/sluice.err")" 1 "refusal log lines within 10 s"
ok "a client at its limit (3) has further connections closed at accept, noted once"

for i in 1 2 3 4 5; do
	curl -sf -m 5 -x "$PROXY" "$ORIGIN/bytes/10" -o /dev/null || fail "client 127.0.0.1 not served ($i)"
done
ok "another client (127.0.0.1) is served meanwhile"

exec {HOLD_IN}>&-
wait "$HOLD" 2>/dev/null
untrack "$HOLD"
served_again() { [ "$(perl "$T/try.pl" "$SLUICE_PORT" "$ORIGIN_PORT")" = "HTTP/1.1 200 OK" ]; } # (evaluated each try)
wait_for 10 served_again ||
	fail "127.0.0.2 not served again after its connections closed"
ok "once its connections close, the client is served again"
sluice_alive || fail "sluice died"
