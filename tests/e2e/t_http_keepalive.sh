# Pipelining and keep-alive on both sides of sluice.
#
# The test origin numbers its connections (X-Conn-Id) and the requests on
# each (X-Req-Num), so reuse of a pooled upstream connection is visible.
# One worker, so that every client connection meets the same upstream pool.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

# --- a client connection held in the shell: fd $C -------------------------------

gen() { "$ORIGIN_BIN" --gen "$1"; }
start_origin
start_sluice "workers 1" "log_level debug"

# --- 1. pipelining: three requests in one write --------------------------------------

conn_open
{
	printf 'GET http://127.0.0.1:%s/bytes/3 HTTP/1.1\r\nX-Pipe: 1\r\n\r\n' "$ORIGIN_PORT"
	printf 'POST http://127.0.0.1:%s/echo HTTP/1.1\r\nX-Pipe: 2\r\nContent-Length: 5\r\n\r\nhello' "$ORIGIN_PORT"
	printf 'GET http://127.0.0.1:%s/chunked/5 HTTP/1.1\r\nX-Pipe: 3\r\n\r\n' "$ORIGIN_PORT"
	printf 'GET http://127.0.0.1:%s/bytes/4 HTTP/1.1\r\nX-Pipe: 4\r\nConnection: close\r\n\r\n' "$ORIGIN_PORT"
} >"$T/pipe"
# one write(2) for all four
cat "$T/pipe" >&"$C"
read_resp || fail "pipelined response 1 missing"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|abc" "pipelined response 1"
read_resp || fail "pipelined response 2 missing"
expect_eq "$R_STATUS" "HTTP/1.1 200 OK" "pipelined response 2 status"
case $R_BODY in
"POST /echo HTTP/1.1"$'\r\n'*"X-Pipe: 2"$'\r\n'*$'\r\n\r\nhello') ;;
*) fail "pipelined response 2 is not the echo of request 2: '$R_BODY'";;
esac
read_resp || fail "pipelined response 3 missing"
expect_eq "$R_STATUS|$R_BODY|$R_TRAILER" "HTTP/1.1 200 OK|abcde|X-Trailer: done"$'\n' "pipelined response 3 (chunked)"
read_resp || fail "pipelined response 4 missing"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|abcd" "pipelined response 4"
conn_closed || fail "connection still open after the pipelined Connection: close"
conn_close
ok "four pipelined requests (one with a body) answered in order"

# a large response first: the pipelined request behind it waits its turn
conn_open
printf 'GET http://127.0.0.1:%s/bytes/300000 HTTP/1.1\r\n\r\nGET http://127.0.0.1:%s/chunked/7 HTTP/1.1\r\nConnection: close\r\n\r\n' \
	"$ORIGIN_PORT" "$ORIGIN_PORT" >&"$C"
read_resp || fail "pipelined large response missing"
[ "$R_BODY" = "$(gen 300000)" ] || fail "pipelined large response: body differs (${#R_BODY} bytes)"
read_resp || fail "response after the large one missing"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|$(gen 7)" "response after the large one"
conn_closed || fail "connection still open after Connection: close"
conn_close
ok "a request pipelined behind a 300 kB response is answered after it"

# --- 2. keep-alive reuse on both sides -----------------------------------------------

# a fresh origin: its first connection will be sluice's first to it
ORIGIN=$ORIGIN_BIN
start_origin
conn_open
request GET /bytes/10
read_resp || fail "keep-alive: response 1 missing"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|$(gen 10)" "keep-alive: response 1"
cid=$(hdr X-Conn-Id)
expect_eq "$(hdr X-Req-Num)" 1 "keep-alive: X-Req-Num of request 1"
expect_eq "$(hdr Connection)" "" "keep-alive: Connection header on response 1"
request GET /chunked/10
read_resp || fail "keep-alive: response 2 missing (client connection not kept)"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|$(gen 10)" "keep-alive: response 2"
expect_eq "$(hdr X-Conn-Id)|$(hdr X-Req-Num)" "$cid|2" "keep-alive: origin connection/request number of request 2"
request POST /echo "Content-Length: 3"
printf 'abc' >&"$C"
read_resp || fail "keep-alive: response 3 missing"
expect_eq "$(hdr X-Conn-Id)|$(hdr X-Req-Num)" "$cid|3" "keep-alive: origin connection/request number of request 3 (after a chunked response)"
ok "two and three requests on one client connection use one upstream connection (X-Req-Num 1, 2, 3)"

# a second client connection, while the first stays open, takes the pooled upstream
C1=$C
conn_open
request GET /bytes/5
read_resp || fail "second client: response missing"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|$(gen 5)" "second client: response"
expect_eq "$(hdr X-Conn-Id)|$(hdr X-Req-Num)" "$cid|4" "second client connection reuses the pooled upstream"
conn_close
C=$C1
# and the first client connection is still usable after that
request GET /bytes/6
read_resp || fail "first client connection broken after the second one used the pool"
expect_eq "$R_BODY" "$(gen 6)" "first client: body of request 4"
expect_eq "$(hdr X-Conn-Id)|$(hdr X-Req-Num)" "$cid|5" "first client: upstream of request 4"
ok "a second client connection reuses the pooled upstream connection"

