# TCP urgent data inside a tunnel (telnet, FTP ABOR): splice stops at the
# urgent mark, so the relay must step over it and keep going; the bytes
# after it arrive, on the splice path and on the copy path.
. "$(dirname "$0")/lib.sh"
start_peer -e   # echoes what it gets
for splice in on off; do
	start_sluice "connect_ports $PEER_PORT" "tunnel_splice $splice"
	out=$(timeout 10 perl -MIO::Socket::INET -MSocket=MSG_OOB -e '
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or die "connect: $!";
		print $s "CONNECT 127.0.0.1:$ARGV[1] HTTP/1.1\r\n\r\n";
		my $head = ""; my $c;
		while ($head !~ /\r\n\r\n\z/) { sysread($s, $c, 1) or die "no answer"; $head .= $c; }
		$head =~ /^HTTP\/1.1 200/ or die "answer: $head";
		syswrite($s, "hello"); select(undef, undef, undef, 0.1);
		send($s, "!", MSG_OOB); select(undef, undef, undef, 0.1);
		syswrite($s, "world"); shutdown($s, 1);
		my ($buf, $all) = ("", ""); $all .= $buf while sysread($s, $buf, 4096);
		print $all;' "$SLUICE_PORT" "$PEER_PORT") || fail "tunnel_splice $splice: client failed"
	expect_eq "$out" "helloworld" "tunnel_splice $splice: bytes echoed around an urgent byte"
	ok "tunnel_splice $splice: urgent data does not stall the tunnel"
	stop_sluice
	untrack "$SLUICE_PID"
done
