# The known desync shapes, both directions, as a table: each is refused, or
# normalised so that a strict second parser frames exactly what sluice
# framed.  Requests: the test origin's /echo sends back the head and the raw
# body bytes it read, and a request pipelined behind must be the origin's
# next request.  Responses: Varnish's strict HTTP/1 parser (varnishtest) as
# the client must read exactly the response sluice framed, then the next
# one; a refused response is a 502, and both connections close.
# Vectors from RFC 9112 sections 6-7, the HTTP Garden findings and
# PortSwigger's request-smuggling research (CL.TE, TE.CL, TE.TE), and the
# defects issue 10 found in sluice itself.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
command -v varnishtest >/dev/null || skip "varnishtest missing"

start_origin
start_sluice
P=$ORIGIN_PORT
ECHO="POST http://127.0.0.1:$P/echo HTTP/1.1"
NEXT="GET http://127.0.0.1:$P/bytes/4 HTTP/1.1\r\nConnection: close\r\n\r\n"
n=0

# --- requests --------------------------------------------------------------------------

# refused_request STATUS NAME BYTES [WHY]: answered STATUS (naming WHY), and
# closed: what follows it on the connection is never read as a request.
refused_request() {
	printf '%b' "$3$NEXT" | raw "$SLUICE_PORT" >"$T/resp" || fail "$2: connection left open"
	expect_eq "$(status_of "$T/resp")" "HTTP/1.1 $1 $([ "$1" = 400 ] && echo Bad Request || echo Not Implemented)" "$2: status"
	[ -z "${4:-}" ] || grep -aq -- "$4" "$T/resp" || fail "$2: reply does not say '$4': $(body_of "$T/resp")"
	expect_eq "$(grep -ac '^HTTP/1.1 ' "$T/resp")" 1 "$2: responses on the connection"
	n=$((n + 1))
}
B="$ECHO\r\nTransfer-Encoding: chunked"
refused_request 400 "CL.TE" "$ECHO\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused_request 400 "TE.CL" "$ECHO\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"
refused_request 400 "TE.TE: chunked, identity" "$ECHO\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"
refused_request 400 "TE.TE: xchunked" "$ECHO\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
refused_request 400 "TE.TE: space before the colon" "$ECHO\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
refused_request 400 "TE.TE: two lines" "$B\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused_request 400 "TE.TE: folded onto the line before" "$ECHO\r\nX: 1\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused_request 400 "TE.TE: vertical tab before the value" "$ECHO\r\nTransfer-Encoding:\vchunked\r\n\r\n0\r\n\r\n"
refused_request 400 "TE.TE: quoted" "$ECHO\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n"
refused_request 400 "TE in HTTP/1.0" "POST http://127.0.0.1:$P/echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused_request 501 "TE.TE: identity, chunked" "$ECHO\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n" "unsupported transfer coding"
refused_request 501 "TE: gzip, chunked" "$ECHO\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
for cl in '+4' '-4' '4,4' '4 4' '0x4' '99999999999999999999' '4\r\nContent-Length: 4' '4\r\nContent-Length: 5'; do
	refused_request 400 "Content-Length: $cl" "$ECHO\r\nContent-Length: $cl\r\n\r\nabcd"