# an upstream connection the origin closed is not reused
request GET /hopbyhop
read_resp || fail "/hopbyhop response missing"
expect_eq "$(hdr X-Conn-Id)|$(hdr X-Req-Num)" "$cid|6" "/hopbyhop upstream"
request GET /bytes/1
read_resp || fail "client connection not kept after an upstream Connection: close"
[ "$(hdr X-Conn-Id)" != "$cid" ] || fail "upstream connection reused after the origin said Connection: close"
expect_eq "$(hdr X-Req-Num)" 1 "new upstream connection after Connection: close"
conn_close
ok "an upstream connection closed by the origin is not reused; the client connection is"

# bytes the origin sends on an idle pooled connection (a late 408) are never
# taken for the answer to the next request: with the answer, and later
conn_open
request GET /late/0
read_resp || fail "/late/0 response missing"
late=$(hdr X-Conn-Id)
request GET /bytes/2
read_resp || fail "no answer after the origin's unsolicited 408"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|$(gen 2)" "answer after an unsolicited 408 sent with the previous answer"
[ "$(hdr X-Conn-Id)" != "$late" ] || fail "upstream connection reused after it sent bytes nobody asked for"
# (the /late/0 connection may have logged its own close already: wait for
# one more, or the next request could go out on the idle connection before
# the 408 comes and be answered by it, as HTTP/1.1 cannot tell apart)
closed=$(grep -c "idle connection closed by origin" "$T/sluice.err")
request GET /late/200
read_resp || fail "/late/200 response missing"
late=$(hdr X-Conn-Id)
wait_for 5 lines_ge $((closed + 1)) "idle connection closed by origin" "$T/sluice.err" ||
	fail "the origin's late 408 on the idle connection went unnoticed"
request GET /bytes/3
read_resp || fail "no answer after the origin's late 408"
expect_eq "$R_STATUS|$R_BODY" "HTTP/1.1 200 OK|$(gen 3)" "answer after a late unsolicited 408"
[ "$(hdr X-Conn-Id)" != "$late" ] || fail "upstream connection reused after its late 408"
conn_close
ok "an idle upstream connection that speaks out of turn is closed, not reused"

# --- 3. HTTP/1.0 clients ----------------------------------------------------------------

conn_open
printf 'GET http://127.0.0.1:%s/bytes/8 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' "$ORIGIN_PORT" >&"$C"
read_resp || fail "HTTP/1.0 keep-alive: response 1 missing"
expect_eq "$R_BODY" "$(gen 8)" "HTTP/1.0 keep-alive: body 1"
expect_eq "$(hdr Connection)" "keep-alive" "HTTP/1.0 keep-alive: Connection header"
[ -n "$(hdr Content-Length)" ] || fail "HTTP/1.0 keep-alive: response without Content-Length cannot be kept alive"
printf 'GET http://127.0.0.1:%s/bytes/9 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' "$ORIGIN_PORT" >&"$C"
read_resp || fail "HTTP/1.0 keep-alive: connection not kept open for request 2"
expect_eq "$R_BODY" "$(gen 9)" "HTTP/1.0 keep-alive: body 2"
expect_eq "$(hdr Connection)" "keep-alive" "HTTP/1.0 keep-alive: Connection header 2"
# a chunked answer cannot be delimited for HTTP/1.0 except by closing
printf 'GET http://127.0.0.1:%s/chunked/20 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' "$ORIGIN_PORT" >&"$C"
read_resp || fail "HTTP/1.0 keep-alive: chunked response missing"
expect_eq "$(hdr Transfer-Encoding)" "" "HTTP/1.0 client: Transfer-Encoding"
case $R_BODY in "$(gen 20)"*) ;; *) fail "HTTP/1.0 client: body of a chunked response: '$R_BODY'";; esac
conn_close
ok "HTTP/1.0 with Connection: keep-alive gets Connection: keep-alive and stays open"

conn_open
printf 'GET http://127.0.0.1:%s/bytes/8 HTTP/1.0\r\n\r\n' "$ORIGIN_PORT" >&"$C"
read_resp || fail "HTTP/1.0: response missing"
expect_eq "$R_BODY" "$(gen 8)" "HTTP/1.0: body"
conn_closed || fail "HTTP/1.0 without keep-alive: connection not closed after the response"
conn_close
ok "HTTP/1.0 without keep-alive is closed after the response"

# HTTP/1.1 Connection: close
conn_open
request GET /bytes/2 "Connection: close"
read_resp || fail "Connection: close: response missing"
expect_eq "$(hdr Connection)" "close" "Connection: close echoed to the client"
conn_closed || fail "HTTP/1.1 Connection: close: connection not closed"
conn_close
ok "HTTP/1.1 Connection: close is closed after the response"
