# A real Prometheus server scrapes sluice's admin listener every second:
# after 7 requests through sluice, its HTTP API answers
# sluice_requests_total{method="GET",code="2xx"} = 7, the target is up,
# and the scrape left no error.  The server runs on a loopback port with
# its storage in the test's folder.
. "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null || fail "prometheus missing (TEST_DEBS)"
command -v jq >/dev/null || fail "jq missing"

start_origin
start_sluice "admin 127.0.0.1:0"
ADMIN=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) admin.*/\1/p' "$T/sluice.err")
[ -n "$ADMIN" ] || fail "no admin listener"
for i in $(seq 7); do
	curl -s -f -o /dev/null --max-time 5 -x "$PROXY" "$ORIGIN/bytes/$i" || fail "request $i"
done

cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ['127.0.0.1:$ADMIN']
EOF
for try in 1 2 3 4 5; do
	PROM=$((20000 + RANDOM % 30000))
	prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
		--web.listen-address="127.0.0.1:$PROM" >"$T/prometheus.log" 2>&1 &
	PROM_PID=$!
	ready() { curl -s -f --max-time 2 "http://127.0.0.1:$PROM/-/ready" >/dev/null; }
	if wait_for 30 ready; then
		PIDS+=("$PROM_PID")
		break
	fi
	kill "$PROM_PID" 2>/dev/null
	wait "$PROM_PID" 2>/dev/null
	PROM_PID=
done
[ -n "${PROM_PID:-}" ] || fail "prometheus did not start: $(tail -n 5 "$T/prometheus.log")"
ok "prometheus ready on 127.0.0.1:$PROM"

# query EXPR: the first result's value, or nothing
query() {
	curl -s -f --max-time 5 -G "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" |
		jq -r '.data.result[0].value[1] // empty'
}
seven() { [ "$(query 'sluice_requests_total{method="GET",code="2xx"}')" = 7 ]; }
wait_for 30 seven || fail "prometheus does not have sluice_requests_total = 7: $(query 'sluice_requests_total{method="GET",code="2xx"}')"
expect_eq "$(query 'up{job="sluice"}')" 1 "the target's up"
targets=$(curl -s -f --max-time 5 "http://127.0.0.1:$PROM/api/v1/targets")
jq -e '.data.activeTargets[0].health == "up" and .data.activeTargets[0].lastError == ""' <<<"$targets" >/dev/null ||
	fail "the scrape: $(jq -c '.data.activeTargets[0] | {health, lastError}' <<<"$targets")"
expect_eq "$(query 'sluice_workers')" 2 "sluice_workers"
ok "Prometheus scraped sluice: sluice_requests_total{GET,2xx} = 7, target up, no scrape error"
