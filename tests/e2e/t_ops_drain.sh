# SIGTERM stops gracefully.  With a 200 MB download running, a CONNECT
# tunnel open, an idle kept-alive client, a request half sent and a new
# connection that has sent nothing yet: sd_notify says STOPPING=1, the
# listener refuses new connections at once, the idle client is closed, the
# half-sent request and the new connection's first one are answered with
# Connection: close, the download completes byte-exact, the tunnel is closed
# once shutdown_timeout has passed, and sluice exits 0.  A second signal
# stops at once.
# defer_accept off: with it on (the default) a connection that has sent
# nothing is still the kernel's (TCP_DEFER_ACCEPT), so it is reset with
# the listener, as the listen backlog is; sluice.conf(5) says so.
. "$(dirname "$0")/lib.sh"

start_notify
start_origin
start_peer -e
SECS=10
start_sluice "shutdown_timeout ${SECS}s" "connect_ports $PEER_PORT" "defer_accept off"
wait_for 5 notified 1 READY=1 || fail "no READY=1"

# an idle kept-alive client
conn_open
IDLE=$C
request GET /bytes/10
read_resp || fail "first response"
# a request half sent: its head and 5 of its 10 body bytes
conn_open
HALF=$C
C=$HALF request POST /echo "Content-Length: 10"
printf 'abcde' >&"$HALF"
# a new connection: accepted, its first request not sent yet
conn_open
FRESH=$C
fresh_in() { [ "$(ss -Htn state established "dport = :$SLUICE_PORT" | wc -l)" -ge 3 ]; }
wait_for 5 fresh_in || fail "the connections are not all up"

# the 200 MB download (50 MB/s: 4 s) and a tunnel that would stay open
SIZE=200000000
want=$("$ORIGIN_BIN" --gen "$SIZE" | sha256sum | cut -d' ' -f1)
curl -s -f --max-time 60 --limit-rate 50M -x "$PROXY" "$ORIGIN/bytes/$SIZE" 2>"$T/dl.err" | sha256sum >"$T/dl.sum" &
DL=$!
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$PEER_PORT" -P 2:10 -I 60000 -T 60 >"$T/tun.out" 2>&1 &
TUN=$!
PIDS+=("$DL" "$TUN")
# both under way: the download's bytes flow, the tunnel answered its pings
# ($DL is sha256sum, the pipeline's last: what it read came through curl)
dl_bytes() { awk '/^rchar:/ { print $2 }' "/proc/$DL/io" 2>/dev/null; }
dl_started() { [ "$(dl_bytes)" -gt 10000000 ] 2>/dev/null; }
wait_for 10 dl_started || fail "the download does not flow"
tun_open() { [ "$(grep -c . "$PEER_REPORT")" -ge 1 ] && ! grep -q "^eof" "$PEER_REPORT"; }
wait_for 10 tun_open || fail "the tunnel did not open: $(cat "$T/tun.out")"

t0=$(now_ms)
kill -TERM "$SLUICE_PID"
wait_for 5 notified 1 STOPPING=1 || fail "no STOPPING=1: $(cat "$NOTIFY_LOG")"
grep -q "WATCHDOG=" "$NOTIFY_LOG" && fail "watchdog pings without WATCHDOG_USEC"
ok "STOPPING=1 (and no watchdog pings: none asked for)"

# (curl's exit 7: refused, not accepted and then left hanging)
refused() { curl -s -o /dev/null --max-time 2 -x "$PROXY" "$ORIGIN/bytes/1"; [ $? = 7 ]; }
wait_for 2 refused || fail "a new connection was still accepted after the signal"
ok "new connections refused after the signal"

C=$IDLE
conn_closed || fail "the idle kept-alive client was not closed"
ok "idle kept-alive client closed"

printf 'fghij' >&"$HALF"
C=$HALF
read_resp || fail "no answer to the half-sent request"
expect_eq "$R_STATUS" "HTTP/1.1 200 OK" "the half-sent request's status"
case $R_BODY in *$'\r\n\r\n'abcdefghij) ;; *) fail "the echo lacks the whole body: $R_BODY";; esac
expect_eq "$(hdr Connection)" "close" "Connection header on the answer in flight"
conn_closed || fail "the client in flight was not closed after its answer"
ok "the request in flight answered with Connection: close, then closed"

C=$FRESH
request GET /bytes/7
read_resp || fail "the new connection's first request, sent after the signal, got no answer"
expect_eq "$R_STATUS" "HTTP/1.1 200 OK" "the new connection's first answer"
expect_eq "$(hdr Connection)" "close" "Connection header on the new connection's answer"
conn_closed || fail "the new connection was not closed after its answer"
ok "a connection accepted before the signal gets its first request answered, then closed"

wait "$DL" || fail "the download failed: $(cat "$T/dl.err")"
expect_eq "$(cut -d' ' -f1 "$T/dl.sum")" "$want" "the download's sha256"
t_dl=$(now_ms)
ok "the 200 MB download completed byte-exact after the signal ($((t_dl - t0)) ms)"

wait "$SLUICE_PID"
rc=$?
t_exit=$(now_ms)
expect_eq "$rc" 0 "sluice's exit status"
wait "$TUN"
grep -q "closed after" "$T/tun.out" || fail "the tunnel was not closed by sluice: $(cat "$T/tun.out")"
[ $((t_exit - t0)) -ge $((SECS * 1000 - 200)) ] ||
	fail "sluice exited $((t_exit - t0)) ms after the signal, before shutdown_timeout (${SECS} s) with a tunnel open"
grep -q "shutdown_timeout: closing the 1 connections still open" "$T/sluice.err" ||
	fail "no note of the tunnel closed at shutdown_timeout: $(tail -n 5 "$T/sluice.err")"
grep -q "GET $ORIGIN/bytes/$SIZE " "$T/access.log" || fail "the download is not in the access log"
ok "tunnel closed at shutdown_timeout, exit 0 after $((t_exit - t0)) ms"

# --- a second signal stops at once -----------------------------------------------------------

: >"$NOTIFY_LOG"
start_peer -e
start_sluice "shutdown_timeout 60s" "connect_ports $PEER_PORT"
wait_for 5 notified 1 READY=1 || fail "no READY=1 (second run)"
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$PEER_PORT" -P 2:10 -I 60000 -T 60 >"$T/tun2.out" 2>&1 &
TUN=$!
PIDS+=("$TUN")
wait_for 10 tun_open || fail "the second tunnel did not open"
kill -TERM "$SLUICE_PID"
wait_for 5 notified 1 STOPPING=1 || fail "no STOPPING=1 (second run)"
kill -INT "$SLUICE_PID"
gone() { ! kill -0 "$SLUICE_PID" 2>/dev/null; }
wait_for 5 gone || fail "a second signal did not stop sluice at once"
wait "$SLUICE_PID"
expect_eq "$?" 0 "exit status after a second signal"
grep -q "signal 2 again: stopping now" "$T/sluice.err" || fail "the second signal is not logged"
wait "$TUN"
ok "a second signal stops at once, exit 0"
