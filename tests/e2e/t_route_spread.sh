# Load spreads over a name's healthy addresses: two origins on 127.0.0.2
# and 127.0.0.3 (same port) behind one name; 20 requests that each need a
# new connection (/close/) are shared between them, as each origin's own
# count of connections says.  One worker, so one round-robin.
. "$(dirname "$0")/lib.sh"
start_origin -l 127.0.0.2
PORT=$ORIGIN_PORT
start_origin -l 127.0.0.3 -p "$PORT"
printf '127.0.0.2 spread.sluice.test\n127.0.0.3 spread.sluice.test\n' >"$T/hosts"
start_dnsmasq_opts "$T/hosts" 60 --no-round-robin # the same order for every lookup
start_sluice "workers 1" "resolver 127.0.0.1:$DNS_PORT"

N=20
for k in $(seq "$N"); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -x "$PROXY" "http://spread.sluice.test:$PORT/close/10")
	expect_eq "$code" 200 "request $k"
done
# served ADDR: connections ADDR's origin accepted so far (its X-Conn-Id
# numbers them; a direct request is the next one)
served() {
	local id
	id=$(curl -s -m 5 -D - -o /dev/null "http://$1:$PORT/bytes/1" | tr -d '\r' | sed -n 's/^X-Conn-Id: //Ip')
	[ -n "$id" ] || fail "no X-Conn-Id from the origin on $1"
	echo $((id - 1))
}
a=$(served 127.0.0.2)
b=$(served 127.0.0.3)
expect_eq "$((a + b))" "$N" "requests the two origins saw"
[ "$a" -ge $((N / 2 - 2)) ] && [ "$b" -ge $((N / 2 - 2)) ] ||
	fail "$N requests: 127.0.0.2 saw $a, 127.0.0.3 saw $b; want about $((N / 2)) each"
ok "$N requests spread: 127.0.0.2 saw $a, 127.0.0.3 saw $b"
sluice_alive || fail "sluice died"
