# Connection limits.  (1) max_connections 5: with 5 kept-alive client
# connections held idle, a 6th client is not served; once one of the 5
# closes it is; the held ones keep working; sluice does not spin while at
# the limit.  (2) Out of file descriptors (RLIMIT_NOFILE lowered with
# prlimit): clients beyond what fits wait instead of being refused, sluice
# does not spin, and service resumes when connections close.
. "$(dirname "$0")/lib.sh"

# cpu_ticks PID: user+system CPU time of PID in clock ticks.
cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat") || return 1
	stat=${stat##*) } # fields after "(comm) "; utime, stime are 14, 15 overall
	set -- $stat
	echo $(( ${12} + ${13} ))
}
HZ=$(getconf CLK_TCK)
open_fds() { ls "/proc/$SLUICE_PID/fd" | wc -l; }
fds_used_up() { [ "$(open_fds)" -ge 64 ]; }
# bg_curl OUT URL: curl in the background (BG_PID), its status code to OUT.
# The child drops the held connections first: an inherited copy would keep
# them open when the test closes its own.
bg_curl() {
	: >"$1"
	(
		for fd in "${HELD[@]}"; do exec {fd}>&-; done
		exec curl -s -o /dev/null -w '%{http_code}' --max-time 20 -x "$PROXY" "$2" >"$1"
	) &
	BG_PID=$!
	PIDS+=("$BG_PID")
}
# request FD PATH: one keep-alive GET on FD, response read; sets STATUS.
request() {
	local fd=$1 path=$2 line len=0 body
	STATUS=
	printf 'GET %s%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n' "$ORIGIN" "$path" "$ORIGIN_PORT" >&"$fd" || return 1
	IFS= read -r -t 5 -u "$fd" line || return 1
	STATUS=${line#HTTP/1.1 }
	STATUS=${STATUS%% *}
	while IFS= read -r -t 5 -u "$fd" line; do
		line=${line%$'\r'}
		[ -z "$line" ] && break
		case ${line,,} in content-length:*) len=${line#*:}; len=${len// /};; esac
	done
	[ "$len" -eq 0 ] || IFS= read -r -d '' -t 5 -N "$len" -u "$fd" body
}
# not_spinning WHAT T0_TICKS T0_MS: sluice used under 25% of one CPU since then.
not_spinning() {
	local ticks ms
	ticks=$(($(cpu_ticks "$SLUICE_PID") - $2))
	ms=$(($(now_ms) - $3))
	[ $((ticks * 1000 / HZ)) -le $((ms / 4)) ] \
		|| fail "$1: sluice used $((ticks * 1000 / HZ)) ms of CPU in $ms ms (spinning?)"
	echo "# $1: sluice used $((ticks * 1000 / HZ)) ms of CPU in $ms ms"
}

start_origin

# --- (1) max_connections 5 ----------------------------------------------------------------
start_sluice "max_connections 5"
HELD=()
for i in 1 2 3 4 5; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect $i"
	request "$fd" /bytes/10 || fail "held connection $i: no response"
	expect_eq "$STATUS" 200 "held connection $i"
	HELD+=("$fd")
done
ok "5 kept-alive connections served and held"

t0=$(now_ms)
ticks0=$(cpu_ticks "$SLUICE_PID")
bg_curl "$T/sixth" "$ORIGIN/bytes/10"
SIXTH=$BG_PID
# the subject: 2 s in which the 6th must stay unanswered
wait_for 2 test -s "$T/sixth" && fail "6th client served ($(cat "$T/sixth")) while 5 connections were held (max_connections 5)"
not_spinning "at max_connections" "$ticks0" "$t0"
ok "6th client not served while 5 are held"

t=$(now_ms)
fd=${HELD[0]}
exec {fd}>&-
HELD=("${HELD[@]:1}")
wait_for 5 test -s "$T/sixth" || fail "6th client not served within 5 s after a held connection closed"
wait "$SIXTH"
untrack "$SIXTH"
expect_eq "$(cat "$T/sixth")" 200 "6th client once a slot is free"
ok "6th client served $(($(now_ms) - t)) ms after a held connection closed"

for fd in "${HELD[@]}"; do
	request "$fd" /bytes/20 || fail "a held connection stopped working"
	expect_eq "$STATUS" 200 "request on a held connection"
done
for fd in "${HELD[@]}"; do exec {fd}>&-; done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/10")
expect_eq "$code" 200 "request after all held connections closed"
ok "held connections keep working; service normal after they close"
stop_sluice
untrack "$SLUICE_PID"

# --- (2) out of file descriptors ------------------------------------------------------------
command -v prlimit >/dev/null || skip "prlimit missing (part 2)"
start_sluice
prlimit --pid "$SLUICE_PID" --nofile=64:64 || skip "prlimit cannot lower sluice's RLIMIT_NOFILE"
nfd=$(open_fds)
[ "$nfd" -lt 50 ] || skip "sluice already has $nfd descriptors open"
# Fill every descriptor sluice has left (and some) with idle connections.
HELD=()
for i in $(seq $((64 - nfd + 10))); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect $i"
	HELD+=("$fd")
done
wait_for 5 fds_used_up || fail "sluice did not use up its descriptors ($(open_fds) open)"
t0=$(now_ms)
ticks0=$(cpu_ticks "$SLUICE_PID")
bg_curl "$T/late" "$ORIGIN/bytes/10"
LATE=$BG_PID
wait_for 2 test -s "$T/late" # the subject: 2 s out of descriptors
sluice_alive || fail "sluice died when out of descriptors"
not_spinning "out of descriptors" "$ticks0" "$t0"
[ "$(wc -l <"$T/sluice.err")" -lt 50 ] || fail "error log flooded while out of descriptors: $(wc -l <"$T/sluice.err") lines"
for fd in "${HELD[@]}"; do exec {fd}>&-; done
HELD=()
wait_for 10 test -s "$T/late" || fail "client not served within 10 s after descriptors were freed"
wait "$LATE"
untrack "$LATE"
expect_eq "$(cat "$T/late")" 200 "client waiting while sluice was out of descriptors"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "$PROXY" "$ORIGIN/bytes/10")
expect_eq "$code" 200 "request after descriptors were freed"
ok "out of descriptors: no spinning, service resumes"
