# Real parent proxies (squid, tinyproxy) for the end-to-end tests; a test
# sources this file after lib.sh.
#
# As with lib.sh's helpers, each parent is a foreground child of the test,
# recorded in PIDS (so cleanup stops it), on a free loopback port, with every
# file it writes inside $T; every wait is a bounded poll.
#
# Names: the parents never use the machine's resolver (its server must not
# be reached from tests).  They ask a private dnsmasq on 127.X.Y.Z port 53
# (squid's dns_nameservers and glibc's resolv.conf take no port, hence port
# 53 on an address of its own, which needs root), answering from
# $PARENT_HOSTS ("IP NAME" lines; write it, or point it at a file of the
# test's, before the first start_squid or start_tinyproxy) and NXDOMAIN for
# every other name, at once.  Its queries are logged in $PARENT_DNS_LOG.
#
#   start_squid TAG [auth]   SQUID_PORT, SQUID_PID, SQUID_LOG
#   start_tinyproxy TAG      TINYPROXY_PORT, TINYPROXY_PID, TINYPROXY_LOG
#   stop_squid TAG / stop_tinyproxy TAG
#   squid_port TAG / tinyproxy_port TAG
#   squid_requests TAG / squid_conns TAG
#   tinyproxy_requests TAG / tinyproxy_conns TAG
#   parent_dns_queries NAME, parent_count_is N CMD...
#
# TAG names one instance (letters, digits, '-', '_'), so that a test can run
# several; the SQUID_* and TINYPROXY_* variables describe the last one
# started, the TAG helpers any of them.

PARENT_HOSTS=${PARENT_HOSTS:-$T/parents.hosts}
PARENT_USER=parentuser   # the login start_squid TAG auth accepts
PARENT_PASS=parentpass
PARENT_DNS_ADDR=
PARENT_DNS_PID=
PARENT_DNS_LOG="$T/parents-dns.log"

# At exit, the squids get SIGKILL before lib.sh's cleanup sends everything
# SIGTERM, which squid would take about 2 s to obey (see stop_squid), and
# cleanup would wait for.  Run ahead of whatever the EXIT trap is now.
PARENT_SQUID_PIDS=()
_parents_exit() {
	local pid
	for pid in "${PARENT_SQUID_PIDS[@]}"; do
		disown "$pid" 2>/dev/null   # no "Killed" line from bash
		kill -9 "$pid" 2>/dev/null
	done
}
_parents_trap() {
	eval "set -- $(trap -p EXIT)"   # trap -- 'COMMANDS' EXIT
	trap "_parents_exit; ${3:-}" EXIT
}
_parents_trap

# _parent_tag TAG: refuse a tag that would not make a file name (or a squid
# service name, see start_squid)
_parent_tag() {
	case $1 in
	'' | *[!A-Za-z0-9_-]*) fail "parent tag '$1': use letters, digits, '-' and '_'";;
	esac
}

# _parent_port: a random port for a parent to try.  Below the kernel's
# ephemeral range (32768 and up), so that the many client sockets of a test
# (and their TIME_WAITs) do not hold it; a taken port is retried anyway.
_parent_port() { echo $(( 10000 + (RANDOM % 22000) )); }

# _parent_wait PID SECONDS CMD...: poll CMD every 50 ms until it succeeds
# (0), PID has exited (1) or SECONDS have passed (2): a parent that failed,
# e.g. on a port already taken, is noticed at once, not after the timeout.
_parent_wait() {
	local pid=$1 limit=$(( $2 * 20 )) i
	shift 2
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 2
}

# _parent_stop PID [SIGNAL]: SIGTERM (or SIGNAL), wait (bounded: SIGKILL
# after 5 s), forget it.  disown first: bash then reaps it without a
# "Killed" line in the test's output.
_parent_stop() {
	local pid=$1 i
	disown "$pid" 2>/dev/null
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -9 "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	untrack "$pid"
}

