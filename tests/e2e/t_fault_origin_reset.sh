# An origin that resets (SO_LINGER 0) at every phase, with 40 concurrent
# clients per phase and a control set of clients fetching from a healthy
# origin all along:
#   - in the middle of the response head: every request gets sluice's 502;
#   - in the middle of the body (Content-Length and chunked): every client
#     sees its response cut, never a short body that looks complete;
#   - right after a response, with more requests pipelined behind it on the
#     connection: every pipelined request is answered, intact, in order
#     (sluice asks again on a fresh connection);
#   - while idle in sluice's pool: sluice drops the dead connections at once
#     (not at upstream_idle_timeout), and requests racing the reset succeed.
# After it all: sluice alive and serving, every control request answered,
# its descriptors back to the baseline taken before any traffic and its RSS
# within 1 MiB of the one after a warm-up of the same shape.
. "$(dirname "$0")/lib.sh"
command -v ss >/dev/null || skip "ss missing"
N=40

start_origin
HEALTHY=$ORIGIN HEALTHY_PORT=$ORIGIN_PORT
start_origin
FAULTY=$ORIGIN FAULTY_PORT=$ORIGIN_PORT
# upstream_idle_timeout 8s: long enough that a pooled connection dropped
# within 6 s was dropped for the origin's reset, short enough to settle.
start_sluice "workers 2" "upstream_idle_timeout 8s"
read -r fd0 sock0 pipe0 < <(fd_census "$SLUICE_PID")
base=$(nonpipe_fds "$SLUICE_PID")
echo "# baseline: $fd0 fds ($sock0 sockets, $pipe0 pipes)"
rss_slack

# The control set runs from here to the end: 4 clients, each request on a
# new connection, each answer checked.
control_start 4 "$HEALTHY/bytes/30000" 30000

# pipeline.pl PORT HOST ROUTE OUT: pipelines 10 GETs in one write, reads
# until the connection ends (20 s at most), writes what came to OUT
{ echo "$RST_PERL"; cat <<'PERL'; } >"$T/pipeline.pl"
my ($port, $host, $route, $out) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Timeout => 5) or die "connect: $!";
my $req = "";
for my $k (1 .. 10) {
	my $last = $k == 10 ? "Connection: close\r\n" : "";
	$req .= "GET http://$host/$route/" . (200000 + $k) . " HTTP/1.1\r\nHost: $host\r\n$last\r\n";
}
print $s $req;
my ($buf, $all) = ("", "");
my $end = time + 20;
my $sel = IO::Select->new($s);
while (time < $end) {
	last unless $sel->can_read($end - time);
	my $n = sysread($s, $buf, 65536);
	last unless $n;
	$all .= $buf;
}
open(my $fh, ">", $out) or die;
while ($all =~ s/\AHTTP\/1\.1 (\d{3}) [^\r\n]*\r\n(.*?)\r\n\r\n//s) {
	my ($code, $h) = ($1, $2);
	my ($len) = $h =~ /^content-length: *(\d+)\r?$/mi;
	$len //= -1;
	my $body = $len >= 0 ? substr($all, 0, $len, "") : "";
	my $closing = $h =~ /^connection: *close\r?$/mi ? " close" : "";
	print $fh "$code $len " . length($body) . "$closing\n";
}
print $fh "rest " . length($all) . "\n";
PERL
# pipe_client PORT ROUTE I: client I pipelines GET /ROUTE/200001 ..
# /ROUTE/200010 to 127.0.0.1:PORT; "CODE LENGTH GOT[ close]" per answer in
# $T/pipe.I, then "rest BYTES" (what followed the last whole answer)
pipe_client() {
	timeout 30 perl "$T/pipeline.pl" "$SLUICE_PORT" "127.0.0.1:$1" "$2" "$T/pipe.$3" 2>"$T/pipe.$3.err"
}
# pipe_round: N pipelining clients against the resetting origin; each
# client's answers are tallied (SHORT: clients that did not get all 10,
# CLOSED: of those, the ones told "Connection: close" after a whole answer
# with the rest unanswered; ANSWERED: whole answers)
want=$(for k in $(seq 200001 200009); do echo "200 $k $k"; done; printf '200 200010 200010 close\nrest 0')
SHORT=0 CLOSED=0 ANSWERED=0 ROUNDS=0
pipe_round() {
	local i got n
	fan_out "$N" pipe_client "$FAULTY_PORT" rst-after
	ROUNDS=$((ROUNDS + 1))
	for i in $(seq "$N"); do
		got=$(cat "$T/pipe.$i")
		n=$(grep -c '^200 ' "$T/pipe.$i")
		ANSWERED=$((ANSWERED + n))
		[ "$got" != "$want" ] || continue
		SHORT=$((SHORT + 1))
		if [ "$n" -ge 1 ] && [ "$got" = "$(echo "$want" | head -n $((n - 1)); echo "200 $((200000 + n)) $((200000 + n)) close"; echo "rest 0")" ]; then
			CLOSED=$((CLOSED + 1))
		fi
		[ "$SHORT" -gt 1 ] || EXAMPLE="client $i got [$(tr '\n' '|' <"$T/pipe.$i")] $(cat "$T/pipe.$i.err")"
	done
}

