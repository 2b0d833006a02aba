# tinyproxy as a benchmark peer. Sourced by bench scripts running bash with
# set -euo pipefail, which provide RUN (the run folder, mode 755, removed by
# them), the PIDS array (killed by PID and waited for at exit) and the repo
# as the current directory.
#   start_tinyproxy PORT CONNECT_PORT...
# starts tinyproxy -d (foreground; one process, a thread per client) on
# 127.0.0.1:PORT with CONNECT allowed to the given ports, its files in
# $RUN/tinyproxy; appends its PID to PIDS and sets TINYPROXY_PIDS (the
# PIDs whose summed RSS is tinyproxy's memory). Returns 0 once it answers a
# request, 1 with its log on stderr if it does not within about 20 s.
# tinyproxy 1.11 has no keep-alive: it closes each client connection after
# one response, without saying Connection: close (wrk counts one read error
# per request), and always asks the origin with Connection: close. It
# answers CONNECT with "HTTP/1.0 200 Connection established".
start_tinyproxy() {
	if [ $# -lt 2 ]; then
		echo "usage: start_tinyproxy PORT CONNECT_PORT..." >&2
		return 1
	fi
	local port=$1; shift
	local dir=$RUN/tinyproxy pid head end lines
	mkdir -p "$dir"
	chown tinyproxy:tinyproxy "$dir" # it drops to tinyproxy after binding
	lines=$(printf 'ConnectPort %s\\n' "$@")
	sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" -e "s#^@CONNECT_PORTS@\$#${lines%\\n}#" \
		bench/peers/tinyproxy.conf >"$dir/tinyproxy.conf"
	tinyproxy -d -c "$dir/tinyproxy.conf" >"$dir/stderr" 2>&1 & pid=$!
	PIDS+=($pid)
	TINYPROXY_PIDS=$pid
	end=$((SECONDS + 20))
	for _ in $(seq 400); do
		# The stat host is answered by tinyproxy itself: no origin, no lookup.
		head=$(curl -s -m 2 -o /dev/null -D - -x "http://127.0.0.1:$port" http://tinyproxy.stats/ || true)
		[[ $head == "HTTP/1.1 200"*"Server: tinyproxy"* ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.05
	done
	echo "tinyproxy did not start on 127.0.0.1:$port:" >&2
	cat "$dir/stderr" "$dir/tinyproxy.log" >&2 2>/dev/null || true
	return 1
}
