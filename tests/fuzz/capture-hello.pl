#!/usr/bin/perl
# capture-hello.pl PORT FILE: accept one connection on 127.0.0.1:PORT and
# save what the client sends before it has been quiet for a second (its
# ClientHello: nothing answers it), then close.  How the hellos in corpus/
# and in tests/unit/test_tls_hello.c were taken, e.g.
#
#   tests/fuzz/capture-hello.pl 47101 h.bin &
#   timeout 3 openssl s_client -connect 127.0.0.1:47101 -servername www.example.test </dev/null
#   wait
#
# Loopback only; perl-base is enough.
use strict;
use warnings;
use Socket;

my ($port, $out) = @ARGV;
die "usage: $0 PORT FILE\n" unless defined $out && $port =~ /^\d+$/;
socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or die "setsockopt: $!\n";
bind($s, sockaddr_in($port, inet_aton("127.0.0.1"))) or die "bind 127.0.0.1:$port: $!\n";
listen($s, 1) or die "listen: $!\n";
accept(my $c, $s) or die "accept: $!\n";
my ($buf, $rin) = ("", "");
vec($rin, fileno($c), 1) = 1;
while (select(my $r = $rin, undef, undef, 1.0) > 0) {
	my $n = sysread($c, my $chunk, 65536);
	last unless $n;
	$buf .= $chunk;
}
open(my $f, ">:raw", $out) or die "$out: $!\n";
print $f $buf;
close($f) or die "$out: $!\n";
