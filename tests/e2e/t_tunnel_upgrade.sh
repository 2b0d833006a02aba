# Upgrade: "Connection: upgrade" + "Upgrade: X" go through; a 101 turns the
# connection into the same relay as CONNECT, any other answer is a normal
# response and the connection stays HTTP (vtc/tunnel_upgrade.vtc); an
# HTTP/1.0 request's Upgrade is ignored (vtc/tunnel_upgrade10.vtc).  Then
# byte level with tests/e2e/tunnelpeer: bytes the origin writes right behind
# its 101 (same write) come first and intact, 50 MiB each way at once are
# checked at both ends, and the tunnel gets one access log line.
#
# Independent checks are all run and reported together (BROKEN), so that
# one failure does not hide the next.
. "$(dirname "$0")/lib.sh"

[ -x "$BUILD/tunnelpeer" ] || fail "$BUILD/tunnelpeer missing: make $BUILD/tunnelpeer"
"$BUILD/tunnelpeer" serve -f "$T/peer.port" -R "$T/peer.report" -H -G 1000 -o both -s 50M -r 50M \
	2>"$T/peer.err" &
PIDS+=($!)
wait_for 5 test -s "$T/peer.port" || fail "tunnelpeer did not start: $(cat "$T/peer.err")"
PEER_PORT=$(cat "$T/peer.port")
start_sluice

BROKEN=()
# broken WHAT: note a failed check, keep going
broken() { echo "FAIL: $*" >&2; BROKEN+=("$*"); }

if command -v varnishtest >/dev/null; then
	run_vtc tunnel_upgrade.vtc
	ok "varnishtest: Upgrade kept both ways, 101 relays raw bytes both ways and the close; 200 stays HTTP; unasked 101 -> 502"
	if run_vtc_case tunnel_upgrade_early.vtc; then
		ok "varnishtest: a 101 before the request body is all through -> 502, no raw body bytes in a tunnel"
	else
		broken "a 101 before the request body was through was accepted"
	fi
	if run_vtc_case tunnel_upgrade10.vtc; then
		ok "varnishtest: Upgrade in an HTTP/1.0 request is not passed on"
	else
		broken "an HTTP/1.0 request's Upgrade went to the origin (RFC 9110 7.8: must be ignored)"
	fi
else
	echo "# varnishtest missing: scripted Upgrade exchanges skipped"
fi

# --- 101 + bytes in one write, then 50 MiB each way ---------------------------------------
"$BUILD/tunnelpeer" client -p "$SLUICE_PORT" -t "127.0.0.1:$PEER_PORT" -u -o both -s 50M -r 50M \
	>"$T/client.out" 2>&1 || fail "upgraded connection: client: $(cat "$T/client.out")"
grep -q "^status: HTTP/1.1 101 " "$T/client.out" || fail "no 101 for the client: $(cat "$T/client.out")"
grep -q "^done recv=52428800 ok .* sent=52428800 eof=1 OK" "$T/client.out" \
	|| fail "upgraded connection: client got: $(cat "$T/client.out")"
wait_for 10 grep -q "^done conn=1 " "$T/peer.report" || fail "the origin did not finish: $(cat "$T/peer.report")"
grep -q "^done conn=1 recv=52428800 ok .* sent=52428800 eof=1 OK" "$T/peer.report" \
	|| fail "upgraded connection: origin got: $(cat "$T/peer.report")"
grep -q '^head conn=1 line="GET / HTTP/1.1" upgrade="sluicetest" connection="[^"]*[Uu]pgrade' "$T/peer.report" \
	|| fail "the request head the origin saw: $(grep '^head' "$T/peer.report")"
ok "101 with bytes behind it in the same write, then 50 MiB each way through the upgraded connection, intact"

access_log_has "TCP_TUNNEL/101 .*tunnel up=52428800 down=[0-9]*\"$" \
	|| fail "no access log line with the upgraded connection's counts: $(cat "$T/access.log")"
down=$(sed -n 's/.*TCP_TUNNEL\/101 .*tunnel up=52428800 down=\([0-9]*\)"$/\1/p' "$T/access.log")
[ "$down" -gt 52428800 ] && [ "$down" -lt 52429800 ] || fail "down=$down: want 50 MiB plus the 101 head"
if grep -q "TCP_TUNNEL/101 $down GET http://127.0.0.1:$PEER_PORT/ " "$T/access.log"; then
	ok "the upgraded connection is logged once at its end: TCP_TUNNEL/101, GET URL, bytes each way"
else
	broken "the upgraded connection is logged without its method and URL: $(grep "tunnel up=52428800" "$T/access.log")"
fi

sluice_alive || fail "sluice died"
[ ${#BROKEN[@]} -eq 0 ] || fail "${#BROKEN[@]} check(s) failed: $(printf '[%s] ' "${BROKEN[@]}")"
