# The access log's time is when the transaction completed, as squid writes
# it (analysers such as calamaris and sarg take the start as time minus
# elapsed): a tunnel held open for a while is logged with its end time and
# its duration, in the squid format and in the combined one (squid's own
# combined format stamps the line the same way).
. "$(dirname "$0")/lib.sh"

start_peer -e
for fmt in squid combined; do
	: >"$T/access.log"
	start_sluice "connect_ports $PEER_PORT" "access_log_format $fmt"
	t0=$(now_ms)
	# 15 pings 100 ms apart: the tunnel lives about 1.5 s
	"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$PEER_PORT" -P 15:100 -T 30 >"$T/tun.out" 2>&1 ||
		fail "$fmt: tunnel: $(cat "$T/tun.out")"
	t1=$(now_ms)
	stop_sluice
	line=$(grep CONNECT "$T/access.log") || fail "$fmt: no tunnel line: $(cat "$T/access.log")"
	if [ "$fmt" = squid ]; then
		# "1795695906.351   1502 127.0.0.1 TCP_TUNNEL/200 ..."
		stamp=${line%% *}
		logged=$(( ${stamp%.*} * 1000 + 10#${stamp#*.} ))
		elapsed=$(awk '{ print $2 }' <<<"$line")
		[ "$elapsed" -ge 1000 ] || fail "squid: the tunnel's elapsed time is $elapsed ms: $line"
		[ "$logged" -ge $((t0 + elapsed - 5)) ] ||
			fail "squid: time $logged is not the completion (start $t0 + elapsed $elapsed): $line"
		[ "$logged" -le $((t1 + 5)) ] || fail "squid: time $logged after the tunnel ended ($t1): $line"
	else
		# [05/Dec/2026:05:30:01 +0000]: whole seconds
		stamp=$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' <<<"$line")
		logged=$(date -d "$(sed 's|/| |g; s|:| |' <<<"$stamp")" +%s) || fail "combined: bad time [$stamp]"
		# the tunnel lived 1.4 s or more: its end is in a later second than
		# its start, whatever the boundaries
		[ "$logged" -ge $(((t0 + 1400) / 1000)) ] ||
			fail "combined: [$stamp] ($logged) is not the completion (start $((t0 / 1000)) s): $line"
	fi
	ok "$fmt: the tunnel's line carries its completion time"
	untrack "$SLUICE_PID"
done