# --- warm-up ------------------------------------------------------------------------------
# Twice 40 clients at once, small and 2 MB bodies from the healthy origin,
# a round of the body resets and three of the pipelined resets below (their
# outcome is checked there, not here): sluice keeps buffers in free-lists and malloc keeps its
# arenas, so memory grows to a plateau over the first rounds of a load and
# stays there (6 rounds of the pipelined resets: 5336, 5468, 5792, 5828,
# 5828, 5840 kB); RSS after the faults is held to the figure after this.
# (With one warm-up round, a CI run once saw the two rounds after it still
# climbing: +1,464 kB; locally +170 to +690 kB.  Without a round of the
# body resets, whose 40 clients at once hold the most buffers, a CI run saw
# +1,028 kB; locally +32 to +44 kB.)
# The control set's connections come and go (at most 4 clients and their
# origin connections).
# body_client I: four downloads the origin resets half way (the body section)
body_client() {
	local i=$1 u
	for u in rst-body/2000000 rst-chunked/2000000 rst-body/30000 rst-chunked/30000; do
		curl -s -m 20 -x "$PROXY" -o "$T/body.$i" -w "$u %{http_code} %{size_download}" "$FAULTY/$u"
		echo " exit=$?"
	done >"$T/body.$i.res" 2>&1
}
warm() {
	curl -s -m 20 -x "$PROXY" -o /dev/null "$HEALTHY/bytes/100" -o /dev/null "$HEALTHY/bytes/2000000" \
		-o /dev/null "$HEALTHY/chunked/2000000" -o /dev/null "$HEALTHY/bytes/100"
}
fan_out "$N" warm
fan_out "$N" warm
fan_out "$N" body_client
pipe_round
pipe_round
pipe_round
wait_for 15 fds_at_most "$SLUICE_PID" $((base + 8)) || fail "after the warm-up: $(nonpipe_fds "$SLUICE_PID") fds, baseline $base"
rss0=$(rss_kb "$SLUICE_PID")
echo "# after the warm-up: RSS $rss0 kB"

# --- the head: reset after 0 .. 80 bytes of it -------------------------------------------
head_client() {
	local i=$1 k args=()
	for k in 0 1 17 40 80; do args+=(-o "$T/head.$i.$k" "$FAULTY/rst-head/$k"); done
	curl -s -m 20 -x "$PROXY" -w '%{http_code}\n' "${args[@]}" >"$T/head.$i.codes" 2>&1
	echo "exit=$?" >>"$T/head.$i.codes"
}
fan_out "$N" head_client
for i in $(seq "$N"); do
	expect_eq "$(tr '\n' ' ' <"$T/head.$i.codes")" "502 502 502 502 502 exit=0 " "head reset, client $i"
	for k in 0 1 17 40 80; do
		grep -q "^sluice: 502 .*: upstream \(reset\|closed\) the connection" "$T/head.$i.$k" ||
			fail "head reset after $k bytes, client $i: body $(head -c 200 "$T/head.$i.$k")"
	done
done
sluice_alive || fail "sluice died (head resets)"
ok "origin resets mid-head: all $((N * 5)) requests got sluice's 502"

# --- the body: half of a Content-Length or chunked body, then a reset ---------------------
fan_out "$N" body_client
for i in $(seq "$N"); do
	while read -r u code size ex; do
		full=${u#*/}
		[ "$code" = 200 ] || fail "body reset $u, client $i: status $code"
		case $ex in exit=18 | exit=56) ;; *) fail "body reset $u, client $i: curl $ex, $size of $full bytes: not a cut" ;; esac
		[ "$size" -lt "$full" ] || fail "body reset $u, client $i: $size bytes of $full"
	done <"$T/body.$i.res"
	expect_eq "$(wc -l <"$T/body.$i.res")" 4 "body reset, client $i: transfers"
done
sluice_alive || fail "sluice died (body resets)"
ok "origin resets mid-body: all $((N * 4)) responses cut (curl 18 or 56), none complete"

# --- between pipelined responses ----------------------------------------------------------------
# Each client pipelines 10 GETs in one write; the origin answers each
# (about 200 kB) and resets its connection 0-299 us later.  Every answer
# must arrive, whole and in order: a reset pooled connection is sluice's
# business, and it asks again on a fresh one.  (Whether a reset lands just
# as sluice reuses the connection for the next request is a matter of
# timing: from 0.6% to 10% of them on this 2-CPU machine, with other work
# on it; with the warm-up's rounds, five rounds of 40 clients make 1800
# chances.)
pipe_round
pipe_round
sluice_alive || fail "sluice died (pipelined resets)"
if [ "$SHORT" -gt 0 ]; then
	fail_later "pipelined requests behind resets: $SHORT of $((ROUNDS * N)) clients did not get all 10 answers ($ANSWERED of $((ROUNDS * N * 10)) answered; $CLOSED of them were told \"Connection: close\" after a whole answer and the rest went unanswered); $EXAMPLE"
