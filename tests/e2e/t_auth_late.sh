# A login check that answers after its request was already refused: a
# POST with a good login and a broken chunked body gets its 400 while the
# (slow, bcrypt) check still runs.  When the check then says "good", the
# refused request must stay refused: never sent to the origin, and sluice
# must not act on the finished exchange (it crashed on a NULL request head).
. "$(dirname "$0")/lib.sh"
command -v htpasswd >/dev/null || fail "htpasswd missing (apache2-utils: make deps-test)"

# witness: a listener that records every byte sent to it (the POST's origin)
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(Listen => 16, LocalAddr => "127.0.0.1:0", ReuseAddr => 1) or die "listen: $@";
	open(my $f, ">", $ARGV[0]) or die; print $f $s->sockport, "\n"; close $f;
	$| = 1;
	while (my $c = $s->accept) {
		open(my $o, ">>", $ARGV[1]) or die;
		print $o "connection\n";
		my $buf;
		while (sysread($c, $buf, 4096)) { print $o $buf; }
		close $o;
	}' "$T/witness.port" "$T/witness.got" 2>"$T/witness.err" &
PIDS+=($!)
wait_for 5 test -s "$T/witness.port" || fail "witness did not start: $(cat "$T/witness.err")"
WPORT=$(cat "$T/witness.port")
: >>"$T/witness.got"

start_origin
# bcrypt cost 12: a check long enough (about 0.2 s) for the client to get
# its 400 first; one auth thread, so checks answer in the order asked
htpasswd -c -b -B -C 12 "$T/users" slow 'slow pass' 2>/dev/null
start_sluice "auth_basic $T/users" "auth_threads 1" "http_access allow all"
cred=$(printf '%s' 'slow:slow pass' | base64 -w0)

# The POST: head, then a chunk-size line that is not one.  Read the 400 and
# sluice's FIN, send one byte more (the linger discards it), and keep the
# connection open until stdin closes.
mkfifo "$T/post.in"
perl -MIO::Socket::INET -e '
	my ($port, $wport, $cred) = @ARGV;
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10) or die "connect: $@";
	print $s "POST http://127.0.0.1:$wport/x HTTP/1.1\r\nHost: 127.0.0.1:$wport\r\n" .
		"Proxy-Authorization: Basic $cred\r\nTransfer-Encoding: chunked\r\n\r\n";
	print $s "zz-not-a-chunk\r\n";
	my ($got, $buf) = ("", "");
	$got .= $buf while sysread($s, $buf, 4096);
	print "answer: ", (split /\r\n/, $got)[0], "\n";
	syswrite($s, "x");
	$| = 1;
	print "held\n";
	1 while sysread(STDIN, my $x, 1);' "$SLUICE_PORT" "$WPORT" "$cred" <"$T/post.in" >"$T/post.out" 2>&1 &
POST_PID=$!
PIDS+=("$POST_PID")
exec {P}>"$T/post.in"
wait_for 10 grep -q "^held" "$T/post.out" || fail "the POST: $(cat "$T/post.out")"
grep -q "^answer: HTTP/1.1 400 " "$T/post.out" || fail "a broken chunk line: $(cat "$T/post.out")"

# The same login again: its answer comes from the same auth thread, after
# the first check's, so the first check has answered once this one has.
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -m 20 -x "$PROXY" -U 'slow:slow pass' "$ORIGIN/bytes/10")" 200 \
	"the same login, once the first check answered"
sluice_alive || fail "sluice died when the login check answered for a request it had refused"
exec {P}>&-
wait "$POST_PID"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -m 20 -x "$PROXY" -U 'slow:slow pass' "$ORIGIN/bytes/10")" 200 \
	"a request after that"
[ ! -s "$T/witness.got" ] || fail "the refused POST reached its origin: $(head -c 300 "$T/witness.got")"
# (the login was not checked yet when the 400 went: no user on the line)
access_log_has "/400 [0-9]* POST http://127.0.0.1:$WPORT/x - HIER_NONE/- - \"invalid chunk size\"" ||
	fail "access log for the refused POST: $(grep POST "$T/access.log")"
ok "a POST refused (400) while its login was checked: never sent, sluice alive when the check answers"
