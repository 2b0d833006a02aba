#!/usr/bin/perl
# fakeparent.pl PORTFILE MODE: a parent proxy that answers one way, for the
# cases a real one cannot be made to produce on demand.  Listens on a free
# loopback port (written to PORTFILE); logs each request line to stderr.
#
#   early        answers CONNECT with its 200 and "EARLY-BYTES" in the same
#                write, then echoes what arrives (upper-cased, so the test
#                sees it went through the parent)
#   interim      the same, with a 100 and a 103 before the 200
#   status:NNN   answers anything with status NNN and a body that must never
#                reach a client ("parent-secret-body"), then closes
use strict;
use warnings;
use IO::Socket::INET;

my ($portfile, $mode) = @ARGV;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64, ReuseAddr => 1)
	or die "listen: $!";
$SIG{CHLD} = 'IGNORE';
open(my $pf, '>', "$portfile.tmp") or die;
print $pf $srv->sockport, "\n";
close $pf;
rename "$portfile.tmp", $portfile;
$| = 1;

while (my $c = $srv->accept) {
	my $pid = fork;
	next if !defined $pid;
	if ($pid) { close $c; next; }
	$c->autoflush(1);
	my $head = '';
	while ($head !~ /\r\n\r\n/) {
		my $n = sysread($c, my $chunk, 4096);
		exit 0 if !$n;
		$head .= $chunk;
	}
	my ($h) = $head =~ /\A(.*?)\r\n\r\n/s;
	$h =~ s/\r//g;
	print STDERR "$h\n\n";
	if ($mode =~ /^status:(\d+)$/) {
		my $body = "parent-secret-body";
		syswrite($c, "HTTP/1.1 $1 From The Fake Parent\r\nProxy-Authenticate: Basic realm=\"p\"\r\n"
			. "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body");
		exit 0;
	}
	# early: the 200 and the first bytes of the tunnel in one write
	my $interim = $mode eq 'interim' ? "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" : '';
	syswrite($c, $interim . "HTTP/1.1 200 Connection established\r\n\r\nEARLY-BYTES");
	my (undef, $rest) = split(/\r\n\r\n/, $head, 2);
	syswrite($c, uc $rest) if defined $rest && length $rest;
	while (1) {
		my $n = sysread($c, my $buf, 4096);
		last if !$n;
		syswrite($c, uc $buf);
	}
	exit 0;
}
