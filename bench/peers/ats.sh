# Apache Traffic Server (Debian package trafficserver) as a plain forward
# proxy for the benchmarks. Sourced by a bench script (set -euo pipefail)
# that provides RUN (its run folder), the array PIDS (killed by PID at the
# end) and the repo as current directory.
#   start_ats PORT CONNECT_PORT...
# starts traffic_server on 127.0.0.1:PORT allowing CONNECT to the given
# ports, sets ATS_PIDS (the processes whose RSS is Traffic Server's memory)
# and returns 0 once it answers, or 1 with its logs on stderr after ~30 s.
# Everything it writes lives in $RUN/ats (configs from bench/peers/ats/,
# logs in $RUN/ats/log); it runs as the caller (root), starts in well under
# a second and takes about one second to exit after SIGTERM.
# One process, traffic_server; threads: TS_MAIN, 2 ET_NET (one per CPU), 1
# accept, 2 ET_TASK, 2 log threads. It sends DNS queries to 127.0.0.1:53 only
# (its own resolver); run it where libc resolves from files only, as the
# bench does, since it reverse-resolves the host's addresses at start-up.
start_ats() {
	local port=$1 ats=$RUN/ats pid head f end
	shift
	mkdir -p "$ats/etc" "$ats/var" "$ats/run" "$ats/log" "$ats/cache"
	sed "s#@ATS@#$ats#g" bench/peers/ats/runroot.yaml >"$ats/runroot.yaml"
	sed -e "s#@ATS@#$ats#g" -e "s#@PORT@#$port#g" -e "s#@CONNECT_PORTS@#$*#g" \
		bench/peers/ats/records.config >"$ats/etc/records.config"
	cp bench/peers/ats/ip_allow.yaml bench/peers/ats/logging.yaml "$ats/etc/"
	# No cache storage: the cache stays disabled. The other files are empty
	# so that Traffic Server does not warn about their absence.
	for f in storage.config remap.config plugin.config cache.config parent.config \
		volume.config ssl_multicert.config; do
		: >"$ats/etc/$f"
	done
	echo "sni: []" >"$ats/etc/sni.yaml"
	echo "nameserver 127.0.0.1" >"$ats/etc/resolv.conf"
	traffic_server --run-root="$ats/runroot.yaml" >"$ats/log/traffic.out" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	ATS_PIDS=$pid
	# Ready once it answers a request: an HTTP/1.0 one without a Host header,
	# which it refuses at once with a 400 of its own, contacting nobody.
	end=$((SECONDS + 30))
	for _ in $(seq 600); do
		head=$(curl -s -m 2 --http1.0 -H 'Host:' -o /dev/null -D - "http://127.0.0.1:$port/" || true)
		[[ $head == *"Server: ATS/"* ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		# It stays up without its port when the bind fails: give up at once.
		grep -qs "unable to listen on port" "$ats/log/diags.log" && break
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.05
	done
	echo "traffic_server did not answer on 127.0.0.1:$port; its logs:" >&2
	for f in "$ats"/log/*; do
		[ -f "$f" ] && { echo "== $f" >&2; tail -n 40 "$f" >&2; }
	done
	return 1
}
