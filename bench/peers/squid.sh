# squid as a benchmark peer. Sourced by bench scripts running bash with
# set -euo pipefail, which provide RUN (the run folder, mode 755, removed by
# them), the PIDS array (killed by PID and waited for at exit) and the repo
# as the current directory.
#   start_squid PORT CONNECT_PORT...
# starts squid -N (one process: no daemon, no SMP kids) on 127.0.0.1:PORT
# with CONNECT allowed to the given ports, its files in $RUN/squid; appends
# its PID to PIDS and sets SQUID_PIDS (the PIDs whose summed RSS is squid's
# memory). Returns 0 once it answers a request, 1 with its log on stderr
# if it does not within about 20 s. It starts in about 0.1 s and exits
# about 1 s after SIGTERM.
start_squid() {
	if [ $# -lt 2 ]; then
		echo "usage: start_squid PORT CONNECT_PORT..." >&2
		return 1
	fi
	local port=$1; shift
	local dir=$RUN/squid pid head end
	mkdir -p "$dir/shm"
	chown proxy:proxy "$dir" "$dir/shm" # squid drops to proxy after binding
	sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" -e "s#@CONNECT_PORTS@#$*#g" \
		bench/peers/squid.conf >"$dir/squid.conf"
	# Even with -N squid creates shared memory segments with fixed names
	# (/dev/shm/squid-cf__*.shm): give it a /dev/shm of its own in its
	# folder, in a mount namespace of its own. unshare and sh exec, so $!
	# is squid's PID.
	unshare -m --propagation private sh -c 'mount --bind "$1" /dev/shm && exec squid -N -f "$2"' \
		sh "$dir/shm" "$dir/squid.conf" >"$dir/stderr" 2>&1 & pid=$!
	PIDS+=($pid)
	SQUID_PIDS=$pid
	end=$((SECONDS + 20))
	for _ in $(seq 400); do
		# An origin-form request: squid answers it itself (400, an error
		# page), which proves it serves without touching any origin.
		head=$(curl -s -m 2 -o /dev/null -D - "http://127.0.0.1:$port/" || true)
		[[ $head == *"Server: squid"* ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.05
	done
	echo "squid did not start on 127.0.0.1:$port:" >&2
	cat "$dir/stderr" "$dir/cache.log" >&2 2>/dev/null || true
	return 1
}
