# SIGHUP reloads without dropping anything.  Under wrk, three rate-limited
# long downloads and two CONNECT tunnels, the config is reloaded 20 times,
# alternating between two files that differ in their rules (B denies the
# second origin's port) and in one listener (A has a second one on
# 127.0.0.2): no socket error and no non-2xx for wrk, every download
# byte-exact, every tunnel alive to its end; after each reload new requests
# follow the new rules, on new connections and on a kept-alive one, the
# added listener serves and the removed one refuses.  sd_notify says
# RELOADING=1 then READY=1 for each.  A broken file leaves the running rules
# in place and names its line (error log and STATUS=); a changed directive
# that needs a restart is named and keeps its value.
. "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || skip "wrk missing"

start_notify
start_origin
O1=$ORIGIN O1_PORT=$ORIGIN_PORT
start_origin
O2=$ORIGIN O2_PORT=$ORIGIN_PORT
start_peer -e
common() {
	echo "listen 127.0.0.1:0"
	echo "workers 2"
	echo "access_log $T/access.log"
	echo "error_log stderr"
	echo "connect_ports $PEER_PORT"
}
{ common; echo "listen 127.0.0.2:0"; echo "http_access allow all"; } >"$T/a.conf"
{ common; echo "acl blocked port $O2_PORT"; echo "http_access deny blocked"; echo "http_access allow all"; } >"$T/b.conf"

start_sluice "listen 127.0.0.2:0" "http_access allow all" "connect_ports $PEER_PORT"
wait_for 5 notified 1 READY=1 || fail "no READY=1: $(cat "$NOTIFY_LOG")"
ok "READY=1 at start"

# status URL [PROXY]: the status code of a GET through sluice (000: no answer)
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "${2:-$PROXY}" "$1"; }
# second_listener: the port 127.0.0.2's listener has now (the last one logged)
second_listener() { sed -n 's/.*listening on 127\.0\.0\.2:\([0-9]*\).*/\1/p' "$T/sluice.err" | tail -n1; }

expect_eq "$(status "$O2/bytes/10")" 200 "origin 2 under config A"
L2=$(second_listener)
[ -n "$L2" ] || fail "no second listener logged"
expect_eq "$(status "$O2/bytes/10" "http://127.0.0.2:$L2")" 200 "the second listener under A"

# a kept-alive client: its next request follows the rules of the moment (a
# 403 closes the connection: the next one is opened under the rules denying)
conn_open
ka_get() {
	request GET "/bytes/10" "Host: 127.0.0.1:$O2_PORT"
	read_resp || fail "kept-alive connection: no response after reload $1"
	KA=$(printf '%s' "$R_STATUS" | cut -d' ' -f2)
	if [ "$KA" != 200 ]; then
		conn_closed || fail "no close after a $KA"
		conn_close
		conn_open
	fi
}
ORIGIN_PORT=$O2_PORT ka_get 0
expect_eq "$KA" 200 "kept-alive request under A"

# --- load that runs through every reload ----------------------------------------------

SIZE=30000000
"$ORIGIN_BIN" --gen "$SIZE" >"$T/expect" || fail "origin --gen"
DL=()
for i in 1 2 3; do
	curl -s -f --max-time 60 --limit-rate 6M -x "$PROXY" -o "$T/dl$i" "$O1/bytes/$SIZE" &
	DL+=("$!")
done
TUN=()
for i in 1 2; do
	"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$PEER_PORT" -P 80:50 -T 60 >"$T/tun$i.out" 2>&1 &
	TUN+=("$!")
done
cat >"$T/wrk.lua" <<EOF
wrk.path = "$O1/bytes/1000"
wrk.headers["Host"] = "127.0.0.1:$O1_PORT"
EOF
WRK_SECS=12
wrk -t 2 -c 16 -d "${WRK_SECS}s" -s "$T/wrk.lua" "$PROXY/" >"$T/wrk.out" 2>&1 &
WRK=$!
PIDS+=("${DL[@]}" "${TUN[@]}" "$WRK")
# the load is on: wrk's requests show in the access log
wait_for 10 grep -q "GET $O1/bytes/1000 " "$T/access.log" || fail "wrk's requests do not arrive"

n=1
for i in $(seq 1 20); do
	if [ $((i % 2)) = 1 ]; then cp "$T/b.conf" "$T/sluice.conf"; want=403; else cp "$T/a.conf" "$T/sluice.conf"; want=200; fi
	kill -HUP "$SLUICE_PID"
	n=$((n + 1))
	wait_for 10 notified "$n" READY=1 || fail "reload $i: no READY=1: $(tail -n 5 "$NOTIFY_LOG")"
	expect_eq "$(status "$O2/bytes/10")" "$want" "reload $i: origin 2 on a new connection"
	ORIGIN_PORT=$O2_PORT ka_get "$i"
	expect_eq "$KA" "$want" "reload $i: origin 2 on the kept-alive connection"
	if [ "$want" = 200 ]; then
		L2=$(second_listener)
		expect_eq "$(status "$O1/bytes/10" "http://127.0.0.2:$L2")" 200 "reload $i: the added listener"
	else
		expect_eq "$(status "$O1/bytes/10" "http://127.0.0.2:$L2")" 000 "reload $i: the removed listener"
	fi
