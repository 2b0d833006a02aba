# A client may shut its write side once its request is out (RFC 9112 9.6):
# the answer must still arrive, pipelined requests included.
. "$(dirname "$0")/lib.sh"
start_origin
start_sluice

# halfclose PORT: send stdin, shut the write side, print all that comes back.
halfclose() {
	timeout 10 perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or die "connect: $!";
		local $/; my $req = <STDIN>; print $s $req; shutdown($s, 1);
		binmode STDOUT; my $buf; print $buf while sysread($s, $buf, 65536);' "$1"
}

printf 'GET %s/bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n' "$ORIGIN" | halfclose "$SLUICE_PORT" >"$T/r1"
expect_eq "$(status_of "$T/r1")" "HTTP/1.1 200 OK" "GET then shutdown: status"
expect_eq "$(body_of "$T/r1")" "abcdefghij" "GET then shutdown: body"
ok "GET followed by a shutdown of the client's write side is answered"

printf 'GET %s/bytes/3 HTTP/1.1\r\nHost: x\r\n\r\nGET %s/bytes/5 HTTP/1.1\r\nHost: x\r\n\r\n' "$ORIGIN" "$ORIGIN" |
	halfclose "$SLUICE_PORT" >"$T/r2"
expect_eq "$(grep -ao 'HTTP/1.1 200 OK' "$T/r2" | wc -l)" 2 "pipelined then shutdown: responses"
ok "pipelined requests followed by a shutdown are all answered"

"$ORIGIN_BIN" --gen 50000 >"$T/up"
{ printf 'POST %s/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n' "$ORIGIN"; cat "$T/up"; } |
	halfclose "$SLUICE_PORT" >"$T/r3"
expect_eq "$(status_of "$T/r3")" "HTTP/1.1 200 OK" "upload then shutdown: status"
body_of "$T/r3" | tail -c 50000 | cmp -s - "$T/up" || fail "upload then shutdown: body differs"
ok "an upload followed by a shutdown is answered"
