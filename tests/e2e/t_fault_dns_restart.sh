# The DNS server killed (SIGKILL) in the middle of lookups and restarted on
# the same port.  sluice's resolver is a dnsmasq that answers names from a
# hosts file and forwards *.slow.sluice.test and *.slow2.sluice.test to a
# silent dnsshim, so lookups of those hang at the server until it dies.
#   Round A: 40 clients (30 names, 10 more sharing one) are mid-lookup when
#     the server is killed; a new one, knowing the names, starts at once:
#     if it is up before c-ares' next try (dns_timeout/7 = 1 s), that try
#     reaches it and the clients get their answers.
#   Round B: the same, but the server stays dead until every client has its
#     answer (c-ares' tries now meet a closed port), then comes back.
# Every client mid-lookup gets 200, or sluice's 502/504 naming DNS, in
# bounded time.  After each restart the names all resolve: a failure during
# the outage is not cached.  All along, control clients (a literal address)
# and requests for a name already in the cache are served.  Afterwards
# sluice is alive, holds no resolver socket (descriptors back to the
# baseline) and its RSS is within 1 MiB of the one after a warm-up.
. "$(dirname "$0")/lib.sh"
N=30 SHARED=10

start_shim # silent: what dnsmasq forwards there never comes back
{
	echo "127.0.0.1 cached.sluice.test"
	for i in $(seq 0 "$N"); do echo "127.0.0.1 w$i.sluice.test"; done
} >"$T/hosts"
# the server that replaces the first knows the slow names too
{ cat "$T/hosts"; for i in $(seq 0 "$N"); do echo "127.0.0.1 s$i.slow.sluice.test"; done; } >"$T/hosts2"
{ cat "$T/hosts2"; for i in $(seq 0 "$N"); do echo "127.0.0.1 t$i.slow2.sluice.test"; done; } >"$T/hosts3"
# (a server forwards only the names it does not know itself: one that knew
# s1.slow.sluice.test's A but forwarded its AAAA would leave it hanging)
FWD1="--server=/slow.sluice.test/127.0.0.1#$SHIM_PORT"
FWD2="--server=/slow2.sluice.test/127.0.0.1#$SHIM_PORT"
dnsmasq_at 0 "$T/hosts" 600 first "$FWD1" "$FWD2"
PORT=$DNS_PORT
start_origin
start_sluice "workers 2" "resolver 127.0.0.1:$PORT" "dns_timeout 7s" "upstream_idle_timeout 2s"
read -r fd0 sock0 pipe0 < <(fd_census "$SLUICE_PID")
base=$(nonpipe_fds "$SLUICE_PID")
echo "# baseline: $fd0 fds ($sock0 sockets, $pipe0 pipes)"
rss_slack

# get NAME [TAG]: one request for NAME (/bytes/1000, or GET_PATH) through
# sluice; prints "CODE SECONDS" and keeps the body in $T/body.TAG (TAG:
# NAME by default)
get() {
	curl -s -m 20 -x "$PROXY" -o "$T/body.${2:-$1}" -w '%{http_code} %{time_total}\n' \
		"http://$1:$ORIGIN_PORT${GET_PATH:-/bytes/1000}" 2>&1
}
# lookups PREFIX SUFFIX OUT I: client I resolves PREFIX$I.SUFFIX (clients
# beyond N share PREFIX0.SUFFIX)
lookups() {
	local p=$1 sfx=$2 out=$3 i=$4 name
	name="$p$i.$sfx"
	[ "$i" -le "$N" ] || name="${p}0.$sfx"
	echo "$name $(get "$name" "$out.$i")" >"$T/$out.$i"
}
# verdicts OUT WHAT: every client got 200, or a 502/504 naming DNS; sets
# VERDICTS to how many of each
verdicts() {
	local out=$1 what=$2 i name code secs c200=0 c502=0 c504=0
	for i in $(seq $((N + SHARED))); do
		read -r name code secs <"$T/$out.$i" || fail "$what, client $i: no result"
		case $code in
		200) c200=$((c200 + 1)) ;;
		502 | 504)
			grep -q "^sluice: $code .*DNS" "$T/body.$out.$i" ||
				fail "$what, $name: $code without naming DNS: $(cat "$T/body.$out.$i")"
			[ "$code" = 502 ] && c502=$((c502 + 1)) || c504=$((c504 + 1)) ;;
		*) fail "$what, $name: status $code after $secs s" ;;
		esac
	done
	VERDICTS="$c200 x 200, $c502 x 502, $c504 x 504"
}
# all_resolve PREFIX SUFFIX WHAT: each of the names resolves now (sequential)
all_resolve() {
	local p=$1 sfx=$2 what=$3 i code
	for i in $(seq 0 "$N"); do
		code=$(get "$p$i.$sfx")
		[ "${code%% *}" = 200 ] || fail "$what: $p$i.$sfx: $code $(cat "$T/body.$p$i.$sfx")"
	done
}
# mid_lookup PREFIX SUFFIX: wait until the silent shim has a query for every
# one of the names: every lookup is in flight at the server
mid_lookup() {
	local want=$((N + 1))
	names_at_shim() { [ "$(grep -o "name=$1[0-9]*\.$2" "$SHIM_LOG" | sort -u | wc -l)" -ge "$want" ]; }
	wait_for 10 names_at_shim "$1" "$2" ||
		fail "lookups did not reach the server: $(grep -o "name=$1[0-9]*\.$2" "$SHIM_LOG" | sort -u | wc -l) of $want names"
}
# cached_ok WHAT: 6 requests for a name in every worker's cache: all 200
cached_ok() {
	local k code
	for k in 1 2 3 4 5 6; do
		code=$(get cached.sluice.test)
		[ "${code%% *}" = 200 ] || fail "$1: a request for a cached name: $code $(cat "$T/body.cached.sluice.test")"
	done
}
# kill_server: SIGKILL the DNS server, and wait for it to be gone
kill_server() {
	disown "$DNS_PID" 2>/dev/null # no "Killed" notice from the shell
	kill -9 "$DNS_PID"
	gone() { ! kill -0 "$DNS_PID" 2>/dev/null; }
	wait_for 5 gone || fail "dnsmasq $DNS_PID survived SIGKILL"
	untrack "$DNS_PID"
}
resolver_socks() { ss -Huanp dst "127.0.0.1:$PORT" 2>/dev/null | grep -c "pid=$SLUICE_PID,"; }

