# Out of descriptors (EMFILE) while tunnels and downloads are in flight.
# sluice runs with a 512-fd limit.  With CONNECT tunnels (pings through an
# echo peer, and 4 MiB each way with the download half still to come) and
# slow downloads running, 64 more tunnels whose clients never read take
# every pipe the pools had (each holds a full one), then 600 idle
# connections fill the descriptor table.  Twice: first with the limit sluice
# started with, then with the limit lowered under it (prlimit --pid) to 24
# above what it holds, so that whatever sluice counted, the kernel says
# EMFILE to accept4, socket and pipe2.  Each time:
#   - the acceptor pauses (logged; connections wait in the listen backlog),
#     and sluice does not die;
#   - every tunnel and download in flight completes, byte for byte, while
#     the table stays full; their relays need pipes the pools no longer
#     have and cannot get, and must fall back to copying (strace showed
#     pipe2 failing with EMFILE 3 to 12 times a round where sluice met the
#     kernel's limit; where it counts its descriptors and stops short, its
#     own count refuses them);
#   - clients arriving meanwhile wait (or get a 502 if an upstream socket
#     cannot be had), nothing else;
#   - once the idle connections go, sluice serves again and its
#     descriptors come back to the baseline (pipes: at most what the pools
#     hold, and none with bytes left in it).
# Afterwards the same transfers again, all intact, and RSS within 1 MiB of
# the figure after the first round.
. "$(dirname "$0")/lib.sh"
command -v prlimit >/dev/null || skip "prlimit missing"
LIMIT=512
PINGS=8 BULK=20 DOWNLOADS=10 HOLD=64 FILL=600

start_peer -e -T 60                              # echoes: the ping tunnels
ECHO_PORT=$PEER_PORT ECHO_REP=$PEER_REPORT
start_peer -o recv -s 4M -r 4M -d 4000 -T 60    # reads 4 MiB to EOF, waits 4 s, sends 4 MiB
BULK_PORT=$PEER_PORT BULK_REP=$PEER_REPORT
start_peer -o send -s 4M -r -1 -T 60             # sends 4 MiB at once: the holders' peer
HOLD_PORT=$PEER_PORT HOLD_REP=$PEER_REPORT
start_origin
cat >"$T/sluice-lowfd" <<WRAP
#!/bin/sh
exec prlimit --nofile=$LIMIT:$LIMIT "$SLUICE" "\$@"
WRAP
chmod +x "$T/sluice-lowfd"
SLUICE="$T/sluice-lowfd" start_sluice "workers 2" "header_timeout 60s" "upstream_idle_timeout 2s" \
	"connect_ports $ECHO_PORT $BULK_PORT $HOLD_PORT"
expect_eq "$(awk '/^Max open files/ { print $4 }' "/proc/$SLUICE_PID/limits")" "$LIMIT" "sluice's fd limit"
read -r fd0 sock0 pipe0 < <(fd_census "$SLUICE_PID")
base=$(nonpipe_fds "$SLUICE_PID")
echo "# baseline: $fd0 fds ($sock0 sockets, $pipe0 pipes), limit $LIMIT"
rss_slack
"$ORIGIN_BIN" --gen 500000 >"$T/dl.want"

# in_flight TAG: start the tunnels and downloads in the background; their
# PIDs go to FLIGHT.  Pings: 50 one-byte round trips 100 ms apart (5 s).
# Bulk: 4 MiB up at once, then (4 s after the upload ends) 4 MiB down.
# Downloads: /slowbody/500000, about 100 kB/s (5 s).
in_flight() {
	local tag=$1 i
	FLIGHT=()
	for i in $(seq "$PINGS"); do
		"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$ECHO_PORT" -P 50:100 -T 40 \
			>"$T/$tag.ping.$i" 2>&1 &
		FLIGHT+=($!)
	done
	for i in $(seq "$BULK"); do
		"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$BULK_PORT" -o send -s 4M -r 4M -T 40 \
			>"$T/$tag.bulk.$i" 2>&1 &
		FLIGHT+=($!)
	done
	for i in $(seq "$DOWNLOADS"); do
		curl -s -m 40 -x "$PROXY" -o "$T/$tag.dl.$i" -w '%{http_code}' "$ORIGIN/slowbody/500000" \
			>"$T/$tag.dl.$i.code" 2>&1 &
		FLIGHT+=($!)
	done
	PIDS+=("${FLIGHT[@]}")
}
# landed TAG: wait for every one of them; all must have completed intact
landed() {
	local tag=$1 p i bad=0
	for p in "${FLIGHT[@]}"; do
		wait "$p" || bad=$((bad + 1))
		untrack "$p"
	done
	for i in $(seq "$PINGS"); do
		grep -q "^pings: 50 echoed" "$T/$tag.ping.$i" || fail "$tag: ping tunnel $i: $(cat "$T/$tag.ping.$i")"
	done
	for i in $(seq "$BULK"); do
		grep -q "^done recv=4194304 ok .* sent=4194304 eof=1 OK" "$T/$tag.bulk.$i" ||
			fail "$tag: bulk tunnel $i: $(cat "$T/$tag.bulk.$i")"
	done
	for i in $(seq "$DOWNLOADS"); do
		expect_eq "$(cat "$T/$tag.dl.$i.code")" 200 "$tag: download $i status"
		cmp -s "$T/$tag.dl.$i" "$T/dl.want" || fail "$tag: download $i: $(wc -c <"$T/$tag.dl.$i") bytes, not the origin's 500000"
	done
	[ "$bad" -eq 0 ] || fail "$tag: $bad clients exited non-zero"
}

