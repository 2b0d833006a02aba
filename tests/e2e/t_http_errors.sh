# Upstream failures: what the client sees and what the access log says.
#
# 502 for a refused connection, a reset, a malformed response head; 504 when
# the origin never answers within response_timeout; a response cut short
# must reach the client as a cut (connection closed before the announced
# length), never as a short body that looks complete.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C


start_origin
P=$ORIGIN_PORT
start_sluice "response_timeout 1s"

# (access_log_has takes a basic regular expression: \(a\|b\) for alternatives)

# local_error NAME STATUS REASON CAUSE-REGEX URL: sluice answers STATUS itself,
# with a text body naming sluice and the cause, and closes the connection
local_error() {
	local name=$1 status=$2 reason=$3 cause=$4 url=$5 rc
	printf 'GET %s HTTP/1.1\r\nX-Case: %s\r\n\r\n' "$url" "$name" | raw "$SLUICE_PORT" 10 >"$T/resp"
	rc=$?
	expect_eq "$(status_of "$T/resp")" "HTTP/1.1 $status $reason" "$name: status"
	expect_eq "$rc" 0 "$name: client connection closed after the error (raw rc)"
	head_of "$T/resp" | grep -a -q '^Content-Type: text/plain' || fail "$name: not text/plain: $(head_of "$T/resp")"
	body_of "$T/resp" >"$T/body"
	grep -a -q 'sluice' "$T/body" || fail "$name: body does not name sluice: $(cat "$T/body")"
	grep -a -q -i -E -- "$cause" "$T/body" || fail "$name: body does not name the cause /$cause/: $(cat "$T/body")"
	[ "$(wc -c <"$T/body")" -lt 512 ] || fail "$name: body is not short"
	grep -a -q '^Server: origin' "$T/resp" && fail "$name: origin's bytes reached the client"
	return 0
}

# --- 1. connection refused: a port that was just released ------------------------------

