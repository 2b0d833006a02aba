# Concurrent lookups of one name are sent once.  The resolver is
# tests/e2e/dnsshim holding each query 800 ms before passing it to dnsmasq,
# so 20 parallel requests all arrive while the first lookup is in flight
# (checked: each waited for it); dnsmasq must see exactly one A query.  The
# same for a name that does not exist, and when some of the waiting clients
# give up before the answer.  One worker, so one cache.
. "$(dirname "$0")/lib.sh"

aaaa_queries() {
	grep -c "query\[AAAA\] $1 " "$DNS_LOG" 2>/dev/null || true
}
# parallel N NAME TAG [CURL ARGS]: N requests at once (one curl, N
# connections) for /bytes/1000+i on NAME; "code time size" lines in $T/TAG.
parallel() {
	local n=$1 name=$2 tag=$3 i args=()
	shift 3
	for i in $(seq "$n"); do
		args+=("http://$name:$ORIGIN_PORT/bytes/$((1000 + i))" -o "$T/$tag.$i")
	done
	curl -s --no-progress-meter -Z --parallel-max "$n" --parallel-immediate --max-time 15 \
		-x "$PROXY" -w '%{http_code} %{time_total} %{size_download}\n' "$@" "${args[@]}" \
		>"$T/$tag" 2>/dev/null
}
DELAY_MS=800

printf '127.0.0.1 co.sluice.test\n127.0.0.1 co2.sluice.test\n' >"$T/hosts"
start_dnsmasq "$T/hosts" 300
# c-ares' first retransmission comes after dns_timeout/3 (2 s) > DELAY_MS
start_shim -u "$DNS_PORT" -d "$DELAY_MS"
start_origin
start_sluice "workers 1" "resolver 127.0.0.1:$SHIM_PORT" "dns_timeout 6s"

# --- 20 at once for a name that resolves -------------------------------------------------
parallel 20 co.sluice.test co
expect_eq "$(wc -l <"$T/co")" 20 "responses"
expect_eq "$(awk '$1 != 200' "$T/co" | wc -l)" 0 "non-200 responses ($(sort "$T/co" | uniq -c | head -3))"
slow=$(awk -v min=$((DELAY_MS - 300)) '$2 * 1000 >= min' "$T/co" | wc -l)
expect_eq "$slow" 20 "requests that waited for the delayed lookup (so were concurrent with it)"
for i in $(seq 20); do
	"$ORIGIN_BIN" --gen $((1000 + i)) | cmp -s - "$T/co.$i" || fail "body $i differs"
done
expect_eq "$(dns_queries co.sluice.test)" 1 "A queries at dnsmasq for 20 concurrent requests"
expect_eq "$(aaaa_queries co.sluice.test)" 1 "AAAA queries at dnsmasq for 20 concurrent requests"
ok "20 concurrent requests for one name: one A query"

# --- 20 at once for a name that does not exist --------------------------------------------
parallel 20 nx.sluice.test nx
expect_eq "$(wc -l <"$T/nx")" 20 "responses (NXDOMAIN)"
expect_eq "$(awk '$1 != 502' "$T/nx" | wc -l)" 0 "non-502 responses for a missing name"
slow=$(awk -v min=$((DELAY_MS - 300)) '$2 * 1000 >= min' "$T/nx" | wc -l)
expect_eq "$slow" 20 "requests that waited for the delayed NXDOMAIN"
expect_eq "$(dns_queries nx.sluice.test)" 1 "A queries at dnsmasq for 20 concurrent requests (NXDOMAIN)"
ok "20 concurrent requests for a missing name: one A query, all 502"

# --- waiters leaving before the answer --------------------------------------------------------
curl -s --no-progress-meter -Z --parallel-max 5 --parallel-immediate --max-time 0.3 -x "$PROXY" \
	"http://co2.sluice.test:$ORIGIN_PORT/bytes/[1-5]" -o /dev/null >/dev/null 2>&1 &
QUITTERS=$!
PIDS+=("$QUITTERS")
wait_for 5 grep -q "name=co2.sluice.test" "$SHIM_LOG" || fail "no lookup for co2.sluice.test"
parallel 15 co2.sluice.test co2
wait "$QUITTERS"
untrack "$QUITTERS"
expect_eq "$(awk '$1 != 200' "$T/co2" | wc -l)" 0 "non-200 responses after 5 waiters left"
for i in $(seq 15); do
	"$ORIGIN_BIN" --gen $((1000 + i)) | cmp -s - "$T/co2.$i" || fail "co2 body $i differs"
done
expect_eq "$(dns_queries co2.sluice.test)" 1 "A queries with waiters leaving"
sluice_alive || fail "sluice died"
ok "waiters that leave do not disturb the others"
