# Proxy authentication (Basic) against an htpasswd file written by the real
# htpasswd, one user per hash it writes: curl --proxy-user with the right,
# a wrong and no password, for GET and CONNECT; the user in the access log;
# Proxy-Authorization never forwarded; malformed credentials get 407;
# `user` ACLs; the file replaced while sluice runs (a new user works, a
# removed one no longer does, a broken file keeps the users before); and a
# client that keeps failing is slowed down while another is not.
. "$(dirname "$0")/lib.sh"
command -v htpasswd >/dev/null || fail "htpasswd missing (apache2-utils: make deps-test)"
start_origin
start_peer -e
U="$T/users"
htpasswd -c -b -m "$U" alice 'apr1 pass' 2>/dev/null
htpasswd -b -B -C 5 "$U" bob 'bcrypt:pass' 2>/dev/null
htpasswd -b -2 "$U" carol 'sha256pass' 2>/dev/null
htpasswd -b -5 "$U" dave 'sha512 pass' 2>/dev/null
htpasswd -b -s "$U" eve 'sha1pass' 2>/dev/null
# sluice -t names a bad line of the users file, like any config error
printf 'alice:$apr1$x$y\nbob:plaintext\n' >"$T/bad-users"
printf 'auth_basic %s\n' "$T/bad-users" >"$T/bad.conf"
"$SLUICE" -t -c "$T/bad.conf" >"$T/t.out" 2>&1 && fail "sluice -t took a users file with a plain-text password"
grep -q "bad-users:2: user bob: not a hash" "$T/t.out" || fail "sluice -t: $(cat "$T/t.out")"
ok "sluice -t refuses a users file with a plain-text line, naming file and line"

start_sluice "auth_basic $U" "auth_realm office" "connect_ports $PEER_PORT" \
	"acl staff user alice bob carol dave" "acl lan src 127.0.0.0/8" \
	"http_access allow staff lan" "http_access deny all"

code() { curl -s -o "$T/body" -D "$T/head" -w '%{http_code}' -m 10 -x "$PROXY" "$@"; }

# --- 407 without (valid) credentials -------------------------------------------------------
expect_eq "$(code "$ORIGIN/bytes/10")" 407 "no credentials"
grep -qi '^Proxy-Authenticate: Basic realm="office"' "$T/head" || fail "407 without the challenge: $(cat "$T/head")"
grep -q "proxy authentication required" "$T/body" || fail "407 body: $(cat "$T/body")"
expect_eq "$(code -U alice:wrong "$ORIGIN/bytes/10")" 407 "a wrong password"
expect_eq "$(code -U mallory:'apr1 pass' "$ORIGIN/bytes/10")" 407 "an unknown user"
ok "no, wrong or unknown credentials: 407 with Proxy-Authenticate: Basic realm=\"office\""

# --- every hash htpasswd writes -------------------------------------------------------------
for login in 'alice:apr1 pass' 'bob:bcrypt:pass' 'carol:sha256pass' 'dave:sha512 pass'; do
	expect_eq "$(code -U "$login" "$ORIGIN/bytes/10")" 200 "login ${login%%:*}"
done
ok "apr1-MD5, bcrypt, SHA-256 and SHA-512 crypt logins served"
# eve's {SHA} hash verifies, but the rules let only staff through: 403
expect_eq "$(code -U eve:sha1pass "$ORIGIN/bytes/10")" 403 "eve (not in acl staff)"
expect_eq "$(code -U eve:wrong "$ORIGIN/bytes/10")" 407 "eve with a wrong password"
ok "{SHA} verifies (eve), and a user ACL keeps her out: 403"

# the origin never sees the credentials
expect_eq "$(code -U alice:'apr1 pass' "$ORIGIN/echo")" 200 "echo through sluice"
grep -qi '^Proxy-Authorization' "$T/body" && fail "Proxy-Authorization reached the origin: $(cat "$T/body")"
ok "Proxy-Authorization is not forwarded"

# the 407 keeps the connection: curl answers the challenge on it
curl -s -o /dev/null -w '%{http_code} %{num_connects}\n' -m 10 -x "$PROXY" --proxy-anyauth -U carol:sha256pass \
	"$ORIGIN/bytes/1" >"$T/anyauth" 2>&1
expect_eq "$(cat "$T/anyauth")" "200 1" "--proxy-anyauth: status and connections"
ok "the challenge is answered on the same connection"

# --- CONNECT -------------------------------------------------------------------------------
expect_eq "$(curl -s -o /dev/null -w '%{http_connect}' -m 10 -p -x "$PROXY" "http://127.0.0.1:$PEER_PORT/")" 407 \
	"CONNECT without credentials"
printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\nProxy-Authorization: Basic %s\r\n\r\nping\n' "$PEER_PORT" \
	"$(printf '%s' 'dave:sha512 pass' | base64 -w0)" | raw "$SLUICE_PORT" 3 >"$T/tunnel"
