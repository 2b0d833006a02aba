#!/usr/bin/env bash
# systemd/sluice.logrotate, run for real: the shipped file with its paths
# pointed at this test's logs and its postrotate's systemctl replaced by
# `kill -USR1 PID` (PID 1 is not systemd here) is given to `logrotate -f`
# several times while clients send requests through sluice, each request
# with a URL of its own.  Afterwards every request the clients made is in
# exactly one access log line across the current and the rotated (and
# compressed) files: none lost at a reopen, none written twice, no line cut
# between two files; and sluice reopened its logs once per rotation.
#
# sluice is started here rather than by start_sluice: both logs must be
# files in the rotated directory.  Its stderr still goes to $T/sluice.err,
# where lib.sh looks for sanitizer reports.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
command -v logrotate >/dev/null || skip "logrotate missing (make deps-test installs it)"
SHIPPED=$(dirname "$0")/../../systemd/sluice.logrotate
[ -f "$SHIPPED" ] || fail "systemd/sluice.logrotate missing"
CLIENTS=4          # curl clients at once
BATCH=40           # requests per client connection (curl URL globbing)
ROTATIONS=5

# --- the shipped file -----------------------------------------------------------------

for d in daily "rotate 14" compress delaycompress missingok notifempty sharedscripts postrotate endscript; do
	grep -Eq "^[[:space:]]*$d\$" "$SHIPPED" || fail "systemd/sluice.logrotate lacks '$d'"
done
grep -q '^/var/log/sluice/\*\.log {$' "$SHIPPED" || fail "systemd/sluice.logrotate does not rotate /var/log/sluice/*.log"
grep -q 'systemctl kill --kill-whom=main --signal=USR1 sluice\.service' "$SHIPPED" ||
	fail "systemd/sluice.logrotate's postrotate does not send SIGUSR1 to sluice.service's main process"
logrotate -d -s "$T/state.check" "$SHIPPED" >"$T/logrotate.check" 2>&1 ||
	fail "logrotate -d refuses systemd/sluice.logrotate: $(cat "$T/logrotate.check")"
ok "systemd/sluice.logrotate: daily, 14 kept, compressed after a delay, SIGUSR1 via systemctl; logrotate -d takes it"

# --- sluice with file logs -------------------------------------------------------------

start_origin
L=$T/logs
mkdir "$L"
ACCESS=$L/access.log
ERRLOG=$L/error.log
start_sluice_files "$ACCESS" "$ERRLOG"

# The test's logrotate config: the shipped one, with this test's directory
# for /var/log/sluice and the signal sent straight to this sluice.
awk -v dir="$L/" -v pid="$SLUICE_PID" '
	{ gsub("/var/log/sluice/", dir) }
	/^[[:space:]]*postrotate$/ { print; print "\t\tkill -USR1 " pid; skip = 1; next }
	/^[[:space:]]*endscript$/ { skip = 0 }
	!skip { print }' "$SHIPPED" >"$T/logrotate.conf"
grep -q "kill -USR1 $SLUICE_PID" "$T/logrotate.conf" || fail "could not derive the test's logrotate config"
grep -q "systemctl" "$T/logrotate.conf" && fail "the test's logrotate config still calls systemctl"

# --- load, with rotations under it ------------------------------------------------------

# client C: batches of BATCH requests on one keep-alive connection, each URL
# unique (c=C, b=batch, i=request), until $T/stop (or 300 batches, 60 s);
# every answer's status and URL go to $T/client.C
client() {
	local c=$1 b end=$(($(date +%s) + 60))
	for b in $(seq 300); do
		[ -e "$T/stop" ] && break
		[ "$(date +%s)" -lt "$end" ] || break
		curl -s -o /dev/null --max-time 20 -x "$PROXY" -w '%{http_code} %{url_effective}\n' \
			"$ORIGIN/bytes/32?c=$c&b=$b&i=[1-$BATCH]" >>"$T/client.$c"
	done
}
CLIENT_PIDS=()
for c in $(seq "$CLIENTS"); do
	: >"$T/client.$c"
	client "$c" &
	CLIENT_PIDS+=($!)
	PIDS+=($!)
done

has() { grep -q -- "$1" "$2" 2>/dev/null; }
nonempty() { [ -s "$1" ]; }
for r in $(seq "$ROTATIONS"); do
	# some traffic in the current file first, so that each rotation moves lines
	wait_for 10 nonempty "$ACCESS" || fail "rotation $r: no requests reached $ACCESS"
	logrotate -f -s "$T/state" "$T/logrotate.conf" >"$T/logrotate.out" 2>&1 ||
		fail "rotation $r: logrotate failed: $(cat "$T/logrotate.out")"
	# the new error log is sluice's own once it says so
	wait_for 10 has "logs reopened" "$ERRLOG" || fail "rotation $r: sluice did not reopen its logs"
done
touch "$T/stop"
for p in "${CLIENT_PIDS[@]}"; do
	wait "$p"
	untrack "$p"
done
sluice_alive || fail "sluice died under rotation"
ok "$ROTATIONS rotations by logrotate -f under load from $CLIENTS clients"

# --- every request logged exactly once ------------------------------------------------------

cat "$T"/client.* >"$T/answers"
sent=$(wc -l <"$T/answers")
[ "$sent" -ge $((CLIENTS * BATCH * 2)) ] || fail "only $sent requests were made"
bad=$(grep -vc '^200 ' "$T/answers")
[ "$bad" = 0 ] || fail "$bad requests were not answered 200: $(grep -v '^200 ' "$T/answers" | head -n 5)"
cut -d' ' -f2 "$T/answers" | sort >"$T/urls.sent"
[ -z "$(uniq -d "$T/urls.sent")" ] || fail "the clients sent some URL twice (test bug)"

# logged: URLs (the squid format's 7th field) of test requests across all
# the access logs, current, rotated and compressed
logged() { zcat -f "$L"/access.log* | awk -v o="$ORIGIN/bytes/32?" 'index($7, o) == 1 { print $7 }'; }
logged_count() { logged | wc -l; }
count_is() { [ "$(logged_count)" -ge "$1" ]; }
# sluice flushes each worker's lines at least once a second
wait_for 10 count_is "$sent" || fail "only $(logged_count) of $sent requests logged after 10 s"
logged | sort >"$T/urls.logged"
dups=$(uniq -d "$T/urls.logged" | head -n 5)
[ -z "$dups" ] || fail "logged twice: $dups"
lost=$(comm -23 "$T/urls.sent" "$T/urls.logged" | head -n 5)
[ -z "$lost" ] || fail "requests missing from the logs: $lost"
extra=$(comm -13 "$T/urls.sent" "$T/urls.logged" | head -n 5)
[ -z "$extra" ] || fail "logged but never answered to a client: $extra"
# no line cut across two files: each is a whole squid-format line
cut=$(zcat -f "$L"/access.log* | awk '$4 != "TCP_MISS/200" || NF < 10' | head -n 3)
[ -z "$cut" ] || fail "malformed access log lines: $cut"
files=$(cd "$L" && ls access.log*)
ls "$L"/access.log.*.gz >/dev/null 2>&1 || fail "no compressed access log after $ROTATIONS rotations: $(ls "$L")"
ok "all $sent requests logged exactly once across $(echo "$files" | wc -l) access log files: $(echo $files)"

reopens=$(zcat -f "$L"/error.log* | grep -c "logs reopened")
expect_eq "$reopens" "$ROTATIONS" "'logs reopened' lines across the error logs (one SIGUSR1 per rotation: sharedscripts)"
ok "one reopen per rotation"
