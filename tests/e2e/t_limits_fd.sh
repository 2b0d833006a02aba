# With few descriptors, sluice plans within them (max_connections lowered
# to what RLIMIT_NOFILE allows, with a warning), the acceptor pauses at that
# limit instead of spinning or meeting EMFILE, and serves again once
# clients leave.
. "$(dirname "$0")/lib.sh"
command -v prlimit >/dev/null || skip "prlimit missing"
start_origin
# A wrapper keeps lib.sh's start_sluice: sluice gets a 48-fd hard limit.
cat >"$T/sluice-lowfd" <<WRAP
#!/bin/sh
exec prlimit --nofile=48:48 "$SLUICE" "\$@"
WRAP
chmod +x "$T/sluice-lowfd"
SLUICE="$T/sluice-lowfd" start_sluice "workers 1" "header_timeout 30s"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SLUICE_PID/stat"; }
open_fds() { ls "/proc/$SLUICE_PID/fd" | wc -l; }
# What sluice holds before any client depends on what it inherited (make's
# jobserver, a CI runner's descriptors): count accepted sockets from there.
base=$(open_fds)

fds=()
for i in $(seq 60); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$SLUICE_PORT" || fail "connect $i"
	fds+=("$fd")
done
grep -q "max_connections 10000 lowered to" "$T/sluice.err" || fail "no warning that max_connections was lowered"
took_ten() { [ "$(open_fds)" -ge $((base + 10)) ]; } # (wait_for evaluates its arguments once)
wait_for 10 took_ten || fail "sluice did not take 10 connections ($base fds before, $(open_fds) now)"
! grep -q "Too many open files" "$T/sluice.err" || fail "accept met EMFILE: $(grep -m1 'Too many' "$T/sluice.err")"
ok "max_connections lowered to fit 48 fds, no EMFILE"

before=$(cpu_ticks)
# The subject of this check is time passing: sluice must stay idle meanwhile.
sleep 2
after=$(cpu_ticks)
[ $((after - before)) -lt 40 ] || fail "sluice used $((after - before)) ticks in 2 s at the fd limit: spinning"
ok "no spinning at the limit ($((after - before)) ticks in 2 s)"

for fd in "${fds[@]}"; do exec {fd}>&-; done
wait_for 10 curl -sf -m 2 -x "$PROXY" "$ORIGIN/bytes/10" -o /dev/null || fail "not serving after fds were freed"
ok "serves again once fds are free"
sluice_alive || fail "sluice died"