# _parent_dns: start the parents' dnsmasq once per test (see the top).  A
# random 127.X.Y.Z keeps tests running at the same time apart; --bind-
# interfaces keeps it off the wildcard address, --no-resolv and --local=/#/
# from forwarding anything, --no-hosts from the machine's /etc/hosts.
_parent_dns() {
	[ -n "$PARENT_DNS_PID" ] && return 0
	command -v dnsmasq >/dev/null || skip "dnsmasq missing"
	[ "$(id -u)" = 0 ] || skip "parent proxies need root (a DNS server on port 53, squid's user)"
	if [ ! -e "$PARENT_HOSTS" ]; then
		echo "127.0.0.1 localhost" >"$PARENT_HOSTS"
	fi
	local try addr pid
	for try in 1 2 3 4 5; do
		addr=127.$(( 100 + RANDOM % 100 )).$(( RANDOM % 256 )).$(( 1 + RANDOM % 254 ))
		rm -f "$PARENT_DNS_LOG"
		dnsmasq --keep-in-foreground --user=root --port=53 --listen-address="$addr" \
			--bind-interfaces --no-resolv --no-hosts --no-poll --addn-hosts="$PARENT_HOSTS" \
			--local=/#/ --log-queries --log-facility="$PARENT_DNS_LOG" \
			--pid-file="$T/parents-dns.pid" 2>"$T/parents-dns.err" &
		pid=$!
		if _parent_wait "$pid" 5 grep -q "started" "$PARENT_DNS_LOG"; then
			PIDS+=("$pid")
			PARENT_DNS_PID=$pid
			PARENT_DNS_ADDR=$addr
			return 0
		fi
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	done
	fail "parents' dnsmasq did not start on 127.x.y.z:53: $(cat "$T/parents-dns.err")"
}

# parent_count_is N CMD...: CMD (e.g. squid_requests TAG) prints N; for
# wait_for, since a parent logs a request only once it has answered it.
parent_count_is() {
	local n=$1
	shift
	[ "$("$@")" -eq "$n" ]
}

# _parent_lines PATTERN FILE: lines of FILE matching PATTERN (0 when FILE
# does not exist yet).
_parent_lines() {
	if [ -f "$2" ]; then grep -c -- "$1" "$2"; else echo 0; fi
	return 0
}

# parent_dns_queries NAME: how many A queries for NAME the parents asked.
parent_dns_queries() { _parent_lines "query\[A\] $1 " "$PARENT_DNS_LOG"; }

# --- squid ---------------------------------------------------------------------------

