# 1,000 distinct users log in (each a bcrypt check) while other clients
# keep a steady rate of requests with a cached login.  The checks must run
# on the auth threads, never on a reactor: the threads named sluice-auth
# spend more CPU than the workers (sluice-w*) over the storm, every login is
# served, and no steady request fails.  Their p99 is reported (measured,
# not asserted: speed belongs to bench/).
. "$(dirname "$0")/lib.sh"
command -v htpasswd >/dev/null || fail "htpasswd missing (apache2-utils)"
command -v ab >/dev/null || fail "ab missing (apache2-utils)"
N=1000
for i in $(seq $N); do htpasswd -nbB -C 5 "user$i" "pass$i" 2>/dev/null | head -n1; done >"$T/users"
expect_eq "$(grep -c '^user' "$T/users")" "$N" "users written"
start_origin
start_sluice "auth_basic $T/users" "auth_threads 2"

# utime+stime ticks of sluice's threads whose name starts with $1
cpu_of() {
	local sum=0 t
	for t in /proc/"$SLUICE_PID"/task/*; do
		case $(cat "$t/comm" 2>/dev/null) in
		"$1"*) sum=$((sum + $(awk '{ print $14 + $15 }' "$t/stat"))) ;;
		esac
	done
	echo "$sum"
}

curl -sf -o /dev/null -x "$PROXY" -U user1:pass1 "$ORIGIN/bytes/10" || fail "user1 not served"
a0=$(cpu_of sluice-auth) w0=$(cpu_of sluice-w)
ab -k -c 4 -n 4000 -P user1:pass1 -X "127.0.0.1:$SLUICE_PORT" "$ORIGIN/bytes/10" >"$T/ab.out" 2>&1 &
AB=$!
PIDS+=("$AB")
seq $N | xargs -P 16 -I{} curl -s -o /dev/null -w '%{http_code}\n' -m 60 -x "$PROXY" -U 'user{}:pass{}' \
	"$ORIGIN/bytes/1" >"$T/codes"
wait "$AB" || fail "ab failed: $(tail -n 20 "$T/ab.out")"
untrack "$AB"
a1=$(cpu_of sluice-auth) w1=$(cpu_of sluice-w)

expect_eq "$(grep -c '^200$' "$T/codes")" "$N" "logins served ($(sort "$T/codes" | uniq -c | tr '\n' ' '))"
grep -q "^Failed requests: *0$" "$T/ab.out" || fail "steady client: failures: $(grep -E 'Failed|Non-2xx' "$T/ab.out")"
! grep -q "^Non-2xx" "$T/ab.out" || fail "steady client: $(grep Non-2xx "$T/ab.out")"
auth=$((a1 - a0)) work=$((w1 - w0))
[ "$auth" -gt "$work" ] ||
	fail "the password checks did not run on the auth threads: sluice-auth $auth ticks, workers $work ticks"
p99=$(awk '$1 == "99%" { print $2 }' "$T/ab.out")
ok "$N bcrypt logins on the auth threads ($auth ticks there, $work on the workers); 4,000 steady requests served meanwhile, p99 ${p99} ms"
sluice_alive || fail "sluice died"

# Clients that send a login and vanish at once (a reset: a FIN alone is a
# half-close, still owed its answer), 300 times with new
# credentials each, against a costly hash (bcrypt cost 12) and one auth
# thread: the checks nobody waits for any more are skipped, not worked
# out, so the thread does not spend minutes on them and a real login
# after them is answered.
stop_sluice
untrack "$SLUICE_PID"
htpasswd -nbB -C 12 slow 'slow pass' 2>/dev/null | head -n1 >"$T/slow-users"
start_sluice "auth_basic $T/slow-users" "auth_threads 1"
a0=$(cpu_of sluice-auth)
for i in $(seq 300); do
	printf 'GET %s/bytes/1 HTTP/1.1\r\nProxy-Authorization: Basic %s\r\n\r\n' "$ORIGIN" \
		"$(printf 'slow:guess%s' "$i" | base64 -w0)"
done | perl -MIO::Socket::INET -e '
	my $port = shift;
	local $/ = "\r\n\r\n";
	while (my $req = <STDIN>) {
		my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die "connect: $!";
		print $c $req;
		setsockopt($c, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0));
		close $c; # a reset: gone before any answer
	}' "$SLUICE_PORT" || fail "the hang-up clients"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 60 -x "$PROXY" -U 'slow:slow pass' "$ORIGIN/bytes/1")
expect_eq "$code" 200 "a real login after 300 abandoned ones"
a1=$(cpu_of sluice-auth)
# all 300 worked out cost some 720 ticks here; skipped, about 100
[ $((a1 - a0)) -lt 400 ] || fail "the auth thread worked out abandoned checks: $((a1 - a0)) ticks"
ok "300 logins abandoned at once: the thread skipped them ($((a1 - a0)) ticks), the next real login served"
sluice_alive || fail "sluice died"
