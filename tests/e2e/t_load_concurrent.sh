# 100 curl clients released at once, each on one kept-alive connection
# fetching a slowly sent body (so all 100 overlap), a body of its own size
# (Content-Length), the same size chunked, and /echo with its own header:
# every client gets exactly its own responses.
. "$(dirname "$0")/lib.sh"
N=100


start_origin
start_sluice

size() { echo $((1000 + $1 * 7919)); } # 8 kB .. 793 kB, all different

# The start line: each client reads one line from this FIFO before it runs.
mkfifo "$T/go"
exec {go}<>"$T/go"
pids=()
for i in $(seq "$N"); do
	s=$(size "$i")
	(
		read -r _ <"$T/go"
		exec curl -s --max-time 30 -x "$PROXY" -H "X-Client: client-$i" \
		-w '%{http_code}\n' \
		"$ORIGIN/slowbody/$((20000 + i))" -o "$T/c$i.slow" \
		"$ORIGIN/bytes/$s" -o "$T/c$i.bytes" \
		"$ORIGIN/chunked/$s" -o "$T/c$i.chunked" \
		"$ORIGIN/echo" -o "$T/c$i.echo"
	) >"$T/c$i.codes" 2>"$T/c$i.err" &
	pids+=($!)
	PIDS+=($!)
done
for i in $(seq "$N"); do echo; done >&"$go"
failed=0
for p in "${pids[@]}"; do
	wait "$p" || failed=$((failed + 1))
	untrack "$p"
done
[ "$failed" -eq 0 ] || fail "$failed of $N curl clients failed"
ok "$N clients x 4 requests finished"

for i in $(seq "$N"); do
	s=$(size "$i")
	expect_eq "$(tr '\n' ' ' <"$T/c$i.codes")" "200 200 200 200 " "client $i status codes"
	"$ORIGIN_BIN" --gen $((20000 + i)) | cmp -s - "$T/c$i.slow" || fail "client $i: /slowbody/$((20000 + i)) body is not its own"
	"$ORIGIN_BIN" --gen "$s" >"$T/want"
	cmp -s "$T/want" "$T/c$i.bytes" || fail "client $i: /bytes/$s body is not its own ($(wc -c <"$T/c$i.bytes") bytes)"
	cmp -s "$T/want" "$T/c$i.chunked" || fail "client $i: /chunked/$s body is not its own ($(wc -c <"$T/c$i.chunked") bytes)"
	grep -q "^GET /echo HTTP/1.1" "$T/c$i.echo" || fail "client $i: echo lacks its request line"
	got=$(grep -i '^x-client:' "$T/c$i.echo" | tr -d '\r')
	expect_eq "$got" "X-Client: client-$i" "client $i: header echoed by the origin"
done
ok "every client got its own bodies and its own echo"
sluice_alive || fail "sluice died"
