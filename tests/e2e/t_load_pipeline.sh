# Deep pipelining on one client connection.
#  1. 100 pipelined requests for 2 MB each (200 MB) from a client that does
#     not read for 2 s: sluice's RSS stays flat (it stops reading requests
#     while responses cannot leave), then every response arrives, in order.
#  2. 500 pipelined requests written at once, each for a body of its own
#     size: 500 responses in order, the last one closing the connection.
#     (With buffer_size 4k, so that any per-connection state that grows
#     with each pipelined exchange runs out early and reliably.)
. "$(dirname "$0")/lib.sh"
RSS_GROWTH_KB=$((30 * 1024))

cpu_ms() { # user+system CPU of PID in ms
	local stat
	stat=$(cat "/proc/$1/stat") || return 1
	stat=${stat##*) }
	set -- $stat
	echo $(((${12} + ${13}) * 1000 / $(getconf CLK_TCK)))
}
# pipeline N SIZE_BASE SIZE_STEP: write N pipelined GETs for
# /bytes/(BASE + i * STEP), i = 1..N, the last with "Connection: close",
# to fd $C in the background (WRITER).
pipeline() {
	local n=$1 base=$2 step=$3
	(
		local i buf= one last
		for ((i = 1; i <= n; i++)); do
			last=
			[ "$i" -eq "$n" ] && last=$'Connection: close\r\n'
			printf -v one 'GET %s/bytes/%d HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n%s\r\n' \
				"$ORIGIN" $((base + i * step)) "$ORIGIN_PORT" "$last"
			buf+=$one
		done
		printf '%s' "$buf" >&"$C"
	) &
	WRITER=$!
	PIDS+=("$WRITER")
}
# stop_writer: the writer is done once every response arrived; if sluice
# stopped reading, it may still be blocked: end it.
stop_writer() {
	kill "$WRITER" 2>/dev/null
	wait "$WRITER" 2>/dev/null
	untrack "$WRITER"
}
# check_sizes FILE N BASE STEP: the responses in FILE are N 200s whose
# Content-Lengths are BASE + i * STEP in order.
check_sizes() {
	local got want
	# (a head follows the previous body directly, not always at a line start)
	got=$(grep -ao 'HTTP/1\.1 200 ' "$1" | wc -l)
	[ "$got" -eq "$2" ] || fail "$got of $2 pipelined responses arrived$(grep -ao 'HTTP/1\.1 [013-9][0-9]* .*' "$1" | head -n 1 | tr -d '\r' | sed 's/^/, then: /')"
	got=$(grep -ai '^content-length:' "$1" | tr -d '\r' | awk '{ print $2 }' | md5sum)
	want=$(for ((i = 1; i <= $2; i++)); do echo $(($3 + i * $4)); done | md5sum)
	[ "$got" = "$want" ] || fail "pipelined responses out of order or mixed up"
}

start_origin
start_sluice

# --- 1. a pipelining client that does not read ---------------------------------------------
RSS0=$(rss_kb "$SLUICE_PID")
exec {C}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect"
pipeline 100 2000000 0
t=$(now_ms)
max=$RSS0
while [ $(($(now_ms) - t)) -lt 2000 ]; do # the subject: 2 s of not reading
	r=$(rss_kb "$SLUICE_PID")
	[ "$r" -gt "$max" ] && max=$r
	sleep 0.1
done
[ $((max - RSS0)) -le "$RSS_GROWTH_KB" ] || fail "RSS grew by $((max - RSS0)) kB while a pipelining client did not read"
timeout 60 cat <&"$C" >"$T/big" &
READER=$!
PIDS+=("$READER")
exec {C}>&-
wait "$READER" || fail "reading 100 x 2 MB pipelined responses did not finish (status $?)"
untrack "$READER"
stop_writer
check_sizes "$T/big" 100 2000000 0
ok "100 x 2 MB pipelined to a client not reading for 2 s: RSS growth $((max - RSS0)) kB, all in order"

# --- 2. 500 pipelined requests ----------------------------------------------------------------
stop_sluice
untrack "$SLUICE_PID"
start_sluice "buffer_size 4k" "header_max 4k" "url_max 2k"
exec {C}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect"
pipeline 500 1000 1
t=$(now_ms)
cpu0=$(cpu_ms "$SLUICE_PID")
timeout 10 cat <&"$C" >"$T/many" &
READER=$!
PIDS+=("$READER")
exec {C}>&-
wait "$READER"
rc=$?
untrack "$READER"
stop_writer
[ "$rc" -eq 0 ] || echo "# connection not closed within 10 s; sluice used $(($(cpu_ms "$SLUICE_PID") - cpu0)) ms of CPU meanwhile; got $(grep -ao 'HTTP/1\.1 [0-9]* ' "$T/many" | wc -l) response heads, last bytes: $(tail -c 120 "$T/many" | tr '\r\n' '  ')" >&2
check_sizes "$T/many" 500 1000 1
[ "$rc" -eq 0 ] || fail "connection still open 10 s after the last pipelined request (Connection: close)"
ok "500 pipelined requests answered in order in $(($(now_ms) - t)) ms"
sluice_alive || fail "sluice died"
