# Long Content-Length bodies move by splice() (body_splice_min), both ways,
# and the framing stays exact:
#   A. downloads of odd sizes are byte-exact and the spliced-bytes counter
#      grows by all of each body but what came with its head; after a
#      reload to body_splice_min 0 the same bytes come, none spliced;
#   B. one kept-alive client: spliced, short, spliced and HEAD responses all
#      over one server connection (X-Conn-Id), each parsed where the one
#      before ended;
#   C. an origin that writes stale bytes right behind a spliced body: the
#      client gets exactly the body, and its next request is answered on a
#      fresh connection, never with the stale bytes (spliced and parsed);
#   D. an origin that closes short of its Content-Length: the client sees
#      the cut (curl exit 18), the log says why;
#   E. a 1,000,001-byte POST echoed (spliced up and down), and a GET
#      written right behind a spliced POST body on the same connection is
#      answered as the next request;
#   F. an origin that never reads a spliced upload: 504 (its fault), not
#      408 (the client's) when idle_timeout passes with bytes held;
# and afterwards no pipe holds bytes.
. "$(dirname "$0")/lib.sh"

start_origin
start_sluice "admin 127.0.0.1:0" "admin_allow 127.0.0.1" "idle_timeout 2s"
ADMIN=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) admin.*/\1/p' "$T/sluice.err")
[ -n "$ADMIN" ] || fail "no admin listener logged"
spliced() {
	curl -s -f --max-time 5 "http://127.0.0.1:$ADMIN/metrics" |
		awk -v s="sluice_body_spliced_bytes_total{direction=\"$1\"}" 'index($0, s " ") == 1 { print $NF }'
}
HEAD_READ=16384 # buffer_size: the most read with a head, before the relay starts

# --- A. byte-exact, and spliced ----------------------------------------------------------------
download() { # SIZE: fetch /bytes/SIZE through sluice and compare with the pattern
	curl -s -f --max-time 20 -x "$PROXY" "$ORIGIN/bytes/$1" -o "$T/got" || fail "download of $1 bytes: curl $?"
	cmp -s "$T/got" <("$ORIGIN_BIN" --gen "$1") || fail "download of $1 bytes differs from the origin's"
}
total=0
for n in 90001 1000003 4194304 16777259; do # each above body_splice_min + buffer_size
	before=$(spliced down)
	download "$n"
	got=$(( $(spliced down) - before ))
	[ "$got" -ge $((n - HEAD_READ)) ] && [ "$got" -le "$n" ] ||
		fail "$n-byte body: $got bytes spliced, want $((n - HEAD_READ)) to $n"
	total=$((total + got))
done
ok "bodies of 90,001 B to 16 MiB byte-exact, $total bytes of them spliced"
before=$(spliced down)
download 65535 # below body_splice_min (64k) whatever came with the head
download 1000
expect_eq "$(( $(spliced down) - before ))" 0 "bytes spliced of bodies below body_splice_min"

sed -i '/^body_splice_min/d' "$T/sluice.conf"
echo "body_splice_min 0" >>"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 grep -q "configuration reloaded" "$T/sluice.err" || fail "no reload: $(tail -n 3 "$T/sluice.err")"
before=$(spliced down)
download 1000003
expect_eq "$(spliced down)" "$before" "bytes spliced with body_splice_min 0"
ok "body_splice_min 0 (reloaded): the same bytes, none spliced"
sed -i '/^body_splice_min/d' "$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 lines_ge 2 "configuration reloaded" "$T/sluice.err" || fail "no second reload"

# --- B. one client, one server connection, parsed where each ended -----------------------------------
conn_open
ids=
for p in /bytes/300000 /bytes/17 /bytes/1000000 /bytes/200000; do
	request GET "$p" "Host: 127.0.0.1:$ORIGIN_PORT"
	read_resp nobody || fail "no response to $p"
	expect_eq "$R_STATUS" "HTTP/1.1 200 OK" "status of $p"
	len=$(hdr Content-Length | tr -d '\r')
	expect_eq "$len" "${p#/bytes/}" "Content-Length of $p"
	head -c "$len" <&"$C" | cmp -s - <("$ORIGIN_BIN" --gen "$len") || fail "body of $p on a kept-alive connection"
	ids+="$(hdr X-Conn-Id) "
