# A browser's WebSocket through sluice, as a user would open it: headless
# Chromium sends ws://host:80/ through an HTTP proxy as "CONNECT host:80"
# (not as an Upgrade request), so it works only when connect_ports has 80,
# as it does by default.  With connect_ports 443 the browser fails to open
# it, which is why 80 is in the default.  Everything runs in a network
# namespace of its own (port 80 free, nothing reachable but its loopback);
# sluice resolves nothing (a closed resolver port), Chromium's own
# background requests are refused by it.
. "$(dirname "$0")/lib.sh"
command -v chromium >/dev/null || fail "chromium missing (make deps-test installs it)"
command -v unshare >/dev/null || fail "unshare missing"
if [ -z "${SLUICE_WS_NETNS:-}" ]; then
	[ "$(id -u)" = 0 ] || skip "needs root for a network namespace"
	trap - EXIT
	rm -rf "$T"
	exec unshare -n env SLUICE_WS_NETNS=1 bash "$0" "$@"
fi
ip link set lo up || fail "lo up in the namespace"

perl "$(dirname "$0")/wsserver.pl" 80 >"$T/ws.log" 2>&1 &
PIDS+=($!)
wait_for 10 grep -q listening "$T/ws.log" || fail "WebSocket server did not start: $(cat "$T/ws.log")"

start_origin
# PAGE opens ws://127.0.0.1/ and reports what came (or "error") by loading
# an image from the test origin, through sluice: its access log says.
PAGE='data:text/html,<body>ws</body><script>
function report(what) { new Image().src = "http://127.0.0.1:'"$ORIGIN_PORT"'/report/" + what; }
var w = new WebSocket("ws://127.0.0.1/");
w.onmessage = function (e) { report("got-" + encodeURIComponent(e.data)); };
w.onerror = function () { report("error"); };
</script>'
# Chromium runs in a process group of its own (setsid), so that its
# renderer and helper processes end with it.
browse() { # start headless Chromium on PAGE through sluice; sets CHROME
	setsid chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$T/chrome.$RANDOM" --proxy-server="$PROXY" --proxy-bypass-list='<-loopback>' \
		"$PAGE" >/dev/null 2>"$T/chrome.err" &
	CHROME=$!
	PIDS+=("$CHROME")
}
group_gone() { ! pgrep -g "$CHROME" >/dev/null; }
end_browse() {
	kill -- -"$CHROME" 2>/dev/null
	wait "$CHROME" 2>/dev/null
	wait_for 10 group_gone || kill -9 -- -"$CHROME" 2>/dev/null
	untrack "$CHROME"
}

start_sluice "resolver 127.0.0.1:1"
browse
wait_for 30 access_log_has "GET http://127\.0\.0\.1:$ORIGIN_PORT/report/got-hello%20through%20sluice " ||
	fail "ws:// through sluice (default connect_ports): no report: $(cat "$T/access.log")"
end_browse
access_log_has "TCP_TUNNEL/200 .* CONNECT 127\.0\.0\.1:80 " ||
	fail "no CONNECT 127.0.0.1:80 tunnel in the access log: $(cat "$T/access.log")"
ok "Chromium's ws:// WebSocket went through as CONNECT 127.0.0.1:80 on the default connect_ports"
stop_sluice
untrack "$SLUICE_PID"

start_sluice "resolver 127.0.0.1:1" "connect_ports 443"
browse
wait_for 30 access_log_has "GET http://127\.0\.0\.1:$ORIGIN_PORT/report/error " ||
	fail "ws:// with connect_ports 443: no error report: $(cat "$T/access.log")"
end_browse
access_log_has "TCP_DENIED/403 .* CONNECT 127\.0\.0\.1:80 " ||
	fail "no refused CONNECT 127.0.0.1:80 in the access log: $(cat "$T/access.log")"
ok "with connect_ports 443 the browser cannot open it (CONNECT :80 refused): why 80 is in the default"