done
refused_request 400 "NUL in a value" "$ECHO\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n"
refused_request 400 "NUL in a name" "$ECHO\r\nX\0: a\r\nContent-Length: 0\r\n\r\n"
refused_request 400 "bare CR in a value" "$ECHO\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n"
refused_request 400 "bare LF in a value" "$ECHO\r\nX: a\nb\r\nContent-Length: 0\r\n\r\n"
refused_request 400 "bare CR ending a line" "$ECHO\rContent-Length: 0\r\n\r\n"
refused_request 400 "two spaces in the request line" "POST  http://127.0.0.1:$P/echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
refused_request 400 "a tab in the target" "POST http://127.0.0.1:$P/e\tcho HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
refused_request 400 "chunk data not followed by CRLF" "$B\r\n\r\n1\r\nAXY0\r\n\r\n" "chunk data not followed by CRLF"
refused_request 400 "a bare LF after chunk data" "$B\r\n\r\n1\r\nA\n10\r\n\r\n" "chunk data not followed by CRLF"
refused_request 400 "a bare LF ending a size line" "$B\r\n\r\n1\nA\r\n0\r\n\r\n" "not ended by CRLF"
refused_request 400 "CR and any byte" "$B\r\n\r\n1\rxA\r\n0\r\n\r\n" "bare CR"
refused_request 400 "CR and any byte after the last chunk" "$B\r\n\r\n0\r\n\rx" "bare CR"
refused_request 400 "chunk size overflow" "$B\r\n\r\nffffffffffffffff1\r\nA\r\n0\r\n\r\n" "chunk size too long"
refused_request 400 "a chunk size of 2^32 + 1 (1 for a 32-bit reader)" "$B\r\n\r\n100000001\r\nA\r\n0\r\n\r\n" "chunk size too large"
refused_request 400 "0x in a chunk size" "$B\r\n\r\n0x1\r\nA\r\n0\r\n\r\n"
refused_request 400 "a sign in a chunk size" "$B\r\n\r\n-1\r\nA\r\n0\r\n\r\n" "invalid chunk size"
refused_request 400 "a space after a chunk size" "$B\r\n\r\n1 \r\nA\r\n0\r\n\r\n"
refused_request 400 "a bare LF in an extension" "$B\r\n\r\n1;a\nb\r\nA\r\n0\r\n\r\n"
refused_request 400 "a quoted extension over a line end" "$B\r\n\r\n1;a=\"x\r\ny\"\r\nA\r\n0\r\n\r\n"
refused_request 400 "an unterminated quote" "$B\r\n\r\n1;a=\"x\r\nA\r\n0\r\n\r\n"
refused_request 400 "a trailer with a space before its colon" "$B\r\n\r\n0\r\nX-T : 1\r\n\r\n" "malformed trailer"
refused_request 400 "a folded trailer" "$B\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n" "malformed trailer"
ok "$n request shapes refused (400, or 501 for codings sluice does not pass on), each closing its connection"

# normalised_request NAME BYTES WANT_HEAD_LINE WANT_BODY: the origin read
# WANT_HEAD_LINE among the head lines and exactly WANT_BODY as the body,
# then the pipelined request as its next one.
echo_head() { perl -0777 -ne 'print $1 if /\A.*?\r\n\r\n(.*?\r\n\r\n)/s' "$1"; }
echo_body() { perl -0777 -ne 'print $1 if /\A.*?\r\n\r\n.*?\r\n\r\n(.*?)HTTP\/1\.1 200/s' "$1"; }
normalised_request() {
	printf '%b' "$2$NEXT" | raw "$SLUICE_PORT" >"$T/resp" || fail "$1: connection left open"
	expect_eq "$(grep -ao 'HTTP/1.1 200 OK' "$T/resp" | wc -l)" 2 "$1: responses (the echo, then the next request's)"
	echo_head "$T/resp" | grep -aq "^$3"$'\r'"\$" || fail "$1: the origin did not read '$3': $(echo_head "$T/resp")"
	printf '%b' "$4" >"$T/want"
	echo_body "$T/resp" >"$T/got"
	expect_file "$T/got" "$T/want" "$1: the body the origin read"
	body_of "$T/resp" | tail -c 4 | grep -q '^abcd$' || fail "$1: the next request's answer is not the last thing"
	n=$((n + 1))
}
n=0
normalised_request "TE with a tab before the value" "$ECHO\r\nTransfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" \
	"Transfer-Encoding: chunked" '3\r\nabc\r\n0\r\n\r\n'
normalised_request "TE with a tab after the value" "$ECHO\r\nTransfer-Encoding: chunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n" \
	"Transfer-Encoding: chunked" '3\r\nabc\r\n0\r\n\r\n'
normalised_request "TE in capitals" "$ECHO\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n" \
	"Transfer-Encoding: chunked" '3\r\nabc\r\n0\r\n\r\n'
normalised_request "Content-Length with leading zeros" "$ECHO\r\nContent-Length: 0003\r\n\r\nabc" \
	"Content-Length: 3" 'abc'
normalised_request "Content-Length with spaces around" "$ECHO\r\nContent-Length:  3 \r\n\r\nabc" \
	"Content-Length: 3" 'abc'
normalised_request "chunk sizes with leading zeros, capitals and extensions" \
	"$ECHO\r\nTransfer-Encoding: chunked\r\n\r\n0003;a=b;c=\"d;e\"\r\nabc\r\n000A\r\n0123456789\r\n00\r\n\r\n" \
	"Transfer-Encoding: chunked" '3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n'
