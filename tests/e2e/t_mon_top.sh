# The top talkers: under a skewed workload, /top and /metrics name the hot
# destination and the hot client first, with exact counts while the
# distinct names fit the tables; then, among a flood of distinct names (a
# new literal address per request, far more than the tables hold), sluice's
# memory stays flat and the hot name is still first, its figures within
# their error bounds.  The page at / renders the same tables in headless
# Chromium (the DOM checked, the PNG kept as an artifact with KEEP_TMP).
. "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || fail "wrk missing"
command -v jq >/dev/null || fail "jq missing"

start_origin
printf '127.0.0.1 hot.sluice.test\n127.0.0.1 cold.sluice.test\n' >"$T/hosts"
start_dnsmasq "$T/hosts" 60
start_sluice "admin 127.0.0.1:0" "resolver 127.0.0.1:$DNS_PORT" "access_log off" "top_talkers 5"
ADMIN=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) admin.*/\1/p' "$T/sluice.err")
[ -n "$ADMIN" ] || fail "no admin listener"

# hot: 30 x 20,000 bytes from 127.0.0.5; cold: 10 x 100 bytes from 127.0.0.6
for i in $(seq 30); do
	curl -s -f -o /dev/null --interface 127.0.0.5 -x "$PROXY" "http://hot.sluice.test:$ORIGIN_PORT/bytes/20000" || fail "hot $i"
done
for i in $(seq 10); do
	curl -s -f -o /dev/null --interface 127.0.0.6 -x "$PROXY" "http://cold.sluice.test:$ORIGIN_PORT/bytes/100" || fail "cold $i"
done
top() { curl -s -f --max-time 5 "http://127.0.0.1:$ADMIN/top" >"$T/top.json"; }
top || fail "GET /top"
jq -e '.workers == 2 and .answered == 2' "$T/top.json" >/dev/null || fail "not every worker answered: $(cat "$T/top.json")"
jq -e '.names[0].name == "hot.sluice.test" and .names[0].requests == 30 and .names[0].bytes_error == 0
	and .names[0].bytes > 600000 and .names[1].name == "cold.sluice.test" and .names[1].requests == 10' \
	"$T/top.json" >/dev/null || fail "the names: $(cat "$T/top.json")"
jq -e '.clients[0].name == "127.0.0.5" and .clients[0].requests == 30 and .clients[1].name == "127.0.0.6"' \
	"$T/top.json" >/dev/null || fail "the clients: $(cat "$T/top.json")"
hot_bytes=$(jq '.names[0].bytes' "$T/top.json")
curl -s -f --max-time 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics" || fail "GET /metrics"
grep -q "^sluice_top_name_bytes{name=\"hot.sluice.test\"} $hot_bytes\$" "$T/metrics" || fail "/metrics lacks the hot name"
grep -q '^sluice_top_client_requests{client="127.0.0.5"} 30$' "$T/metrics" || fail "/metrics lacks the hot client"
promtool check metrics <"$T/metrics" >/dev/null 2>&1 || fail "promtool"
ok "/top and /metrics: hot.sluice.test and 127.0.0.5 first, exact counts"

# the page, in a browser
if command -v chromium >/dev/null; then
	page() {
		timeout 60 chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=4000 "$@" \
			"http://127.0.0.1:$ADMIN/" 2>>"$T/chromium.err"
	}
	page --dump-dom >"$T/page.html" || fail "chromium: $(tail -n 3 "$T/chromium.err")"
	grep -q '<td>hot.sluice.test</td>' "$T/page.html" || fail "the page does not show the hot name: $(grep -o '<tbody>.*</tbody>' "$T/page.html")"
	grep -q '<td>127.0.0.5</td>' "$T/page.html" || fail "the page does not show the hot client"
	grep -q '2 of 2 workers answered' "$T/page.html" || fail "the page's state line"
	(cd "$T" && page --screenshot="$T/top.png" --window-size=1100,500 >/dev/null)
	[ -s "$T/top.png" ] || fail "no screenshot"
	ok "the page renders the tables in headless Chromium (DOM checked; screenshot $T/top.png)"
else
	fail "chromium missing (TEST_DEBS)"
fi

# a flood of distinct names: literal addresses 127.x.y.z:9 (nothing
# listens there: a quick refusal), one new name per request
cat >"$T/flood.lua" <<'EOF'
local n = tonumber(os.getenv("FLOOD_FROM"))
request = function()
	n = n + 1
	local a, b, c = n % 250 + 1, math.floor(n / 250) % 250 + 1, math.floor(n / 62500) % 250 + 1
	return wrk.format("GET", "http://127." .. c .. "." .. b .. "." .. a .. ":9/", { Host = "x" })
end
EOF
flood() {
	FLOOD_FROM=$1 wrk -t1 -c8 -d4s -s "$T/flood.lua" "$PROXY/" >"$T/flood$1.out" 2>&1 || fail "wrk: $(cat "$T/flood$1.out")"
	sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$T/flood$1.out"
}
n1=$(flood 0)
rss1=$(rss_kb "$SLUICE_PID")
n2=$(flood 3000000)
rss2=$(rss_kb "$SLUICE_PID")
[ "$n1" -gt 8192 ] && [ "$n2" -gt 8192 ] || fail "the flood is too small to fill the tables: $n1 then $n2 names"
rss_slack
[ $((rss2 - rss1)) -lt "$RSS_SLACK_KB" ] || fail "RSS grew with the distinct names: $rss1 -> $rss2 kB after $n2 more names"
ok "$n1 then $n2 distinct names: RSS $rss1 -> $rss2 kB"

top || fail "GET /top after the flood"
jq -e --argjson b "$hot_bytes" '.names[0].name == "hot.sluice.test" and .names[0].bytes >= $b
	and .names[0].bytes - .names[0].bytes_error <= $b and .names[0].requests <= 30
	and .names[0].requests + .names[0].bytes_error >= 30' "$T/top.json" >/dev/null ||
	fail "the hot name after the flood: $(jq -c '.names[0]' "$T/top.json")"
ok "after the flood, hot.sluice.test still first, within its bounds: $(jq -c '.names[0]' "$T/top.json")"