"$ORIGIN_BIN" -f "$T/gone.port" >/dev/null 2>&1 &
gone_pid=$!
PIDS+=("$gone_pid")
wait_for 5 test -s "$T/gone.port" || fail "scratch origin did not start"
GONE=$(cat "$T/gone.port")
kill "$gone_pid"
wait "$gone_pid" 2>/dev/null
refused() { ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$GONE/"; }
wait_for 5 refused || fail "port $GONE still answers"
local_error "connection refused" 502 "Bad Gateway" 'refused' "http://127.0.0.1:$GONE/x"
ok "connection refused -> 502 naming the cause"

# --- 2. origin resets the connection --------------------------------------------------------

local_error "upstream reset" 502 "Bad Gateway" 'reset|closed' "http://127.0.0.1:$P/reset"
ok "upstream reset -> 502 naming the cause"

# --- 3. malformed response head (two different Content-Length) ------------------------------

local_error "malformed response" 502 "Bad Gateway" 'malformed|invalid|bad' "http://127.0.0.1:$P/garbage"
ok "duplicate Content-Length in a response -> 502 naming the cause"

# --- 4. origin never answers: 504 after response_timeout -----------------------------------

start_ms=$(date +%s%3N)
local_error "response timeout" 504 "Gateway Timeout" 'tim' "http://127.0.0.1:$P/hang"
took=$(( $(date +%s%3N) - start_ms ))
[ "$took" -ge 900 ] && [ "$took" -lt 5000 ] || fail "504 came after $took ms with response_timeout 1s"
ok "origin silent -> 504 after response_timeout (${took} ms)"

# --- 5. response cut short --------------------------------------------------------------------

# curl knows the announced length: it must report a partial transfer (18)
curl -s -x "$PROXY" --max-time 10 "http://127.0.0.1:$P/truncate/200000" -o "$T/got"
rc=$?
expect_eq "$rc" 18 "curl exit status for a truncated response"
got=$(wc -c <"$T/got")
[ "$got" -lt 200000 ] || fail "truncated response: got all $got bytes?"
"$ORIGIN_BIN" --gen "$got" | cmp -s - "$T/got" || fail "truncated response: the bytes that came are wrong"
ok "truncated Content-Length response: curl sees a partial transfer ($got of 200000 bytes)"

# raw, on a keep-alive connection: the head announces 1000 bytes, 500 come, then the close
printf 'GET http://127.0.0.1:%s/truncate/1000 HTTP/1.1\r\n\r\n' "$P" | raw "$SLUICE_PORT" >"$T/resp"
rc=$?
expect_eq "$rc" 0 "truncated response: client connection closed (not left waiting)"
expect_eq "$(status_of "$T/resp")" "HTTP/1.1 200 OK" "truncated response: status"
head_of "$T/resp" | grep -a -q '^Content-Length: 1000'$'\r' || fail "truncated response: Content-Length changed: $(head_of "$T/resp")"
expect_eq "$(body_of "$T/resp" | wc -c)" 500 "truncated response: body bytes before the close"
ok "truncated response: client sees the close before the announced length"

sluice_alive || fail "sluice died"

# --- access log: one line per error, naming its cause (flushed each second) ---------------

access_log_has "/502 .* GET http://127.0.0.1:$GONE/x .*\"[^\"]*refused[^\"]*\"" ||
	fail "access log: no 502 line naming the refusal: $(cat "$T/access.log")"
access_log_has "/502 .* GET http://127.0.0.1:$P/reset .*\"[^\"]*\(reset\|closed\)[^\"]*\"" ||
	fail "access log: no 502 line naming the reset: $(cat "$T/access.log")"
access_log_has "/502 .* GET http://127.0.0.1:$P/garbage .*\"[^\"]*\\(malformed\\|invalid\\|bad\\)[^\"]*\"" ||
	fail "access log: no 502 line naming the bad response: $(cat "$T/access.log")"
access_log_has "/504 .* GET http://127.0.0.1:$P/hang .*\"[^\"]*tim[^\"]*\"" ||
	fail "access log: no 504 line naming the timeout: $(cat "$T/access.log")"
access_log_has "/200 .* GET http://127.0.0.1:$P/truncate/1000 .*\"[^\"]*\\(closed\\|trunc\\|mid\\)[^\"]*\"" ||
	fail "access log: truncated transfer not marked with its cause: $(cat "$T/access.log")"
ok "access log names the cause of each error"

# --- 6. scripted origins: cut chunked body, close without answer, TE+CL ----------------------

command -v varnishtest >/dev/null || skip "varnishtest missing (checks above passed)"
run_vtc http_errors.vtc
ok "varnishtest: cut chunked body stays cut, silent close -> 502, TE+CL response not passed as is"

# --- 7. framing cut mid-line: the truncation is seen when the peer closes ----------------------

# The peer's last bytes are the start of a chunk-size line, a lone CR, or
# half a trailer: they can never be framed, so the peer's close ends the
# exchange there and then (not after idle_timeout, which would make a
# decoded HTTP/1.0 body look complete).
while IFS='|' read -r what tail; do
	run_vtc_case http_cut_framing.vtc -D what="$what" -D tail="$tail" ||
		fail "response cut inside its chunked framing ($what): not seen as a truncation"
done <<'CASES'
half a size line|3
a size line without its LF|3\r
a CR without LF after the data|hello\r
half a trailer field|0\r\nX-T: 1
CASES
ok "response cut inside its chunked framing: the client sees the cut at once (RST for HTTP/1.0)"

# The same for a request: half a chunk-size line, then the client's FIN.
for tail in '3' '3\r' '0\r\nX-T: 1'; do
	perl -MIO::Socket::INET -MSocket=SHUT_WR -e '
		my ($port, $origin, $tail) = @ARGV;
		$tail =~ s/\\r/\r/g; $tail =~ s/\\n/\n/g;
		my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die "connect: $!";
		print $c "POST http://127.0.0.1:$origin/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n$tail";
		shutdown($c, SHUT_WR);
		local $SIG{ALRM} = sub { die "sluice still holds the connection 5 s after the client half-closed\n" };
		alarm 5;
		my $got = "";
		while (1) { my $n = sysread($c, my $b, 65536); last unless $n; $got .= $b }
		$got eq "" || $got =~ /\AHTTP\/1\.1 400 / or die "unexpected reply: $got\n";
	' "$SLUICE_PORT" "$P" "$tail" || fail "request cut inside its chunked framing ('$tail'), then FIN: not ended at once"
done
ok "request cut inside its chunked framing, then FIN: the connection ends at once"
sluice_alive || fail "sluice died"