# --- warm-up: the same number of lookups, answered, with the control set running -----------
# (cached.sluice.test first, one connection after another: both workers'
# caches get it)
for k in 1 2 3 4 5 6 7 8 9 10; do get cached.sluice.test >/dev/null; done
control_start 4 "$ORIGIN/bytes/30000" 30000
# Slow answers (200 ms) keep all 40 sessions and their buffers alive at
# once, as the clients waiting on a dead server will be: the buffer
# free-lists reach the same size now.
GET_PATH=/slowbody/20000 fan_out $((N + SHARED)) lookups w sluice.test warm
verdicts warm "warm-up"
expect_eq "$VERDICTS" "$((N + SHARED)) x 200, 0 x 502, 0 x 504" "warm-up lookups"
all_resolve w sluice.test "warm-up"
# (the control clients' own connections come and go: at most 4 sessions
# and their origin connections, pooled or not)
wait_for 10 fds_at_most "$SLUICE_PID" $((base + 8)) || fail "after the warm-up: $(nonpipe_fds "$SLUICE_PID") fds, baseline $base"
rss0=$(rss_kb "$SLUICE_PID")
echo "# after the warm-up: RSS $rss0 kB"

# --- round A: killed mid-lookup, restarted at once ------------------------------------------------
t0=$(now_ms)
( fan_out $((N + SHARED)) lookups s slow.sluice.test a ) &
CLIENTS=$!
PIDS+=("$CLIENTS")
mid_lookup s slow.sluice.test
socks_mid=$(resolver_socks)
kill_server
cached_ok "round A, server dead"
dnsmasq_at "$PORT" "$T/hosts2" 600 second "$FWD2"
ok "round A: the server killed with $((N + SHARED)) clients mid-lookup ($socks_mid resolver sockets open), restarted after $(($(now_ms) - t0)) ms"
wait "$CLIENTS"
untrack "$CLIENTS"
verdicts a "round A"
ok "round A: the clients mid-lookup got $VERDICTS ($(($(now_ms) - t0)) ms)"
all_resolve s slow.sluice.test "round A, after the restart"
ok "round A: after the restart all $((N + 1)) names resolve (RSS $(rss_kb "$SLUICE_PID") kB)"

# --- round B: killed mid-lookup, restarted once every client has its answer ----------------------
t0=$(now_ms)
( fan_out $((N + SHARED)) lookups t slow2.sluice.test b ) &
CLIENTS=$!
PIDS+=("$CLIENTS")
mid_lookup t slow2.sluice.test
kill_server
cached_ok "round B, server dead"
# dns_timeout is 7 s: every lookup has ended by 7.5 s (c-ares' last try,
# then sluice's slack), so every client has its answer within 15 s
clients_done() { ! kill -0 "$CLIENTS" 2>/dev/null; }
wait_for 15 clients_done || fail "round B: clients still waiting $(($(now_ms) - t0)) ms after the server died"
wait "$CLIENTS"
untrack "$CLIENTS"
dead_ms=$(($(now_ms) - t0))
verdicts b "round B"
dnsmasq_at "$PORT" "$T/hosts3" 600 third
ok "round B: the server dead for $dead_ms ms, the clients mid-lookup got $VERDICTS"
all_resolve t slow2.sluice.test "round B, after the restart"
ok "round B: after the restart all $((N + 1)) names resolve: the failures were not cached (RSS $(rss_kb "$SLUICE_PID") kB)"

# --- everyone else, and what is left ------------------------------------------------------------
control_stop 3
ok "control clients (literal address): $CONTROL_ROUNDS requests, all 200 and intact; cached name served while the server was dead"
sluice_alive || fail "sluice died"
wait_for 10 fds_at_most "$SLUICE_PID" "$base" ||
	fail "descriptors: $(nonpipe_fds "$SLUICE_PID") (not counting pipes) 10 s after, baseline $base: $(fd_kinds "$SLUICE_PID"); resolver sockets: $(resolver_socks)"
read -r fd1 sock1 pipe1 < <(fd_census "$SLUICE_PID")
expect_eq "$pipe1" "$pipe0" "pipes (no tunnel ran)"
rss1=$(rss_kb "$SLUICE_PID")
echo "# afterwards: $fd1 fds ($sock1 sockets, $pipe1 pipes), RSS $rss1 kB (after the warm-up $rss0 kB)"
# 1 MiB: sessions and buffers come from free-lists the warm-up grew, and the
# 62 new cache entries (under 1 KiB each, per worker) are legitimately kept
[ "$rss1" -le $((rss0 + RSS_SLACK_KB)) ] || fail "RSS $rss1 kB, $rss0 kB after the warm-up: grew by $((rss1 - rss0)) kB"
ok "descriptors back to the baseline ($fd0 -> $fd1), no resolver socket left, RSS $rss0 -> $rss1 kB"
