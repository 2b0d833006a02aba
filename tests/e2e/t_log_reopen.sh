# SIGUSR1 reopens both logs, as logrotate's postrotate expects: after the
# files are renamed and the signal sent, new lines go to new files at the
# configured paths, old lines stay in the renamed ones.  A reopen that fails
# (directory gone, a directory in the way) keeps the old files, says why in
# the error log, and sluice goes on serving.
#
# (start_sluice_files: the error log must be a file, not stderr.)
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

start_origin
A=$T/alog             # the access log's own directory, removed in part 3
ACCESS=$A/access.log
ERRLOG=$T/error.log
mkdir "$A"
start_sluice_files "$ACCESS" "$ERRLOG"

# get N: a request through sluice for /bytes/N, which must succeed;
# line N: the pattern of its access log line
get() { curl -s -f -o /dev/null --max-time 5 -x "$PROXY" "$ORIGIN/bytes/$1" || fail "request /bytes/$1 failed"; }
line() { echo " GET $ORIGIN/bytes/$1 "; }
has() { grep -q -- "$1" "$2" 2>/dev/null; }
show() { local f; for f in "$@"; do echo "--- $f"; cat "$f" 2>/dev/null; done; }

# --- 1. before the rotation ----------------------------------------------------------

get 1001
wait_for 5 has "$(line 1001)" "$ACCESS" || fail "access log never got the first request: $(show "$ACCESS")"
ok "first request logged in $ACCESS"

# --- 2. rotate: rename both, signal, new files appear --------------------------------

mv "$ACCESS" "$ACCESS.1"
mv "$ERRLOG" "$ERRLOG.1"
kill -USR1 "$SLUICE_PID"
wait_for 5 test -f "$ACCESS" || fail "no new access log after SIGUSR1: $(show "$ERRLOG.1")"
wait_for 5 test -f "$ERRLOG" || fail "no new error log after SIGUSR1: $(show "$ERRLOG.1")"
wait_for 5 has "logs reopened" "$ERRLOG" || fail "new error log lacks 'logs reopened': $(show "$ERRLOG" "$ERRLOG.1")"
has "logs reopened" "$ERRLOG.1" && fail "'logs reopened' went to the renamed error log"
ok "SIGUSR1 created new log files; 'logs reopened' is in the new error log"

get 1002
wait_for 5 has "$(line 1002)" "$ACCESS" || fail "new access log lacks the new request: $(show "$ACCESS" "$ACCESS.1")"
has "$(line 1001)" "$ACCESS" && fail "the old request is in the new access log: $(show "$ACCESS")"
has "$(line 1001)" "$ACCESS.1" || fail "the renamed access log lost the old request: $(show "$ACCESS.1")"
has "$(line 1002)" "$ACCESS.1" && fail "the new request went to the renamed access log: $(show "$ACCESS.1")"
ok "new request in the new access log only, old one in the renamed log only"

# --- 3. a reopen that fails keeps the old files ---------------------------------------

# The access log's directory is gone (ENOENT) and a directory stands where
# the error log was (EISDIR; root ignores permission bits, so no chmod).
# The complaint goes to the error log still open: the renamed one.
rm -rf "$A"
mv "$ERRLOG" "$ERRLOG.2"
mkdir "$ERRLOG"
kill -USR1 "$SLUICE_PID"
wait_for 5 has "access_log $ACCESS: No such file or directory" "$ERRLOG.2" ||
	fail "error log does not name the access log's failure: $(show "$ERRLOG.2")"
has "error_log $ERRLOG: Is a directory" "$ERRLOG.2" ||
	fail "error log does not name its own failure: $(show "$ERRLOG.2")"
sluice_alive || fail "sluice died on a failed reopen"
get 1003
sluice_alive || fail "sluice died after a failed reopen"
ok "failed reopen: sluice serves on, the error log names both paths and causes"

# --- 4. once the paths are usable again, the next SIGUSR1 takes them -----------------

rmdir "$ERRLOG"
mkdir "$A"
kill -USR1 "$SLUICE_PID"
wait_for 5 has "logs reopened" "$ERRLOG" || fail "no 'logs reopened' after the paths came back: $(show "$ERRLOG" "$ERRLOG.2")"
get 1004
wait_for 5 has "$(line 1004)" "$ACCESS" || fail "access log not back at $ACCESS: $(show "$ACCESS")"
ok "next SIGUSR1 after the failure reopens both logs"