done
request HEAD /bytes/500000 "Host: 127.0.0.1:$ORIGIN_PORT"
read_resp nobody || fail "no response to HEAD"
expect_eq "$(hdr Content-Length)" 500000 "HEAD's Content-Length"
ids+="$(hdr X-Conn-Id) "
request GET /bytes/5 "Host: 127.0.0.1:$ORIGIN_PORT" "Connection: close"
read_resp || fail "no response after the HEAD"
expect_eq "$R_BODY" "$("$ORIGIN_BIN" --gen 5)" "body after the HEAD"
ids+="$(hdr X-Conn-Id)"
conn_close
set -- $ids
for id in "$@"; do expect_eq "$id" "$1" "server connection of each response (X-Conn-Id: $ids)"; done
ok "spliced, short, spliced, spliced, HEAD and short responses on one server connection ($ids)"

# --- C. stale bytes behind a spliced body ------------------------------------------------------------
STALE_PORT=$(free_port)
perl -MIO::Socket::INET -e '
	my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1)
		or die "listen: $!";
	$SIG{CHLD} = "IGNORE";
	while (my $c = $l->accept) {
		next if fork;
		while (1) {
			my $head = "";
			while ($head !~ /\r\n\r\n/) { sysread($c, $head, 4096, length $head) or exit 0; }
			my $out = $head =~ m{^GET \S*/big } ?
				"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" . ("a" x 200000) .
				"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTALE" :
				"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nFRESH";
			syswrite($c, $out) == length $out or exit 0;
		}
	}' "$STALE_PORT" &
PIDS+=($!)
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$STALE_PORT" 2>/dev/null || fail "stale origin did not start"
stale_round() { # WHAT
	curl -s -f --max-time 10 -x "$PROXY" "http://127.0.0.1:$STALE_PORT/big" -o "$T/big" \
		"http://127.0.0.1:$STALE_PORT/small" -o "$T/small" || fail "$1: curl $?"
	expect_eq "$(wc -c <"$T/big")" 200000 "$1: bytes of the body before the stale ones"
	expect_eq "$(tr -d a <"$T/big" | wc -c)" 0 "$1: the body is the origin's"
	expect_eq "$(cat "$T/small")" FRESH "$1: the next response"
}
before=$(spliced down)
stale_round spliced
[ "$(( $(spliced down) - before ))" -gt 0 ] || fail "the 200,000-byte body was not spliced"
sed -i '/^body_splice_min/d' "$T/sluice.conf"
echo "body_splice_min 0" >>"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 lines_ge 3 "configuration reloaded" "$T/sluice.err" || fail "no third reload"
stale_round parsed
sed -i '/^body_splice_min/d' "$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 lines_ge 4 "configuration reloaded" "$T/sluice.err" || fail "no fourth reload"
ok "stale bytes behind a body (spliced and parsed): body exact, the next answer FRESH"

# --- D. short of its length --------------------------------------------------------------------------
before=$(spliced down)
curl -s --max-time 10 -x "$PROXY" "$ORIGIN/truncate/2000000" -o "$T/cut"
rc=$?
expect_eq "$rc" 18 "curl's exit for a body cut short"
expect_eq "$(wc -c <"$T/cut")" 1000000 "bytes the client got of the cut body"
cmp -s "$T/cut" <("$ORIGIN_BIN" --gen 1000000) || fail "the cut body's bytes differ"
[ "$(( $(spliced down) - before ))" -gt 0 ] || fail "the cut body was not spliced"
wait_for 5 grep -q "truncate/2000000.*upstream closed mid-response\|upstream closed mid-response.*truncate/2000000" "$T/access.log" ||
	wait_for 5 grep -q "upstream closed mid-response" "$T/sluice.err" "$T/access.log" ||
	fail "no log of the cut: $(tail -n 2 "$T/access.log")"
