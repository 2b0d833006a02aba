# Socket activation: sluice takes the listening sockets systemd passes
# (sd_listen_fds) and matches them to its listen lines by address.  Under
# systemd-socket-activate, a supervisor stands in for systemd: it holds the
# socket and starts sluice on it again each time it stops, as a restart of
# the service would.  Clients connecting in a loop across three restarts see
# no refused connection (the kernel queues them while no sluice accepts).
# A passed socket that no listen line names is an error that names it, at
# start and in a reload.
. "$(dirname "$0")/lib.sh"
command -v systemd-socket-activate >/dev/null || fail "systemd-socket-activate missing (package systemd)"

start_notify
start_origin

# activate PORTS...: systemd-socket-activate on 127.0.0.1:PORT for each, running
# the supervisor; a port taken meanwhile is tried again with others.  Sets
# SA_PID and PORTS.
activate() {
	local try p
	for try in 1 2 3 4 5; do
		PORTS=()
		for p in $(seq "$1"); do PORTS+=($((20000 + RANDOM % 30000))); done
		local args=()
		for p in "${PORTS[@]}"; do args+=(-l "127.0.0.1:$p"); done
		: >"$T/sa.err"
		systemd-socket-activate -E NOTIFY_SOCKET "${args[@]}" -- bash "$T/super.sh" 2>"$T/sa.err" &
		SA_PID=$!
		PIDS+=("$SA_PID")
		if wait_for 5 grep -q "Listening on 127.0.0.1:${PORTS[-1]}" "$T/sa.err"; then return 0; fi
		kill "$SA_PID" 2>/dev/null
		wait "$SA_PID" 2>/dev/null
	done
	fail "systemd-socket-activate did not start: $(cat "$T/sa.err")"
}

# the supervisor: sluice on the passed sockets, started again whenever it
# ends, until $T/stop exists; each sluice's pid goes to $T/pids
cat >"$T/super.sh" <<EOS
while [ ! -e "$T/stop" ]; do
	bash -c 'export LISTEN_PID=\$\$; exec "\$0" -c "\$1"' "$SLUICE" "$T/sluice.conf" 2>>"$T/sluice.err" &
	echo \$! >>"$T/pids"
	wait \$!
done
EOS
: >"$T/pids"
: >"$T/sluice.err"

activate 1
PORT=${PORTS[0]}
printf 'listen 127.0.0.1:%s\nworkers 2\naccess_log %s\nerror_log stderr\n' "$PORT" "$T/access.log" >"$T/sluice.conf"
PROXY="http://127.0.0.1:$PORT"
# systemd-socket-activate starts its program on the first connection
curl -s -f -o /dev/null --max-time 10 -x "$PROXY" "$ORIGIN/bytes/10" || fail "first request: $(cat "$T/sluice.err")"
SLUICE_PID=$(tail -n1 "$T/pids")
PIDS+=("$SLUICE_PID")
grep -q "listening on 127.0.0.1:$PORT (from systemd)" "$T/sluice.err" || fail "the passed socket is not used"
ok "sluice serves on the socket systemd passed"
nd=$(accepted_nodelay "$PORT")
[ "$nd" = "?" ] || expect_eq "$nd" 1 "TCP_NODELAY of a socket accepted on systemd's listener"

# clients in a loop (bounded: 400 requests), each on a new connection
(
	for i in $(seq 400); do
		# one line per request: "STATUS CURL_EXIT"
		curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "$PROXY" "$ORIGIN/bytes/$i"
		echo " $?"
	done >"$T/codes"
) &
LOOP=$!
PIDS+=("$LOOP")
answered() { [ "$(grep -c . "$T/codes" 2>/dev/null)" -ge "$1" ]; }
for r in 1 2 3; do
	wait_for 20 answered $((r * 80)) || fail "the client loop stalled before restart $r"
	old=$SLUICE_PID
	kill -TERM "$old"
	new_pid() { [ "$(wc -l <"$T/pids")" -ge $((r + 1)) ]; }
	wait_for 10 new_pid || fail "restart $r: no new sluice"
	SLUICE_PID=$(tail -n1 "$T/pids")
	PIDS+=("$SLUICE_PID")
	wait_for 10 notified $((r + 1)) READY=1 || fail "restart $r: the new sluice is not ready"
done
wait "$LOOP"
total=$(grep -c . "$T/codes")
bad=$(grep -vc '^200 0$' "$T/codes")
expect_eq "$total" 400 "requests made"
[ "$bad" = 0 ] || fail "$bad of 400 requests failed across the restarts: $(grep -v '^200 0$' "$T/codes" | sort | uniq -c)"
expect_eq "$(grep -c "stopped: every connection has ended" "$T/sluice.err")" 3 "graceful stops"
ok "400 requests across 3 restarts on the passed socket: all 200, none refused"

# a reload may not drop the passed socket's line: systemd would keep the
# socket and its clients would queue unanswered
cp "$T/sluice.conf" "$T/good.conf"
printf 'listen 127.0.0.1:0\nworkers 2\naccess_log %s\nerror_log stderr\n' "$T/access.log" >"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 grep -q "reload failed: 127.0.0.1:$PORT was passed by systemd (the socket unit): a reload cannot remove its listen line" "$T/sluice.err" ||
	fail "a reload dropping the passed socket was not refused: $(grep reload "$T/sluice.err" | tail -n 2)"
curl -s -f -o /dev/null --max-time 5 -x "$PROXY" "$ORIGIN/bytes/10" || fail "the passed socket stopped serving"
cp "$T/good.conf" "$T/sluice.conf"
ok "a reload that would drop the passed socket is refused; it serves on"

touch "$T/stop"
kill -TERM "$SLUICE_PID"
wait "$SA_PID"

# --- a passed socket that no listen line names ---------------------------------------------

rm -f "$T/stop"
: >"$T/pids"
: >"$T/sluice.err"
# one run only: the supervisor stops after the first sluice
touch "$T/stop.after"
sed -i 's|^done$|[ -e "'"$T"'/stop.after" ] \&\& break\ndone|' "$T/super.sh"
activate 2
printf 'listen 127.0.0.1:%s\nworkers 1\nerror_log stderr\naccess_log off\n' "${PORTS[0]}" >"$T/sluice.conf"
curl -s -o /dev/null --max-time 5 -x "http://127.0.0.1:${PORTS[0]}" "$ORIGIN/bytes/10"
wait "$SA_PID"
grep -q "socket passed by systemd (fd 4, 127.0.0.1:${PORTS[1]}) matches no listen line" "$T/sluice.err" ||
	fail "an unmatched socket is not named: $(cat "$T/sluice.err")"
ok "a passed socket without a listen line: an error naming it"
