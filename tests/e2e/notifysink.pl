#!/usr/bin/perl
# notifysink.pl SOCKET OUT: stand in for systemd's notification socket.
# Binds a datagram socket at SOCKET (NOTIFY_SOCKET for the service) and
# appends every message sd_notify sends to OUT, one "KEY=value" per line in
# the order they came, each line stamped with the monotonic milliseconds it
# arrived at ("1234 READY=1"), flushed at once so a test can wait on it.
use strict;
use warnings;
use Socket;
use IO::Handle;
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my ($path, $out) = @ARGV;
die "usage: notifysink.pl SOCKET OUT\n" unless defined $out;
unlink $path;
socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!\n";
bind($s, pack_sockaddr_un($path)) or die "bind $path: $!\n";
open(my $fh, '>>', $out) or die "$out: $!\n";
$fh->autoflush(1);
while (1) {
	my $msg;
	defined(recv($s, $msg, 65536, 0)) or next;
	my $ms = int(clock_gettime(CLOCK_MONOTONIC) * 1000);
	print $fh "$ms $_\n" for grep { length } split /\n/, $msg;
}