ok "a body cut short while spliced: curl 18 after the 1,000,000 bytes sent"

# --- E. request bodies ---------------------------------------------------------------------------
"$ORIGIN_BIN" --gen 1000001 >"$T/post"
up0=$(spliced up)
curl -s -f --max-time 20 -x "$PROXY" --data-binary @"$T/post" -H "Content-Type: application/octet-stream" \
	-H "Expect:" "$ORIGIN/echo" -o "$T/echoed" || fail "POST echo: curl $?"
cmp -s <(tail -c 1000001 "$T/echoed") "$T/post" || fail "the echoed 1,000,001-byte body differs"
[ "$(( $(spliced up) - up0 ))" -ge $((1000001 - HEAD_READ)) ] || fail "the POST body was not spliced: $(( $(spliced up) - up0 ))"
ok "a 1,000,001-byte POST echoed byte-exact, spliced up ($(( $(spliced up) - up0 )) bytes)"

perl -MIO::Socket::INET -e '
	my ($port, $oport, $file) = @ARGV;
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die "connect: $!";
	open(my $f, "<", $file) or die; local $/; my $body = <$f>;
	my $req = "POST http://127.0.0.1:$oport/echo HTTP/1.1\r\nHost: 127.0.0.1:$oport\r\nContent-Length: " .
		length($body) . "\r\n\r\n" . $body .
		"GET http://127.0.0.1:$oport/bytes/10 HTTP/1.1\r\nHost: 127.0.0.1:$oport\r\nConnection: close\r\n\r\n";
	my $off = 0;
	if (fork == 0) { while ($off < length $req) { my $n = syswrite($s, $req, 65536, $off) or exit 1; $off += $n; } exit 0; }
	my $all = "";
	while (sysread($s, $all, 1 << 20, length $all)) { }
	print $all;' "$SLUICE_PORT" "$ORIGIN_PORT" "$T/post" >"$T/pipelined" 2>"$T/pipelined.err" || true
perl -0777 -e '
	my ($file, $n) = @ARGV; open(my $f, "<", $file) or die; my $all = <$f>;
	$all =~ s/\A(HTTP\/1\.1 200 [^\r]*\r\n.*?\r\n\r\n)//s or die "no first response\n";
	my ($len) = $1 =~ /^Content-Length: (\d+)\r$/mi or die "first response: no length\n";
	my $body = substr($all, 0, $len, "");
	substr($body, -$n) eq do { open(my $p, "<", $ARGV[2]) or die; local $/; <$p> } or die "echoed body differs\n";
	$all =~ s/\A(HTTP\/1\.1 200 [^\r]*\r\n.*?\r\n\r\n)//s or die "no second response after the body\n";
	print $all;' "$T/pipelined" 1000001 "$T/post" >"$T/second" || fail "pipelined POST then GET: $(cat "$T/pipelined.err")"
expect_eq "$(cat "$T/second")" "$("$ORIGIN_BIN" --gen 10)" "the GET written behind a spliced POST body"
ok "a GET written right behind a spliced 1,000,001-byte POST body answered as its own request"

# --- F. an origin that stops reading a spliced upload ------------------------------------------
truncate -s 200M "$T/upload" # more than the sockets on both sides can hold
code=$(curl -s --max-time 20 -x "$PROXY" -T "$T/upload" -H "Expect:" -o "$T/stall.body" -w '%{http_code}' \
	"$ORIGIN/stall-body")
expect_eq "$code" 504 "an upload the origin stopped reading, after idle_timeout (body: $(cat "$T/stall.body"))"
grep -q "upstream response timed out" "$T/stall.body" || fail "the 504's reason: $(cat "$T/stall.body")"
rm -f "$T/upload"
ok "a spliced upload the origin stopped reading: 504 upstream response timed out"

full=$(full_pipes "$SLUICE_PID")
[ "$full" = "?" ] || expect_eq "$full" 0 "pipes holding bytes once everything is done"
sluice_alive || fail "sluice died"
