# ApacheBench through sluice (ab -X): 2000 requests, 50 concurrent, with and
# without keep-alive, then 10000 requests from 200 keep-alive clients and
# larger bodies: no failed request, no non-2xx response, every body byte
# accounted for, sluice alive afterwards.
. "$(dirname "$0")/lib.sh"
command -v ab >/dev/null || skip "ab (apache2-utils) missing"

# run_ab TAG N C SIZE [AB ARGS]: ab -X sluice for /bytes/SIZE; checks the report.
run_ab() {
	local tag=$1 n=$2 c=$3 size=$4 out
	shift 4
	out="$T/ab.$tag"
	timeout 60 ab -q -s 20 "$@" -X "127.0.0.1:$SLUICE_PORT" -n "$n" -c "$c" \
		"$ORIGIN/bytes/$size" >"$out" 2>&1 || fail "ab $tag exited non-zero: $(tail -n 5 "$out")"
	grep -Eq "^Complete requests: +$n\$" "$out" || fail "ab $tag: not all requests completed: $(grep -E 'Complete|Failed' "$out")"
	grep -Eq '^Failed requests: +0$' "$out" || fail "ab $tag: $(grep -A 3 '^Failed' "$out")"
	grep -q '^Non-2xx' "$out" && fail "ab $tag: $(grep '^Non-2xx' "$out")"
	grep -q '^Write errors' "$out" && fail "ab $tag: $(grep '^Write errors' "$out")"
	grep -Eq "^HTML transferred: +$((n * size)) bytes\$" "$out" \
		|| fail "ab $tag: body bytes $(grep '^HTML transferred' "$out"), want $((n * size))"
	sluice_alive || fail "sluice died during ab $tag"
	echo "# ab $tag: $(grep '^Requests per second' "$out")"
}

start_origin
start_sluice

run_ab close 2000 50 1000
ok "2000 requests, 50 concurrent, no keep-alive: no failures, all 2xx"

run_ab keepalive 2000 50 1000 -k
keepalive=$(awk '/^Keep-Alive requests:/ { print $3 }' "$T/ab.keepalive")
# ab -k speaks HTTP/1.0 with "Connection: Keep-Alive": every answer should keep it
expect_eq "${keepalive:-0}" 2000 "ab -k requests answered with keep-alive"
ok "2000 requests, 50 concurrent, keep-alive ($keepalive kept alive): no failures, all 2xx"

run_ab many 10000 200 1000 -k
ok "10000 requests, 200 concurrent keep-alive clients: no failures, all 2xx"

run_ab large 1000 20 200000 -k
ok "1000 x 200 kB, 20 concurrent: no failures, every byte delivered"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/10")
expect_eq "$code" 200 "a request after the load"
