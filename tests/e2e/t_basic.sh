# Plain forwarding with curl: bodies arrive intact in every framing, the
# origin sees sluice's Via, and the access log records the request.
. "$(dirname "$0")/lib.sh"
start_origin
start_sluice

for path in bytes/100000 chunked/100000 close/100000; do
	curl -s -f -x "$PROXY" "$ORIGIN/$path" -o "$T/got" || fail "curl $path"
	"$BUILD/origin" --gen 100000 | cmp -s - "$T/got" || fail "$path: body differs"
done
ok "Content-Length, chunked and close-delimited bodies intact"

via=$(curl -s -x "$PROXY" "$ORIGIN/echo" | grep -i '^via:' | tr -d '\r')
expect_eq "$via" "Via: 1.1 sluice" "Via seen by the origin"
ok "origin sees Via"

nd=$(accepted_nodelay "$SLUICE_PORT")
[ "$nd" = "?" ] || expect_eq "$nd" 1 "TCP_NODELAY of an accepted client socket (set once on the listener)"
ok "accepted sockets have TCP_NODELAY ($nd)"

# defer_accept (on by default): the listener defers a connection until
# its first bytes; a client silent longer than that second is served too.
d=$(listener_defer "$SLUICE_PORT")
[ "$d" = "?" ] || expect_eq "$d" 1 "TCP_DEFER_ACCEPT on the listener (defer_accept on)"
exec {c}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect"
sleep 1.5 # the subject: a client silent past the deferral
printf 'GET %s/bytes/7 HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$ORIGIN" "$ORIGIN_PORT" >&"$c"
expect_eq "$(timeout 5 cat <&"$c" | head -n1 | tr -d '\r')" "HTTP/1.1 200 OK" "a client silent for 1.5 s, then asking"
exec {c}>&-
echo "defer_accept off" >>"$T/sluice.conf"
kill -HUP "$SLUICE_PID"
wait_for 10 grep -q "configuration reloaded" "$T/sluice.err" || fail "no reload: $(tail -n 3 "$T/sluice.err")"
d=$(listener_defer "$SLUICE_PORT")
[ "$d" = "?" ] || expect_eq "$d" 0 "TCP_DEFER_ACCEPT after a reload with defer_accept off"
ok "defer_accept: on by default, a silent client still served, off after a reload ($d)"

access_log_has " TCP_MISS/200 .* GET http://127.0.0.1:$ORIGIN_PORT/bytes/100000 - HIER_DIRECT/127.0.0.1" \
	|| fail "access log line missing: $(cat "$T/access.log")"
ok "access log in squid format"