# --- warm-up: the same transfers with descriptors to spare ------------------------------------
in_flight warm
landed warm
wait_for 10 fds_at_most "$SLUICE_PID" "$base" || fail "after the warm-up: $(nonpipe_fds "$SLUICE_PID") fds, baseline $base"
ok "warm-up: $PINGS ping tunnels, $BULK bulk tunnels and $DOWNLOADS downloads with descriptors to spare"

# backlog: connections waiting in sluice's listen queue, not accepted
backlog() { ss -Htln "sport = :$SLUICE_PORT" | awk '{ print $2 }'; }
downloads_begun() { [ "$(conns_to "$SLUICE_PID" "$ORIGIN_PORT")" -ge "$DOWNLOADS" ]; }

# fault TAG [LOWER]: the fault, from the transfers' start to sluice serving
# again; with LOWER, sluice's limit is lowered under it before the fill
fault() {
	local tag=$1 lower=${2:-} pause0 peer0 bulk0 hold0 i fd full still rc code now note
	pause0=$(grep -c "pausing accept" "$T/sluice.err")
	peer0=$(grep -c "^conn " "$ECHO_REP") bulk0=$(grep -c "^eof " "$BULK_REP")
	in_flight "$tag"
	# under way: every tunnel open, every bulk upload at its peer, every download begun
	wait_for 15 lines_ge $((peer0 + PINGS)) "^conn " "$ECHO_REP" || fail "$tag: ping tunnels did not open: $(tail -n 3 "$ECHO_REP")"
	wait_for 15 lines_ge $((bulk0 + BULK)) "^eof " "$BULK_REP" || fail "$tag: bulk uploads did not arrive: $(tail -n 3 "$BULK_REP")"
	wait_for 15 downloads_begun || fail "$tag: downloads did not begin: $(conns_to "$SLUICE_PID" "$ORIGIN_PORT") origin connections"

	# Holders: CONNECT and never read.  Each tunnel's download relay fills
	# its pipe and keeps it (the client takes nothing), so the pools' idle
	# pipes (at most 32 a worker: 64 holders take them all whatever the
	# split) are gone and the next relay that needs a pipe must make one.
	local holders=() fillers=()
	hold0=$(grep -c "^conn " "$HOLD_REP")
	for i in $(seq "$HOLD"); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "$tag: holder $i: connect"
		printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: x\r\n\r\n' "$HOLD_PORT" >&"$fd"
		holders+=("$fd")
	done
	wait_for 15 lines_ge $((hold0 + HOLD)) "^conn " "$HOLD_REP" || fail "$tag: holder tunnels did not open: $(grep -c "^conn " "$HOLD_REP")"
	read -r fdb _ pipeb < <(fd_census "$SLUICE_PID")
	if [ -n "$lower" ]; then
		now=$(find "/proc/$SLUICE_PID/fd" -mindepth 1 2>/dev/null | wc -l)
		prlimit --pid "$SLUICE_PID" --nofile=$((now + 24)):$((now + 24)) || fail "$tag: cannot lower sluice's fd limit"
		echo "# $tag: sluice's fd limit lowered under it to $((now + 24)), $now in use"
	fi

	for i in $(seq "$FILL"); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "$tag: connect $i"
		fillers+=("$fd")
	done
	paused() { [ "$(grep -c "pausing accept" "$T/sluice.err")" -gt "$pause0" ] && [ "$(backlog)" -gt 0 ]; }
	# (the "pausing" line is written once per 10 s episode: the first
	# round's may be the one that counts, so the backlog decides there)
	if [ "$pause0" -gt 0 ]; then paused() { [ "$(backlog)" -gt 0 ]; }; fi
	wait_for 10 paused || fail "$tag: no pause at the fd limit with $FILL idle connections and a $LIMIT-fd limit: $(backlog) in the backlog, $(grep "pausing accept" "$T/sluice.err" | tail -n 1)"
	full=$(find "/proc/$SLUICE_PID/fd" -mindepth 1 2>/dev/null | wc -l)
	note="logged once a 10 s episode: not again"
	[ "$(grep -c "pausing accept" "$T/sluice.err")" -eq "$pause0" ] ||
		note=$(grep "pausing accept" "$T/sluice.err" | tail -n 1 | sed 's/.*warn: //')
	ok "$tag: in flight: $fdb fds ($pipeb pipes) with $HOLD holders; $FILL idle connections more: about $full fds, $(backlog) left in the backlog, the acceptor pauses ($note)"

	# newcomers while the table is full: they wait, or get a clear 502
	local probes=()
	for i in 1 2 3 4 5; do
		curl -s -m 3 -x "$PROXY" -o /dev/null -w '%{http_code}' "$ORIGIN/bytes/100" >"$T/probe.$i" 2>&1 &
		probes+=($!)
		PIDS+=($!)
	done

	landed "$tag"
	still=$(find "/proc/$SLUICE_PID/fd" -mindepth 1 2>/dev/null | wc -l)
	sluice_alive || fail "$tag: sluice died at the fd limit"
	ok "$tag: every tunnel and download in flight completed intact at the fd limit (about $still fds in use as they ended)"

	for i in "${!probes[@]}"; do
		wait "${probes[$i]}"
		rc=$?
		untrack "${probes[$i]}"
		code=$(cat "$T/probe.$((i + 1))")
		case "$rc:$code" in
		0:200 | 0:502 | 28:000) ;;
		*) fail "$tag: a client arriving at the fd limit: curl exit $rc, status $code" ;;
		esac
	done
	ok "$tag: clients arriving at the fd limit waited or got 502 ($(cat "$T"/probe.* | tr '\n' ' '))"

	# The holders go with their pipes still full: a reset for each tunnel.
	for fd in "${holders[@]}" "${fillers[@]}"; do exec {fd}>&-; done
	wait_for 15 curl -sf -m 2 -x "$PROXY" "$ORIGIN/bytes/10" -o /dev/null || fail "$tag: not serving after the idle connections went"
	wait_for 15 fds_at_most "$SLUICE_PID" "$base" ||
		fail "$tag: descriptors: $(nonpipe_fds "$SLUICE_PID") (not counting pipes) 15 s after, baseline $base: $(fd_kinds "$SLUICE_PID")"
	# the holders' pipes were full when they went: closed, not pooled
	full=$(full_pipes "$SLUICE_PID")
	[ "$full" = 0 ] || [ "$full" = "?" ] || fail "$tag: $full pipes with bytes in them left in sluice"
	ok "$tag: serves again once the idle connections are gone; descriptors back to the baseline, no pipe left with bytes ($full)"
}