# start_squid TAG [auth]: squid -N (one process, no daemon, no kids) on a
# free 127.0.0.1 port, config $T/squid-TAG.conf, no cache.  Sets SQUID_PORT,
# SQUID_PID and SQUID_LOG (the access log: one line per transaction, written
# when it ends, a CONNECT tunnel's when the tunnel closes; fields
#   1 time  2 client-ip:port  3 squid-code/status  4 method  5 URL
#   6 user ("-" without auth)  7 squid's local port towards the next hop
#   ("-" when it tried none, 0 when it could not connect)).  With auth, requests need Basic proxy credentials
# $PARENT_USER:$PARENT_PASS (others get 407).  Also $T/squid-TAG.err (its
# stderr), $T/squid-TAG-cache.log (its diagnostics).
#
# Squid refuses to run as root: it drops to cache_effective_user 'proxy'
# (in base-passwd, so in every Debian) before it opens its logs and starts
# its helpers.  So $T gets o+x (reach known names, no listing) and what
# squid writes is created here and given to proxy.
start_squid() {
	local tag=$1 auth=${2:-} try port pid conf log cache svc
	_parent_tag "$tag"
	command -v squid >/dev/null || fail "squid missing (make deps-test)"
	[ -z "$auth" ] || [ -x /usr/lib/squid/basic_ncsa_auth ] || skip "squid's basic_ncsa_auth missing"
	[ -z "$auth" ] || command -v htpasswd >/dev/null || skip "htpasswd (apache2-utils) missing"
	# squid keeps collapsed-forwarding queues in POSIX shared memory even
	# with -N; without a writable /dev/shm it cannot start
	[ -d /dev/shm ] && [ -w /dev/shm ] || skip "squid needs a writable /dev/shm"
	_parent_dns
	conf="$T/squid-$tag.conf"
	log="$T/squid-$tag-access.log"
	cache="$T/squid-$tag-cache.log"
	# The shared memory segments are named after the service name
	# (/dev/shm/NAME-cf__*.shm): one of its own per instance (letters and
	# digits only), so that squids of tests running at the same time, or of
	# one test, do not collide.
	PARENT_SQUIDS=$(( ${PARENT_SQUIDS:-0} + 1 ))
	svc="sluice${T##*.}n$PARENT_SQUIDS"
	chmod o+x "$T"
	mkdir -p "$T/squid-$tag.core"
	: >"$log"
	: >"$cache"
	chown proxy:proxy "$log" "$cache" "$T/squid-$tag.core"
	if [ -n "$auth" ]; then
		# read by basic_ncsa_auth, which runs as proxy; -m: MD5 ($apr1$),
		# which basic_ncsa_auth knows (not bcrypt)
		htpasswd -b -c -m "$T/squid-$tag.htpasswd" "$PARENT_USER" "$PARENT_PASS" 2>/dev/null ||
			fail "htpasswd failed"
		chown proxy:proxy "$T/squid-$tag.htpasswd"
		chmod 0640 "$T/squid-$tag.htpasswd"
	fi
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$(_parent_port)
		: >"$cache"
		{
			echo "http_port 127.0.0.1:$port"
			echo "visible_hostname squid-$tag"   # also: no lookup of the machine's name
			echo "cache_effective_user proxy"
			echo "pid_filename none"             # we have its PID; none outside $T
			echo "coredump_dir $T/squid-$tag.core"
			echo "cache_log $cache"
			echo "logformat sluiceconn %ts.%03tu %>a:%>p %Ss/%03>Hs %rm %ru %un %<lp"
			echo "access_log stdio:$log sluiceconn"
			echo "buffered_logs off"             # a line is in the file when the transaction ends
			echo "strip_query_terms off"
			echo "logfile_rotate 0"
			# no cache at all: every request reaches the next hop
			echo "cache deny all"
			echo "cache_mem 0 MB"
			echo "netdb_filename none"           # else /var/spool/squid/netdb.state
			echo "digest_generation off"
			echo "pinger_enable off"
			echo "shutdown_lifetime 0 seconds"   # SIGTERM: exit now, not after 30 s
			echo "client_persistent_connections on"
			echo "server_persistent_connections on"
			echo "via on"
			# leave X-Forwarded-For as the client sent it: what reaches the
			# origin is what sluice sent, plus Via
			echo "forwarded_for transparent"
			# names: the private dnsmasq only (not resolv.conf, not /etc/hosts)
			echo "dns_nameservers $PARENT_DNS_ADDR"
			echo "hosts_file none"
			echo "dns_timeout 5 seconds"
			echo "acl loopback src 127.0.0.0/8 ::1"
			if [ -n "$auth" ]; then
				echo "auth_param basic program /usr/lib/squid/basic_ncsa_auth $T/squid-$tag.htpasswd"
				echo "auth_param basic children 5 startup=0 idle=1"
				echo "auth_param basic realm sluice-parent-$tag"
				echo "acl parentauth proxy_auth REQUIRED"
				# a request without (valid) credentials gets 407
				echo "http_access allow loopback parentauth"
			else
				echo "http_access allow loopback"
			fi
			# no Safe_ports / SSL_ports rules: CONNECT to any port (the tests'
			# origins listen on high loopback ports)
			echo "http_access deny all"
		} >"$conf"
		squid -N -n "$svc" -f "$conf" </dev/null >/dev/null 2>"$T/squid-$tag.err" &
		pid=$!
		if _parent_wait "$pid" 10 grep -q "Accepting HTTP Socket connections at .*local=127.0.0.1:$port " "$cache"; then
			PIDS+=("$pid")
			# squid has opened its segments; drop their names now, so that
			# none is left behind even if squid is killed (at exit squid
			# would remove them, and does not mind they are gone)
			rm -f /dev/shm/"$svc"-*
			PARENT_SQUID_PIDS+=("$pid")
			echo "$pid" >"$T/squid-$tag.pid"
			echo "$port" >"$T/squid-$tag.port"
			SQUID_PORT=$port
			SQUID_PID=$pid
			SQUID_LOG=$log
			return 0
		fi
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
		rm -f /dev/shm/"$svc"-*
		# only a taken port is worth another try
		grep -q "Address already in use" "$cache" || break
	done
	fail "squid $tag did not start: $(tail -n 5 "$T/squid-$tag.err" "$cache")"
}

# stop_squid TAG [SIGNAL]: stop one squid before the end; SIGKILL unless
# told (TERM): squid notices signals only about once a second, and after
# SIGTERM it closes its listening port but exits only shutdown_lifetime + 1 s
# later (0 is the least), about 2 s in all; SIGKILL takes a few ms, and
# loses nothing (every access log line is written when its transaction
# ends; its auth helpers exit on their own, on EOF).
stop_squid() { _parent_stop "$(cat "$T/squid-$1.pid")" "${2:-KILL}"; }
squid_port() { cat "$T/squid-$1.port"; }

