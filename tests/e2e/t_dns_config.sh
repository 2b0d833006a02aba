# `sluice -t` refuses every resolver and dns_* value the daemon would
# refuse, naming the file, and accepts what the daemon runs with: each value
# below goes through both.  The resolver list is read as c-ares reads it:
# IPv4, IPv6, [IPv6], each with an optional :PORT in the forms c-ares takes
# (IPv4:PORT, [IPv6]:PORT), comma-separated.  Last, a start-up that fails
# (the acceptor thread cannot start) exits non-zero.
. "$(dirname "$0")/lib.sh"

# conf FILE LINES...: a config listening on a kernel-chosen loopback port
conf() {
	local f=$1 line
	shift
	{
		echo "listen 127.0.0.1:0"
		echo "workers 1"
		echo "access_log off"
		echo "error_log stderr"
		for line in "$@"; do echo "$line"; done
	} >"$f"
}

# daemon FILE [ENV...]: run sluice on FILE; prints "running" once it
# is running (then stops it), or "exit N" when it stops by itself first.
daemon() {
	local f=$1 pid i
	shift
	: >"$T/daemon.err" # before it starts: an old run's "running with" must not count
	env "$@" "$SLUICE" -c "$f" 2>>"$T/daemon.err" &
	pid=$!
	for i in $(seq 100); do
		if grep -q "running with" "$T/daemon.err"; then
			kill "$pid"; wait "$pid" 2>/dev/null
			echo running
			return
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			echo "exit $?"
			return
		fi
		sleep 0.05
	done
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	echo hung
}

# refused LINE: -t fails naming the file, and the daemon exits non-zero.
refused() {
	conf "$T/bad.conf" "$1"
	"$SLUICE" -t -c "$T/bad.conf" >"$T/t.out" 2>&1 && fail "-t accepted '$1': $(cat "$T/t.out")"
	grep -q "bad.conf" "$T/t.out" || fail "-t refused '$1' without naming the file: $(cat "$T/t.out")"
	local got
	got=$(daemon "$T/bad.conf")
	case $got in
	"exit 0" | running | hung) fail "-t refuses '$1' but the daemon: $got";;
	esac
	echo "# refused: $1: $(tr '\n' ' ' <"$T/t.out")"
}

# accepted LINE: -t says ok, and the daemon starts with it.
accepted() {
	conf "$T/good.conf" "$1"
	"$SLUICE" -t -c "$T/good.conf" >"$T/t.out" 2>&1 || fail "-t refused '$1': $(cat "$T/t.out")"
	local got
	got=$(daemon "$T/good.conf")
	[ "$got" = running ] || fail "-t accepts '$1' but the daemon: $got ($(cat "$T/daemon.err"))"
}

for v in not-an-address 127.0.0.1:0 127.0.0.1:65536 127.0.0.1: 127.0.0.1:53:53 127.0.0.1:x \
	127.0.0.256 1.2.3 '[::1' '::1]' '[127.0.0.1]:53' '[::1]:' '[::1]:0' 'fe80::1%lo' \
	127.0.0.1,,127.0.0.2 127.0.0.1, ,127.0.0.1 \
	127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9; do
	refused "resolver $v"
done
ok "-t and the daemon refuse bad resolver lists"
for v in 127.0.0.1 127.0.0.1:5353 ::1 '[::1]' '[::1]:5353' '127.0.0.1:53,[::1]:53,::2,[::3]' \
	127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8; do
	accepted "resolver $v"
done
ok "-t and the daemon accept good resolver lists"

refused "dns_negative_ttl 4h"
refused "dns_cache_size 2000000"
refused "dns_timeout 0"
accepted "dns_negative_ttl 3h"
accepted "dns_cache_size 0"
accepted "dns_cache_size 1048576"
accepted "dns_timeout 50ms"
ok "-t and the daemon agree on dns_negative_ttl, dns_cache_size and dns_timeout"

"$SLUICE" -t -r not-an-address >"$T/t.out" 2>&1 && fail "-t -r not-an-address accepted: $(cat "$T/t.out")"
grep -q "resolver" "$T/t.out" || fail "-t -r not-an-address: the message does not name the resolver: $(cat "$T/t.out")"
ok "-r is checked like the resolver directive ($(cat "$T/t.out"))"

# --- a start-up failure exits non-zero ---------------------------------------------------------------
# pthread_create fails after FAIL_THREADS_AFTER threads (one worker, then
# the acceptor).  A sanitizer runtime must come first in the process, so
# there the part is skipped.
if ldd "$SLUICE" 2>/dev/null | grep -qE 'lib(a|t)san'; then
	echo "# sanitizer build: the LD_PRELOAD part is skipped"
elif ! command -v cc >/dev/null; then
	echo "# no cc: the LD_PRELOAD part is skipped"
else
	cat >"$T/nothread.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	static int calls;
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	const char *after = getenv("FAIL_THREADS_AFTER");

	if (after && ++calls > atoi(after))
		return EAGAIN;
	*(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
	return real(t, a, fn, arg);
}
EOF
	cc -shared -fPIC -o "$T/nothread.so" "$T/nothread.c" -ldl || fail "cannot build the pthread_create stand-in"
	conf "$T/good.conf"
	got=$(daemon "$T/good.conf" LD_PRELOAD="$T/nothread.so" FAIL_THREADS_AFTER=1)
	grep -q "acceptor: pthread_create" "$T/daemon.err" || fail "the acceptor did start: $got ($(cat "$T/daemon.err"))"
	expect_eq "$got" "exit 1" "exit status when the acceptor thread cannot start"
	got=$(daemon "$T/good.conf" LD_PRELOAD="$T/nothread.so" FAIL_THREADS_AFTER=0)
	grep -q "worker 0: pthread_create" "$T/daemon.err" || fail "the worker did start: $got ($(cat "$T/daemon.err"))"
	expect_eq "$got" "exit 1" "exit status when a worker thread cannot start"
	ok "start-up failures exit 1"
fi
