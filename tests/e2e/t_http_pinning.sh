# Connection-based authentication (NTLM, Negotiate: IIS's default) logs in
# the TCP connection, not the request.  Once a client has logged in on a
# server connection, that connection is that client's alone: never pooled,
# never given to another client (who would be served as that user), closed
# with its client.  The origin here is a small Perl server that answers
# "hello USER" on a connection that sent "Authorization: NTLM USER", and
# challenges every other connection with 401 and "WWW-Authenticate: NTLM".
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

cat >"$T/ntlm-origin.pl" <<'PERL'
use strict;
use IO::Socket::INET;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64, ReuseAddr => 1)
	or die "listen: $!";
open(my $pf, '>', "$ARGV[0].tmp") or die; print $pf $srv->sockport, "\n"; close $pf;
rename("$ARGV[0].tmp", $ARGV[0]);
$SIG{CHLD} = 'IGNORE';
my $n = 0;
while (1) {
	my $c = $srv->accept or next;
	$n++;
	if (fork) { close $c; next; }
	my ($user, $buf) = (undef, '');
	while (1) {
		while ($buf !~ /\r\n\r\n/) {
			my $got = sysread($c, my $more, 4096);
			exit 0 unless $got;
			$buf .= $more;
		}
		$buf =~ s/\A(.*?)\r\n\r\n//s;
		my $head = $1;
		my ($cred) = $head =~ /^Authorization: NTLM (\S+)\r?$/mi;
		my ($status, $extra, $body);
		if (defined $cred && $cred eq 'negotiate') {
			($status, $extra, $body) = ('401 Unauthorized', "WWW-Authenticate: NTLM challenge\r\n", 'go on');
		} elsif (defined $cred) {
			$user = $cred;
		}
		if (!defined $status && defined $user) {
			($status, $extra, $body) = ('200 OK', '', "hello $user on connection $n");
		} elsif (!defined $status) {
			($status, $extra, $body) = ('401 Unauthorized', "WWW-Authenticate: NTLM\r\n", 'log in');
		}
		print $c "HTTP/1.1 $status\r\n${extra}Content-Length: " . length($body) . "\r\n\r\n$body";
	}
}
PERL
perl "$T/ntlm-origin.pl" "$T/ntlm.port" 2>"$T/origin-ntlm.err" &
PIDS+=($!)
wait_for 5 test -s "$T/ntlm.port" || fail "the NTLM origin did not start"
ORIGIN_PORT=$(cat "$T/ntlm.port")
start_sluice "workers 1"

# Client A logs in: a challenge on its first request, then its login.
conn_open
A=$C
request GET /a1 "Authorization: NTLM negotiate"
read_resp || fail "A: no answer to its first step"
expect_eq "$R_STATUS|$(hdr WWW-Authenticate)" "HTTP/1.1 401 Unauthorized|NTLM challenge" "A: the challenge"
request GET /a2 "Authorization: NTLM alice"
read_resp || fail "A: no answer to its login"
expect_eq "$R_STATUS" "HTTP/1.1 200 OK" "A: logged in"
conn_a=${R_BODY##* }

# Client B, no credentials, on a connection of its own: never served as alice
conn_open
B=$C
request GET /b1
read_resp || fail "B: no answer"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 401 Unauthorized|log in" "B, who never logged in"
request GET /b2
read_resp || fail "B: no answer to its second request"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 401 Unauthorized|log in" "B again (its challenged connection is its own too)"
ok "a client without credentials is not served on another client's logged-in connection"

# A goes on on its own connection, without sending the login again
C=$A
request GET /a3
read_resp || fail "A: no answer to its third request"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|hello alice on connection $conn_a" "A, on its logged-in connection"
ok "the logged-in client keeps its server connection (connection $conn_a)"

# both clients leave: their server connections go with them, none is pooled
conn_close
C=$B
conn_close
wait_for 5 conns_to_is "$SLUICE_PID" "$ORIGIN_PORT" 0 ||
	fail "sluice still holds $(conns_to "$SLUICE_PID" "$ORIGIN_PORT") connection(s) to the origin after its clients left"
conn_open
request GET /c1 "Connection: close"
read_resp || fail "C: no answer"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 401 Unauthorized|log in" "a third client after both left"
conn_close
ok "pinned server connections close with their clients; nobody inherits a login"

# --- through parent proxies -------------------------------------------------------------------
# The login lives on sluice's connection to the parent (which pins its own
# connection to the origin in turn): the next requests must take that
# connection, through that parent, whichever parent the weights would pick,
# and a request to another origin in between must not take it.
NTLM_PORT=$ORIGIN_PORT
start_sluice_as parent "workers 1"
start_origin
OTHER_PORT=$ORIGIN_PORT
ORIGIN_PORT=$NTLM_PORT
start_sluice_as child "workers 1" "parent x 127.0.0.1:$SLUICE_AS_PORT" "parent y 127.0.0.1:$SLUICE_AS_PORT" \
	"route_default x,y"
SLUICE_PORT=$SLUICE_AS_PORT
conn_open
request GET /p1 "Authorization: NTLM negotiate"
read_resp || fail "through parents: no answer to the first step"
expect_eq "$R_STATUS|$(hdr WWW-Authenticate)" "HTTP/1.1 401 Unauthorized|NTLM challenge" "through parents: the challenge"
request GET /p2 "Authorization: NTLM carol"
read_resp || fail "through parents: no answer to the login"
expect_eq "$R_STATUS" "HTTP/1.1 200 OK" "through parents: logged in"
conn_p=${R_BODY##* }
ORIGIN_PORT=$OTHER_PORT request GET /bytes/5
read_resp || fail "through parents: no answer from the other origin"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|abcde" "through parents: another origin in between"
for p in /p3 /p4; do
	request GET "$p"
	read_resp || fail "through parents: no answer to $p"
	expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|hello carol on connection $conn_p" "through parents: $p"
done
conn_close
ok "through two parents: the login's connection (and its parent) serves the client's next requests"