# squid_requests TAG: transactions in its access log (a CONNECT counts once,
# when its tunnel has closed).
squid_requests() {
	local n
	n=$(wc -l 2>/dev/null <"$T/squid-$1-access.log") || n=0
	echo "$n"
}

# squid_conns TAG: distinct client connections (ip:port) in its access log:
# how many connections the client (sluice) used for those transactions.
squid_conns() {
	awk '{ print $2 }' "$T/squid-$1-access.log" 2>/dev/null | sort -u | wc -l
}

# --- tinyproxy ---------------------------------------------------------------------------

# start_tinyproxy TAG: tinyproxy -d (foreground; one process, a thread per
# connection) on a free 127.0.0.1 port, config $T/tinyproxy-TAG.conf.  Sets
# TINYPROXY_PORT, TINYPROXY_PID and TINYPROXY_LOG (its log, at level Info:
# "Connect (file descriptor N): 127.0.0.1" per client connection, then
# "Request (file descriptor N): METHOD URL HTTP/1.1" per request).
#
# tinyproxy resolves names with the C library, so it runs in a mount
# namespace of its own where /etc/resolv.conf names the private dnsmasq:
# the machine's resolver is never asked.  No ConnectPort line: CONNECT to
# any port.  It runs as root (no User): it needs no other user's access.
start_tinyproxy() {
	local tag=$1 try port pid conf log
	_parent_tag "$tag"
	command -v tinyproxy >/dev/null || fail "tinyproxy missing (make deps-test)"
	command -v unshare >/dev/null || skip "unshare missing (tinyproxy's private resolv.conf)"
	_parent_dns
	conf="$T/tinyproxy-$tag.conf"
	log="$T/tinyproxy-$tag.log"
	printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$PARENT_DNS_ADDR" >"$T/tinyproxy-$tag.resolv.conf"
	unshare -m -- sh -c 'mount --bind "$1" /etc/resolv.conf' sh "$T/tinyproxy-$tag.resolv.conf" 2>/dev/null ||
		skip "cannot give tinyproxy a private resolv.conf (unshare -m, mount --bind)"
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$(_parent_port)
		{
			echo "Port $port"
			echo "Listen 127.0.0.1"
			echo "Allow 127.0.0.0/8"
			echo "Timeout 30"
			echo "MaxClients 100"
			echo "LogFile \"$log\""
			echo "LogLevel Info"
			echo "ViaProxyName \"tinyproxy-$tag\""
		} >"$conf"
		rm -f "$log"
		# unshare and sh exec: the PID is tinyproxy's.  An nscd would answer
		# from the machine's resolver: hide its socket, if there is one.
		unshare -m -- sh -c 'mount --bind "$1" /etc/resolv.conf &&
			{ [ ! -d /run/nscd ] || mount -t tmpfs -o size=64k none /run/nscd; } &&
			exec tinyproxy -d -c "$2"' \
			sh "$T/tinyproxy-$tag.resolv.conf" "$conf" </dev/null >/dev/null 2>"$T/tinyproxy-$tag.err" &
		pid=$!
		if _parent_wait "$pid" 10 grep -q "Accepting connections" "$log"; then
			PIDS+=("$pid")
			echo "$pid" >"$T/tinyproxy-$tag.pid"
			echo "$port" >"$T/tinyproxy-$tag.port"
			TINYPROXY_PORT=$port
			TINYPROXY_PID=$pid
			TINYPROXY_LOG=$log
			return 0
		fi
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
		grep -q "Could not create listening sockets" "$T/tinyproxy-$tag.err" || break
	done
	fail "tinyproxy $tag did not start: $(tail -n 5 "$T/tinyproxy-$tag.err" "$log" 2>/dev/null)"
}

# stop_tinyproxy TAG [SIGNAL]: stop one tinyproxy before the end (SIGTERM
# is instant).
stop_tinyproxy() { _parent_stop "$(cat "$T/tinyproxy-$1.pid")" "${2:-TERM}"; }
tinyproxy_port() { cat "$T/tinyproxy-$1.port"; }

# tinyproxy_requests TAG / tinyproxy_conns TAG: requests and client
# connections in its log.  tinyproxy serves one request per connection (it
# closes after the response), so they differ only by connections that never
# sent a complete request.
tinyproxy_requests() { _parent_lines "Request (file descriptor" "$T/tinyproxy-$1.log"; }
tinyproxy_conns() { _parent_lines "Connect (file descriptor" "$T/tinyproxy-$1.log"; }
