# keepalive_timeout: with "keepalive_timeout 1s" a kept-alive client
# connection left idle after a response is closed by sluice about a second
# later (not at once, not never); a client that sends its next request every
# 0.6 s keeps its connection across several seconds, since the idle clock
# restarts with each request.
. "$(dirname "$0")/lib.sh"


# request FD PATH: send one keep-alive GET and read its response; sets
# STATUS.  Fails on a short or missing response.
request() {
	local fd=$1 path=$2 line status= len=0 body
	printf 'GET %s%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n' "$ORIGIN" "$path" "$ORIGIN_PORT" >&"$fd" \
		|| fail "write to the kept-alive connection failed"
	IFS= read -r -t 5 -u "$fd" line || fail "no response to $path"
	status=${line#HTTP/1.1 }
	status=${status%% *}
	while IFS= read -r -t 5 -u "$fd" line; do
		line=${line%$'\r'}
		[ -z "$line" ] && break
		case ${line,,} in content-length:*) len=${line#*:}; len=${len// /};; esac
	done
	if [ "$len" -gt 0 ]; then
		IFS= read -r -d '' -t 5 -N "$len" -u "$fd" body || fail "short body for $path"
	fi
	STATUS=$status
}
# closed_within FD SECONDS: wait for EOF (or reset) on FD; sets WAITED (ms),
# or fails when the connection stays open or sends bytes.
closed_within() {
	local fd=$1 t ch rc
	t=$(now_ms)
	IFS= read -r -d '' -t "$2" -N 1 -u "$fd" ch
	rc=$?
	[ "$rc" -gt 128 ] && fail "idle kept-alive connection still open after $2 s"
	[ -n "$ch" ] && fail "unexpected bytes on an idle connection: '$ch'"
	WAITED=$(($(now_ms) - t))
}

start_origin
start_sluice "keepalive_timeout 1s"

# --- idle after one response -----------------------------------------------------------
exec {c}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect"
request "$c" /bytes/100
expect_eq "$STATUS" 200 "first request"
closed_within "$c" 5
waited=$WAITED
[ "$waited" -ge 700 ] || fail "idle connection closed after only $waited ms (keepalive_timeout 1s)"
[ "$waited" -le 2500 ] || fail "idle connection closed after $waited ms (keepalive_timeout 1s)"
exec {c}>&-
ok "idle kept-alive connection closed after $waited ms (keepalive_timeout 1s)"

# --- busy connection kept ------------------------------------------------------------------
exec {c}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect"
t=$(now_ms)
for i in 1 2 3 4 5; do
	request "$c" "/bytes/$((100 + i))"
	expect_eq "$STATUS" 200 "request $i on one connection"
	[ "$i" -lt 5 ] && sleep 0.6 # the subject: pauses shorter than the timeout
done
span=$(($(now_ms) - t))
closed_within "$c" 5
waited=$WAITED
[ "$waited" -ge 700 ] || fail "connection closed $waited ms after its last request"
exec {c}>&-
ok "5 requests 0.6 s apart on one connection (${span} ms > keepalive_timeout), closed ${waited} ms after the last"
sluice_alive || fail "sluice died"
