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

access_log_has " TCP_MISS/200 .* GET http://127.0.0.1:$ORIGIN_PORT/bytes/100000 - HIER_DIRECT/127.0.0.1" \
	|| fail "access log line missing: $(cat "$T/access.log")"
ok "access log in squid format"
