# wsserver.pl PORT: a WebSocket server for one test (t_tunnel_ws_browser):
# answers each handshake (RFC 6455 4.2.2), sends one text message and waits
# for the client to close.  Loopback only; perl core modules only.
use strict;
use warnings;
use IO::Socket::INET;
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64);

my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 8, ReuseAddr => 1)
	or die "listen: $!";
$| = 1;
print "listening\n";
while (my $c = $l->accept) {
	my $head = "";
	while ($head !~ /\r\n\r\n/) { sysread($c, $head, 4096, length $head) or last }
	my ($key) = $head =~ /^Sec-WebSocket-Key:\s*(\S+)\r$/mi;
	if (!defined $key) { close $c; next }
	my $accept = encode_base64(sha1($key . "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"), "");
	syswrite($c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		. "Sec-WebSocket-Accept: $accept\r\n\r\n");
	my $msg = "hello through sluice";
	syswrite($c, chr(0x81) . chr(length $msg) . $msg);
	1 while sysread($c, my $buf, 4096);
	close $c;
}