done
kill -0 "$WRK" 2>/dev/null || fail "the 20 reloads outlasted wrk's ${WRK_SECS} s: the load did not cover them"
sluice_alive || fail "sluice died during the reloads"
ok "20 reloads: rules and listeners switch each time, for new and kept-alive connections"

wait "$WRK" || fail "wrk failed: $(cat "$T/wrk.out")"
grep -q "Socket errors" "$T/wrk.out" && fail "wrk saw socket errors: $(cat "$T/wrk.out")"
grep -q "Non-2xx" "$T/wrk.out" && fail "wrk saw non-2xx answers: $(cat "$T/wrk.out")"
reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$T/wrk.out")
[ "${reqs:-0}" -gt 100 ] || fail "wrk did too few requests: $(cat "$T/wrk.out")"
ok "wrk: $reqs requests across the reloads, no socket error, no non-2xx"

for i in 1 2 3; do
	wait "${DL[$((i - 1))]}" || fail "download $i failed (curl exit $?)"
	cmp -s "$T/dl$i" "$T/expect" || fail "download $i is not byte-exact ($(stat -c %s "$T/dl$i") bytes)"
done
ok "3 downloads of $SIZE bytes across the reloads, byte-exact"
for i in 1 2; do
	wait "${TUN[$((i - 1))]}" || fail "tunnel $i failed: $(cat "$T/tun$i.out")"
done
ok "2 CONNECT tunnels pinged through the reloads to their end"

# RELOADING=1 then READY=1, once per reload, after the first READY=1
got=$(notify_keys '^[0-9]+ (RELOADING|READY)=1$' | tr '\n' ' ')
want="READY=1 $(for i in $(seq 1 20); do printf 'RELOADING=1 READY=1 '; done)"
expect_eq "$got" "$want" "the notifications' order"
ok "sd_notify: RELOADING=1, READY=1 for each reload"

# --- a broken file leaves the running rules --------------------------------------------

# now on A (reload 20): break B's file on its last line
cp "$T/b.conf" "$T/sluice.conf"
echo "http_access deny nosuchacl" >>"$T/sluice.conf"
bad_line=$(wc -l <"$T/sluice.conf")
kill -HUP "$SLUICE_PID"
n=$((n + 1))
wait_for 10 notified "$n" READY=1 || fail "bad reload: no READY=1"
grep -q "reload failed: $T/sluice.conf:$bad_line: http_access" "$T/sluice.err" ||
	fail "the error log does not name the line: $(grep reload "$T/sluice.err" | tail -n 3)"
grep -q "STATUS=reload failed: $T/sluice.conf:$bad_line: " "$NOTIFY_LOG" || fail "STATUS= does not say the reload failed"
expect_eq "$(status "$O2/bytes/10")" 200 "after a failed reload, the old rules"
expect_eq "$(status "$O1/bytes/10" "http://127.0.0.2:$L2")" 200 "after a failed reload, the old listeners"
ok "a broken file: the running config stays, the error names $T/sluice.conf:$bad_line"

# --- what needs a restart is named and kept ---------------------------------------------

sed 's/^workers 2$/workers 3/' "$T/a.conf" >"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
n=$((n + 1))
wait_for 10 notified "$n" READY=1 || fail "reload with workers 3: no READY=1"
grep -q "reload: workers changed: these take effect at the next restart" "$T/sluice.err" ||
	fail "a workers change is not named: $(grep reload "$T/sluice.err" | tail -n 3)"
expect_eq "$(cat /proc/"$SLUICE_PID"/task/*/comm | grep -c '^sluice-w')" 2 "worker threads after the reload"
ok "workers 3 in a reload: named in the log, 2 workers still run"
conn_close

# --- the files a config names are read again too ------------------------------------------

# the config stays the same; only the list file it names changes
echo "127.0.0.250" >"$T/banned.list"
{ common; echo "acl banned dst \"$T/banned.list\""; echo "http_access deny banned"; echo "http_access allow all"; } >"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
n=$((n + 1))
wait_for 10 notified "$n" READY=1 || fail "reload with a list file: no READY=1"
expect_eq "$(status "$O2/bytes/10")" 200 "origin 2 before its address is listed"
echo "127.0.0.1" >>"$T/banned.list"
kill -HUP "$SLUICE_PID"
n=$((n + 1))
wait_for 10 notified "$n" READY=1 || fail "reload of the list file: no READY=1"
expect_eq "$(status "$O2/bytes/10")" 403 "origin 2 once the list file names its address"
ok "a reload reads the ACL list files again"