# --- the fault, twice: the first round is the warm-up for the RSS figure ------------------
# (the holders and the idle connections are sessions too, and relays that
# had to copy hold a buffer each: only the same fault grows the free-lists
# and malloc's arenas to what it needs)
fault at-limit
rss0=$(rss_kb "$SLUICE_PID")
echo "# after the first round: RSS $rss0 kB"
fault lowered lower

# --- afterwards ------------------------------------------------------------------------------------
# the same load once more, now with room: all served
in_flight after
landed after
ok "the same tunnels and downloads again afterwards: all intact"

wait_for 15 fds_at_most "$SLUICE_PID" "$base" ||
	fail "descriptors: $(nonpipe_fds "$SLUICE_PID") (not counting pipes) 15 s after, baseline $base: $(fd_kinds "$SLUICE_PID")"
read -r fd1 sock1 pipe1 < <(fd_census "$SLUICE_PID")
# Pipes: the pools keep at most 32 idle pipes per worker, all empty.
[ "$pipe1" -le $((pipe0 + 2 * 32 * 2)) ] || fail "$pipe1 pipe fds: more than the pools can hold"
full=$(full_pipes "$SLUICE_PID")
[ "$full" = 0 ] || [ "$full" = "?" ] || fail "$full pipes with bytes in them left in sluice"
rss1=$(rss_kb "$SLUICE_PID")
echo "# afterwards: $fd1 fds ($sock1 sockets, $pipe1 pipes), RSS $rss1 kB (after the first round $rss0 kB)"
# 1 MiB: buffers and sessions come from free-lists the first round grew, so
# only a leak (or a page or two of malloc arena) can add; it is less than a
# 16-KiB buffer for each of the round's 100 tunnels and downloads.
[ "$rss1" -le $((rss0 + RSS_SLACK_KB)) ] || fail "RSS $rss1 kB, $rss0 kB after the first round: grew by $((rss1 - rss0)) kB"
ok "descriptors back to the baseline ($((fd0 - pipe0)) -> $((fd1 - pipe1)) not counting pipes; pipes $pipe0 -> $pipe1), RSS $rss0 -> $rss1 kB"
