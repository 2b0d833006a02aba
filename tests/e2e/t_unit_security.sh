#!/usr/bin/env bash
# systemd/sluice.service stays hardened and consistent with what sluice does:
#  - `systemd-analyze security --offline=yes` rates its exposure 2.0 or lower;
#  - `systemd-analyze verify` has nothing to say about it or sluice.socket;
#  - Type=notify with a watchdog, ExecReload sends SIGHUP to the main
#    process, TimeoutStopSec leaves room for the example config's
#    shutdown_timeout, AF_UNIX stays allowed (sd_notify's socket);
#  - each ListenStream of sluice.socket, commented or not, is a listen line
#    of systemd/sluice.conf (sluice refuses a passed socket without one).
#
# verify runs here although PID 1 is not systemd: it loads the units into a
# manager of its own in test mode and needs no running systemd (checked on
# Debian 12, systemd 252).  It does check that each Exec binary exists and
# that each man: page in Documentation= is found by man, so it verifies a
# copy of the units whose sluice path points at the binary under test, with
# MANPATH pointing at the pages in doc/ (laid out as man8/, man5/).
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export LC_ALL=C.UTF-8
command -v systemd-analyze >/dev/null || skip "systemd-analyze missing (package systemd, make deps-test)"
UNIT=systemd/sluice.service
SOCK=systemd/sluice.socket
CONF=systemd/sluice.conf
for f in "$UNIT" "$SOCK" "$CONF"; do [ -f "$f" ] || fail "$f missing"; done

# --- exposure ------------------------------------------------------------------------

systemd-analyze security --offline=yes "$UNIT" >"$T/security" 2>&1 || fail "systemd-analyze security: $(tail -n 5 "$T/security")"
exposure=$(sed -n 's/.*Overall exposure level for sluice\.service: \([0-9][0-9.]*\).*/\1/p' "$T/security")
[ -n "$exposure" ] || fail "no 'Overall exposure level' line: $(tail -n 5 "$T/security")"
awk -v x="$exposure" 'BEGIN { exit !(x + 0 <= 2.0) }' ||
	fail "exposure $exposure is above 2.0: $(grep '✗' "$T/security")"
ok "systemd-analyze security --offline=yes: overall exposure $exposure (at most 2.0)"

# --- verify --------------------------------------------------------------------------

mkdir -p "$T/units" "$T/man/man8" "$T/man/man5"
sed "s|/usr/sbin/sluice|$(readlink -f "$SLUICE")|g" "$UNIT" >"$T/units/sluice.service"
cp "$SOCK" "$T/units/sluice.socket"
cp doc/sluice.8 "$T/man/man8/" && cp doc/sluice.conf.5 "$T/man/man5/" || fail "doc/ lacks the man pages"
MANPATH=$T/man systemd-analyze verify "$T/units/sluice.socket" "$T/units/sluice.service" >"$T/verify" 2>&1
rc=$?
[ "$rc" = 0 ] && [ ! -s "$T/verify" ] || fail "systemd-analyze verify (exit $rc): $(cat "$T/verify")"
ok "systemd-analyze verify: nothing to say about sluice.service and sluice.socket"

# --- the unit and what sluice does ----------------------------------------------------

# key FILE NAME: the value of NAME= (the last, as systemd takes it)
key() { sed -n "s/^$2=//p" "$1" | tail -n1; }
# ms DURATION: a systemd time span or a sluice duration ("40s", "1min 30s",
# "500ms", "2m", a bare number of seconds) in milliseconds
ms() {
	local total=0 tok n unit
	for tok in $1; do
		[[ $tok =~ ^([0-9]+)([a-z]*)$ ]] || { echo "bad duration: $1" >&2; echo -1; return; }
		n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
		case $unit in
		ms | msec) total=$((total + n));;
		"" | s | sec | second | seconds) total=$((total + n * 1000));;
		m | min | minute | minutes) total=$((total + n * 60000));;
		h | hr | hour | hours) total=$((total + n * 3600000));;
		*) echo "bad unit in $1" >&2; echo -1; return;;
		esac
	done
	echo "$total"
}

expect_eq "$(key "$UNIT" Type)" notify "Type= ($UNIT)"
expect_eq "$(key "$UNIT" ExecReload)" '/bin/kill -HUP $MAINPID' "ExecReload= ($UNIT): SIGHUP reloads"
kill_signal=$(key "$UNIT" KillSignal)
[ -z "$kill_signal" ] || [ "$kill_signal" = SIGTERM ] || fail "KillSignal=$kill_signal: sluice drains on SIGTERM"
watchdog=$(ms "$(key "$UNIT" WatchdogSec)")
[ "$watchdog" -gt 0 ] || fail "WatchdogSec= missing or zero in $UNIT"
stop=$(ms "$(key "$UNIT" TimeoutStopSec)")
shutdown=$(sed -n 's/^shutdown_timeout[[:space:]]\{1,\}\([^[:space:]#]*\).*/\1/p' "$CONF" | tail -n1)
[ -n "$shutdown" ] || fail "$CONF has no shutdown_timeout line"
[ "$(ms "$shutdown")" -gt 0 ] || fail "cannot read shutdown_timeout $shutdown"
[ "$stop" -gt "$(ms "$shutdown")" ] ||
	fail "TimeoutStopSec ($(key "$UNIT" TimeoutStopSec)) must be above $CONF's shutdown_timeout ($shutdown)"
# the built-in default too, for a config that leaves it out
[ "$stop" -gt 30000 ] || fail "TimeoutStopSec ($(key "$UNIT" TimeoutStopSec)) must be above shutdown_timeout's default, 30s"
key "$UNIT" RestrictAddressFamilies | grep -qw AF_UNIX || fail "RestrictAddressFamilies= must keep AF_UNIX for sd_notify"
start=$(key "$UNIT" ExecStart)
pre=$(key "$UNIT" ExecStartPre)
expect_eq "$pre" "${start%% *} -t ${start#* }" "ExecStartPre= checks the config ExecStart= runs"
ok "Type=notify, WatchdogSec=$(key "$UNIT" WatchdogSec), ExecReload sends HUP, TimeoutStopSec=$(key "$UNIT" TimeoutStopSec) > shutdown_timeout $shutdown"

# --- the socket unit and the example config --------------------------------------------

expect_eq "$(key "$SOCK" WantedBy)" sockets.target "WantedBy= ($SOCK)"
active=$(sed -n 's/^ListenStream=//p' "$SOCK")
commented=$(sed -n 's/^#[[:space:]]*ListenStream=//p' "$SOCK")
[ -n "$active" ] || fail "$SOCK has no ListenStream="
for a in $active; do
	grep -Eq "^listen[[:space:]]+${a//./\\.}([[:space:]]|$)" "$CONF" ||
		fail "$SOCK listens on $a, but $CONF has no 'listen $a' line: sluice would refuse the socket"
done
for a in $commented; do
	grep -Eq "^#[[:space:]]*listen[[:space:]]+${a//./\\.}([[:space:]]|$)" "$CONF" ||
		fail "$SOCK's commented ListenStream=$a has no matching (commented) listen line in $CONF"
done
ok "ListenStream $(echo $active) is a listen line of $CONF; commented ones $(echo $commented) too"
