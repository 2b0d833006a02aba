# An origin answers a large upload before reading it (a 413 on keep-alive)
# and then stops reading.  sluice relays the answer, and the request bytes
# still queued for that origin are dropped with a reset: no socket is left
# behind (orphaned in FIN-WAIT-1, probing a zero window for minutes) holding
# a megabyte of kernel memory for every such upload.
. "$(dirname "$0")/lib.sh"
start_sluice

# The origin: read the head, answer 413 and keep the connection open
# without reading another byte (until the test ends).
perl -MIO::Socket::INET -e '
	my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 4, ReuseAddr => 1) or die "listen: $!";
	open(my $f, ">", $ARGV[0]) or die; print $f $l->sockport, "\n"; close $f;
	my @keep;
	while (my $c = $l->accept) {
		my $head = "";
		while ($head !~ /\r\n\r\n/) { sysread($c, $head, 1, length $head) or last }
		syswrite($c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
		push @keep, $c;
	}' "$T/early.port" 2>"$T/early.err" &
PIDS+=($!)
wait_for 5 test -s "$T/early.port" || fail "origin did not start: $(cat "$T/early.err")"
OP=$(cat "$T/early.port")

# sockets towards the origin with bytes still queued, held by anyone (an
# orphan has no process).  One closed with nothing queued may wait in
# FIN-WAIT-2 for the origin's FIN: normal, and it holds no buffer.
to_origin() { ss -Htan state all dst "127.0.0.1:$OP" | awk '$1 == "FIN-WAIT-1" || $3 > 0' | wc -l; }

head -c 8000000 /dev/zero >"$T/upload"
for i in 1 2 3; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -x "$PROXY" --max-time 10 \
		-H 'Expect:' --data-binary @"$T/upload" "http://127.0.0.1:$OP/upload$i")
	expect_eq "$code" 413 "upload $i: the origin's early answer"
done
ok "early 413s relayed to the uploading clients"

none_to_origin() { [ "$(to_origin)" -eq 0 ]; } # (wait_for evaluates its arguments once)
wait_for 5 none_to_origin ||
	fail "$(to_origin) sockets towards the origin still hold bytes 5 s after the uploads: $(ss -Htano state all dst "127.0.0.1:$OP" | head -n 3)"
ok "nothing queued towards the origin: its unread request bytes were dropped with a reset"
sluice_alive || fail "sluice died"