head -n1 "$T/tunnel" | grep -q "^HTTP/1.1 200" || fail "CONNECT with credentials: $(head -c 300 "$T/tunnel")"
grep -q "^ping" "$T/tunnel" || fail "CONNECT with credentials: no echo through the tunnel: $(cat -A "$T/tunnel" | head)"
# (the tunnel's log line is written from its compact exchange: host and login copied)
access_log_has "TCP_TUNNEL/200 [0-9]* CONNECT 127.0.0.1:$PEER_PORT dave HIER_DIRECT/" ||
	fail "CONNECT with credentials: access log: $(grep CONNECT "$T/access.log")"
ok "CONNECT: 407 without credentials, a tunnel with them"

# bytes sent behind a refused CONNECT were meant for the tunnel: they must
# never be read as the next request (nor reach anyone); the 407 closes
printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\n\r\nGET %s/echo HTTP/1.1\r\nHost: x\r\n\r\n' "$PEER_PORT" "$ORIGIN" |
	raw "$SLUICE_PORT" 5 >"$T/smuggle"
expect_eq "$?" 0 "refused CONNECT with bytes behind it: connection closed by sluice (124: left open)"
expect_eq "$(grep -c '^HTTP/1.1 ' "$T/smuggle")" 1 "responses to a refused CONNECT with bytes behind it"
head -n1 "$T/smuggle" | grep -q "^HTTP/1.1 407" || fail "refused CONNECT: $(head -n1 "$T/smuggle")"
ok "bytes behind a refused CONNECT are not taken as a request: one 407, then the close"

# --- malformed credentials: 407, never a crash --------------------------------------------
for v in 'Basic !!!notbase64' "Basic $(printf 'nocolon' | base64 -w0)" "Basic $(printf ':nouser' | base64 -w0)" \
	'Digest username="alice"' 'Basic' "Basic $(head -c 600 /dev/zero | tr '\0' 'A')" \
	"Basic $(printf 'alice:a\001b' | base64 -w0)"; do
	expect_eq "$(code -H "Proxy-Authorization: $v" "$ORIGIN/bytes/10")" 407 "Proxy-Authorization: ${v:0:40}"
done
sluice_alive || fail "sluice died on malformed credentials"
ok "malformed Proxy-Authorization (bad base64, no colon, no user, Digest, oversized, control bytes): 407"

access_log_has "TCP_MISS/200 .* GET $ORIGIN/bytes/10 alice " || fail "access log: no line with user alice: $(cat "$T/access.log")"
access_log_has "TCP_DENIED/407 .* GET $ORIGIN/bytes/10 - " || fail "access log: no TCP_DENIED/407 line: $(cat "$T/access.log")"
ok "access log: the user of each request, TCP_DENIED/407 for refusals"

# --- the file replaced while running ---------------------------------------------------------
cp "$U" "$T/users.new"
htpasswd -b -2 "$T/users.new" frank 'new pass' 2>/dev/null
htpasswd -D "$T/users.new" alice 2>/dev/null
mv "$T/users.new" "$U"
frank_known() { [ "$(code -U frank:'new pass' "$ORIGIN/bytes/10")" = 403 ]; }
wait_for 10 frank_known || fail "frank (added to the file) not taken: $(cat "$T/body")"
expect_eq "$(code -U alice:'apr1 pass' "$ORIGIN/bytes/10")" 407 "alice after she was removed (her login was cached)"
expect_eq "$(code -U bob:'bcrypt:pass' "$ORIGIN/bytes/10")" 200 "bob after the reload"
grep -q "users loaded" "$T/sluice.err" || fail "no reload in the error log"
# a broken file: the users before stay, and the error log says why
printf 'bob:$2y$05$abc\nplain:text\n' >"$T/users.bad"
mv "$T/users.bad" "$U"
wait_for 10 grep -q "users.*:2: user plain: not a hash" "$T/sluice.err" ||
	fail "a broken users file: no error naming its line: $(tail -n 3 "$T/sluice.err")"
expect_eq "$(code -U carol:sha256pass "$ORIGIN/bytes/10")" 200 "carol after a broken file (kept)"
ok "users file replaced: an added user works, a removed one is refused, a broken file keeps the users before"

# --- brute force: one client slowed, another not ----------------------------------------------
for i in $(seq 12); do
	code --interface 127.0.0.2 -U "carol:guess$i" "$ORIGIN/bytes/1" >/dev/null
done
t0=$(now_ms)
expect_eq "$(code --interface 127.0.0.2 -U carol:guess13 "$ORIGIN/bytes/1")" 407 "a 13th wrong guess"
slow=$(( $(now_ms) - t0 ))
[ "$slow" -ge 900 ] || fail "a client with 12 failures in a minute was answered in $slow ms (want the 1 s delay)"
expect_eq "$(code -U carol:sha256pass "$ORIGIN/bytes/1")" 200 "another client meanwhile"
ok "after 12 failures 127.0.0.2's 407s come $slow ms late; 127.0.0.1 is not slowed"
sluice_alive || fail "sluice died"
