# Reload edge cases.  A listener the reload removes hands off the
# connections waiting in its backlog even when sluice is at max_connections
# (the kernel completed them: closing would reset them).  A reload whose new
# values clash with a running one it cannot change (header_max above the
# running buffer_size) is refused, naming both, and the old config serves on.
. "$(dirname "$0")/lib.sh"

start_origin
common() {
	echo "listen 127.0.0.1:0"
	echo "workers 1"
	echo "max_connections 2"
	echo "access_log $T/access.log"
	echo "error_log stderr"
}
start_sluice "listen 127.0.0.2:0" "max_connections 2"
L2=$(sed -n 's/.*listening on 127\.0\.0\.2:\([0-9]*\).*/\1/p' "$T/sluice.err" | head -n1)
[ -n "$L2" ] || fail "no second listener"

# two idle clients fill max_connections: the acceptor stops accepting
exec {A}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect A"
exec {B}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect B"
two_open() { [ "$(ss -Htn state established "sport = :$SLUICE_PORT" | wc -l)" -ge 2 ]; }
wait_for 5 two_open || fail "the two clients are not accepted"
# a client on the second listener waits in its backlog
curl -s -o "$T/queued.body" -w '%{http_code}' --max-time 20 -x "http://127.0.0.2:$L2" "$ORIGIN/bytes/33" >"$T/queued.code" &
Q=$!
PIDS+=("$Q")
queued() { [ "$(ss -Hltn "sport = :$L2" | awk '{ print $2 }')" -ge 1 ]; }
wait_for 5 queued || fail "the client is not queued on 127.0.0.2:$L2: $(ss -Hltn "sport = :$L2")"
ok "at max_connections, a client waits in the second listener's backlog"

common >"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 grep -q "closed listener 127.0.0.2:$L2 (removed by the reload)" "$T/sluice.err" || fail "the listener was not removed"
wait "$Q"
expect_eq "$(cat "$T/queued.code")" 200 "the queued client's answer"
expect_eq "$(stat -c %s "$T/queued.body")" 33 "the queued client's body"
ok "the removed listener's queued client was handed off and served"
exec {A}>&- {B}>&-

# --- a reload that clashes with a value needing a restart --------------------------------

stop_sluice
untrack "$SLUICE_PID"
start_sluice "buffer_size 4k" "header_max 4k" "url_max 2k"
big() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "$PROXY" -H "X-Big: $(head -c 6000 /dev/zero | tr '\0' a)" "$ORIGIN/bytes/1"; }
expect_eq "$(big)" 431 "a 6 KB head under header_max 4k"
{ common; echo "buffer_size 64k"; echo "header_max 64k"; echo "url_max 2k"; } >"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 grep -q "reload failed: .*with the running .*buffer_size (a restart applies the new): header_max must be at least 256 and at most buffer_size (4096)" "$T/sluice.err" ||
	fail "the clash is not named: $(grep reload "$T/sluice.err" | tail -n 3)"
expect_eq "$(big)" 431 "the same head after the refused reload"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/1")" 200 "a request after the refused reload"
ok "a reload clashing with the running buffer_size is refused, naming both; the old config serves"