else
	ok "origin resets after each pipelined response: all $((ROUNDS * N * 10)) pipelined requests answered in order"
fi

# --- idle in the pool ----------------------------------------------------------------------------
# Each answer leaves the origin connection pooled; 2.5 s later the origin
# resets it.  sluice must notice at once, not at upstream_idle_timeout (8 s).
idle_client() { curl -s -m 10 -x "$PROXY" -o /dev/null -w '%{http_code}\n' "$FAULTY/rst-idle/2500" >"$T/idle.$1" 2>&1; }
fan_out "$N" idle_client
t_idle=$(now_ms)
pooled=$(conns_to "$SLUICE_PID" "$FAULTY_PORT")
for i in $(seq "$N"); do expect_eq "$(cat "$T/idle.$i")" 200 "request before the idle reset, client $i"; done
[ "$pooled" -ge 1 ] || fail "no connection to the origin pooled after $N kept-alive answers"
wait_for 6 conns_to_is "$SLUICE_PID" "$FAULTY_PORT" 0 ||
	fail "$(conns_to "$SLUICE_PID" "$FAULTY_PORT") pooled connections still open 6 s after the answers, 3.5 s after the origin reset them: $(ss -Htanp dst "127.0.0.1:$FAULTY_PORT" | head -n 5)"
ok "origin resets idle pooled connections: sluice held $pooled, dropped all within $(($(now_ms) - t_idle)) ms"

# Requests that race the reset: the origin waits 100 ms for the next
# request, the clients come back after 50-150 ms.  A request sent on a
# connection being reset is asked again on a fresh one: all must succeed.
race_client() {
	local i=$1 k
	for k in $(seq 8); do
		curl -s -m 10 -x "$PROXY" -o /dev/null -w '%{http_code}\n' "$FAULTY/rst-idle/100"
		sleep "0.$(printf '%02d' $((5 + (i * 7 + k * 13) % 11)))" # pacing, not a wait for anything
	done >"$T/race.$i" 2>&1
}
fan_out 20 race_client
for i in $(seq 20); do
	expect_eq "$(tr '\n' ' ' <"$T/race.$i")" "200 200 200 200 200 200 200 200 " "requests racing idle resets, client $i"
done
sluice_alive || fail "sluice died (idle resets)"
ok "160 requests racing the resets of pooled connections: all 200"

# --- everyone else, and what is left ------------------------------------------------------------
control_stop 3
ok "control clients on the healthy origin: $CONTROL_ROUNDS requests, all 200 and intact"

code=$(curl -s -m 5 -x "$PROXY" -o /dev/null -w '%{http_code}' "$HEALTHY/bytes/10")
expect_eq "$code" 200 "a request after the faults"
# Pooled connections to the healthy origin close after upstream_idle_timeout.
wait_for 20 fds_at_most "$SLUICE_PID" "$base" ||
	fail "descriptors: $(nonpipe_fds "$SLUICE_PID") (not counting pipes) 20 s after the faults, baseline $base: $(fd_kinds "$SLUICE_PID")"
read -r fd1 sock1 pipe1 < <(fd_census "$SLUICE_PID")
# Long bodies are spliced: the pools may keep 32 idle pipes (two fds each)
# per worker, but a pipe a reset left bytes in must have been closed.
[ "$pipe1" -le $((pipe0 + 2 * 32 * 2)) ] || fail "pipe fds after the faults: $pipe1 (baseline $pipe0, pools keep at most 128)"
full=$(full_pipes "$SLUICE_PID")
[ "$full" = "?" ] || expect_eq "$full" 0 "pipes still holding bytes after the bodies cut by resets"
rss1=$(rss_kb "$SLUICE_PID")
echo "# after the faults: $fd1 fds ($sock1 sockets, $pipe1 pipes, $full of them not empty), RSS $rss1 kB (after the warm-up $rss0 kB)"
# 1 MiB of slack: the free-lists are already grown, so only a leak (or a
# page or two of malloc arena) can add; it is 64 16-KiB buffers, against
# some 1300 faulted exchanges, so a buffer leaked per exchange shows.
[ "$rss1" -le $((rss0 + RSS_SLACK_KB)) ] || fail "RSS $rss1 kB after the faults, $rss0 kB after the warm-up: grew by $((rss1 - rss0)) kB"
ok "descriptors back to the baseline ($fd0 -> $fd1), RSS $rss0 -> $rss1 kB"
sluice_alive || fail "sluice died"
fail_if_any