normalised_request "framing fields in the trailer" \
	"$ECHO\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\nX-Keep: 1\r\n\r\n" \
	"Transfer-Encoding: chunked" '3\r\nabc\r\n0\r\nX-Keep: 1\r\n\r\n'
ok "$n request shapes normalised: the origin frames each exactly as sluice did, and then the next request"

# --- responses -----------------------------------------------------------------------------
hex() { printf '%b' "$1" | perl -0777 -ne 'print unpack("H*", $_)'; }
refused_response() { # NAME BYTES
	run_vtc_case strict_refused.vtc -D what="$1" -D hex="$(hex "$2")" || fail "response not refused: $1"
	n=$((n + 1))
}
n=0
H='HTTP/1.1 200 OK\r\n'
C='HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
refused_response "two spaces before the status" 'HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n'
refused_response "a leading zero in the status" 'HTTP/1.1 0200 OK\r\nContent-Length: 0\r\n\r\n'
refused_response "a status of two digits" 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'
refused_response "a status of four digits" 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'
refused_response "a tab after the status" 'HTTP/1.1 200\tOK\r\nContent-Length: 0\r\n\r\n'
refused_response "a status line led by a space" ' HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'
refused_response "a control byte in the reason" 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n'
refused_response "CL.TE" "${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused_response "TE.CL" "${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"
refused_response "two Content-Length" "${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\nA"
refused_response "Content-Length: +1" "${H}Content-Length: +1\r\n\r\nA"
refused_response "Content-Length: 1,1" "${H}Content-Length: 1,1\r\n\r\nA"
refused_response "TE: chunked, identity" "${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"
refused_response "TE: identity" "${H}Transfer-Encoding: identity\r\n\r\nabc"
refused_response "TE: xchunked" "${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
refused_response "TE with a space before the colon" "${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
refused_response "a folded line" "${H}X: 1\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused_response "NUL in a value" "${H}X: a\x00b\r\nContent-Length: 0\r\n\r\n"
refused_response "bare CR in a value" "${H}X: a\rb\r\nContent-Length: 0\r\n\r\n"
refused_response "a bare LF after chunk data (16 bytes more for others)" "${C}1\r\nA\n10\r\n\r\n"
refused_response "two bytes after chunk data, then a fake response" \
	"${C}1\r\nAXY0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"
refused_response "chunk size overflow" "${C}ffffffffffffffff1\r\n"
refused_response "a chunk size of 2^32 + 1 (1 for a 32-bit reader)" "${C}100000001\r\nA\r\n0\r\n\r\n"
refused_response "0x in a chunk size" "${C}0x3\r\nabc\r\n0\r\n\r\n"
refused_response "a bare LF in an extension" "${C}3;a\nb\r\nabc\r\n0\r\n\r\n"
refused_response "CR and any byte after the last chunk" "${C}0\r\n\rx"
ok "$n response shapes refused: a 502 for the client, both connections closed"

normalised_response() { # NAME BYTES STATUS BODY
	run_vtc_case strict_normalised.vtc -D what="$1" -D hex="$(hex "$2")" -D status="$3" -D body="$4" ||
		fail "response not normalised: $1"
	n=$((n + 1))
}
n=0
normalised_response "TE with a tab after the value" "${H}Transfer-Encoding: chunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n" 200 abc
normalised_response "chunk sizes with leading zeros and an extension" \
	"${C}0003;a=\"b\"\r\nabc\r\n000\r\nTE: chunked\r\n\r\n" 200 abc
normalised_response "framing fields in the trailer" \
	"${C}3\r\nabc\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n" 200 abc
normalised_response "Content-Length with leading zeros" "${H}Content-Length: 003\r\n\r\nabc" 200 abc
normalised_response "no reason phrase" 'HTTP/1.1 200\r\nContent-Length: 3\r\n\r\nabc' 200 abc
run_vtc_case strict_not_pooled.vtc -D what="HTTP/1.0 with Transfer-Encoding" -D status=200 -D body=hello \
	-D hex="$(hex 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n')" ||
	fail "HTTP/1.0 response with Transfer-Encoding: its connection was used again"
run_vtc strict_interim.vtc
ok "$((n + 1)) response shapes normalised: the client reads exactly what sluice framed, then the next response"
sluice_alive || fail "sluice died"
