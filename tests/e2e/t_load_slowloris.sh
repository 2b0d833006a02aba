# Slowloris: clients that open connections and trickle a request head one
# byte at a time never finishing it.  (1) 40 of them do not stop others
# being served (each curl request during the attack is answered quickly)
# and, with the default header_timeout, are not dropped early.  (2) With
# header_timeout 2s each trickling connection gets 408 or is closed about
# 2 s after it opened, although it keeps sending bytes.
. "$(dirname "$0")/lib.sh"
trap '' PIPE # writes to a connection sluice closed must fail, not kill us


start_origin
HEAD="GET $ORIGIN/bytes/10 HTTP/1.1"$'\r\n'"Host: 127.0.0.1:$ORIGIN_PORT"$'\r\n'"X-Slow: $(printf 'a%.0s' $(seq 200))"

FDS=()      # slowloris connections
SENT=()     # bytes of HEAD each has sent
OPENED=()   # ms when each connected
ENDED=()    # ms when sluice answered or closed it ("" while open)
ANSWER=()   # what sluice sent it
open_loris() { # open_loris COUNT
	local k fd
	for ((k = 0; k < $1; k++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "slowloris connect"
		FDS+=("$fd"); SENT+=(0); OPENED+=("$(now_ms)"); ENDED+=(""); ANSWER+=("")
	done
}
# trickle: every open slowloris connection sends its next byte, then is
# checked for an answer or EOF (1 ms poll each).
trickle() {
	local k fd ch rest rc
	for k in "${!FDS[@]}"; do
		[ -z "${ENDED[k]}" ] || continue
		fd=${FDS[k]}
		printf '%s' "${HEAD:SENT[k]:1}" >&"$fd" 2>/dev/null && SENT[k]=$((SENT[k] + 1))
		ch=
		IFS= read -r -d '' -t 0.001 -N 1 -u "$fd" ch 2>/dev/null
		rc=$?
		# data, EOF or error: sluice has acted.  A read that timed out
		# may still have taken the first byte (bash keeps partial input
		# on a timeout), so a byte in ch counts whatever rc says.
		if [ "$rc" -le 128 ] || [ -n "$ch" ]; then
			ENDED[k]=$(now_ms)
			rest=
			[ -n "$ch" ] && IFS= read -r -d '' -t 1 -N 512 -u "$fd" rest 2>/dev/null
			ANSWER[k]="$ch$rest"
		fi
	done
}
close_loris() {
	local fd
	for fd in "${FDS[@]}"; do exec {fd}>&-; done
	FDS=(); SENT=(); OPENED=(); ENDED=(); ANSWER=()
}
# quick_get: one normal request through sluice; must be 200 within 1 s.
quick_get() {
	local res code secs
	res=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/1000")
	read -r code secs <<<"$res"
	expect_eq "$code" 200 "request during the slowloris attack"
	awk -v s="$secs" 'BEGIN { exit !(s < 1.0) }' || fail "request during the slowloris attack took ${secs} s"
}

# --- (1) others are served; default header_timeout keeps trickling clients --------
start_sluice
open_loris 40
for round in $(seq 15); do # ~3 s of trickling
	trickle
	quick_get
	sleep 0.2
done
for k in "${!FDS[@]}"; do
	[ -z "${ENDED[k]}" ] || fail "slowloris connection $k dropped after $((ENDED[k] - OPENED[k])) ms with header_timeout 30s: '${ANSWER[k]%%$'\r'*}'"
done
ok "15 requests served promptly while 40 slowloris clients trickled"
close_loris
stop_sluice
untrack "$SLUICE_PID"

# --- (2) header_timeout 2s ends them -----------------------------------------------
start_sluice "header_timeout 2s"
open_loris 10
t0=$(now_ms)
while [ $(($(now_ms) - t0)) -lt 7000 ]; do # bounded: 7 s
	trickle
	quick_get
	left=0
	for k in "${!FDS[@]}"; do [ -n "${ENDED[k]}" ] || left=$((left + 1)); done
	[ "$left" -eq 0 ] && break
	sleep 0.2
done
for k in "${!FDS[@]}"; do
	[ -n "${ENDED[k]}" ] || fail "slowloris connection $k still open after 7 s with header_timeout 2s (sent ${SENT[k]} bytes)"
	took=$((ENDED[k] - OPENED[k]))
	[ "$took" -ge 1500 ] || fail "slowloris connection $k ended after only $took ms (header_timeout 2s)"
	[ "$took" -le 4000 ] || fail "slowloris connection $k ended after $took ms (header_timeout 2s)"
	if [ -n "${ANSWER[k]}" ]; then
		case ${ANSWER[k]} in
		"HTTP/1.1 408 "*) ;;
		*) fail "slowloris connection $k got '${ANSWER[k]%%$'\r'*}', want 408 or a close";;
		esac
	fi
	[ "${SENT[k]}" -lt "${#HEAD}" ] || fail "slowloris head completed: test too slow"
done
ok "header_timeout 2s: trickling connections answered ($(printf '%s' "${ANSWER[0]%%$'\r'*}" | head -c 40)) or closed after ~2 s"
sluice_alive || fail "sluice died"
