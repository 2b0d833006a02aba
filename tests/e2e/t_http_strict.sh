# Framing no peer can read two ways: the shapes issue 10 found in sluice
# (lenient chunked framing, a status read differently, interim responses
# with framing headers, control bytes in targets), each refused or
# normalised, in both directions.  Requests are checked against the test
# origin; responses against Varnish's strict HTTP/1 parser (varnishtest).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
command -v varnishtest >/dev/null || skip "varnishtest missing"

start_origin
start_sluice
P=$ORIGIN_PORT

# refused_request NAME BYTES WHY: the request (head and body) gets a 400
# naming WHY, and the connection is closed.
refused_request() {
	printf '%b' "$2" | raw "$SLUICE_PORT" >"$T/resp" || fail "$1: connection left open"
	expect_eq "$(status_of "$T/resp")" "HTTP/1.1 400 Bad Request" "$1: status"
	grep -aq -- "$3" "$T/resp" || fail "$1: reply does not say '$3': $(body_of "$T/resp")"
}

POST="POST http://127.0.0.1:$P/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
refused_request "two bytes after chunk data" "${POST}1\r\nAXY0\r\n\r\n" "chunk data not followed by CRLF"
refused_request "bare LF after chunk data" "${POST}1\r\nA\n10\r\n\r\n" "chunk data not followed by CRLF"
refused_request "CR then any byte in a size line" "${POST}1\rxA\r\n0\r\n\r\n" "bare CR in chunked framing"
refused_request "CR then any byte at the end" "${POST}0\r\n\rx" "bare CR in chunked framing"
refused_request "chunk size overflow" "${POST}ffffffffffffffff1\r\nA\r\n0\r\n\r\n" "chunk size too long"
refused_request "0x in a chunk size" "${POST}0x1\r\nA\r\n0\r\n\r\n" "invalid chunk extension"
refused_request "quoted extension over a line end" "${POST}1;a=\"x\r\ny\"\r\nA\r\n0\r\n\r\n" "invalid chunk extension"
refused_request "malformed trailer" "${POST}0\r\nX-T : 1\r\n\r\n" "malformed trailer field"
ok "malformed chunked request bodies get 400 naming the cause, and the connection closes"

for b in '\t' '\f' '\x01' '\x7f' '\xff'; do
	printf "GET http://127.0.0.1:$P/a${b}b HTTP/1.1\r\nConnection: close\r\n\r\n" | raw "$SLUICE_PORT" >"$T/resp"
	expect_eq "$(status_of "$T/resp")" "HTTP/1.1 400 Bad Request" "target with byte $b"
done
printf "GET  http://127.0.0.1:$P/ HTTP/1.1\r\nConnection: close\r\n\r\n" | raw "$SLUICE_PORT" >"$T/resp"
expect_eq "$(status_of "$T/resp")" "HTTP/1.1 400 Bad Request" "two spaces in the request line"
ok "request targets with control or non-ASCII bytes, and request lines with two spaces, get 400"

# a valid chunked request behind which a second request is pipelined: the
# origin frames the first body exactly as sluice did, then reads the second
printf "${POST}3;x=\"y\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET http://127.0.0.1:$P/bytes/4 HTTP/1.1\r\nConnection: close\r\n\r\n" |
	raw "$SLUICE_PORT" >"$T/resp"
expect_eq "$(grep -ac '^HTTP/1.1 200 OK' "$T/resp")" 2 "pipelined after a chunked request: responses"
grep -aq "3"$'\r'"\$" "$T/resp" || fail "the origin did not read the re-framed chunk"
ok "a chunked request with an extension and a trailer is re-framed and the next request follows it"

# --- responses: refused -------------------------------------------------------------------
hex() { printf '%b' "$1" | perl -0777 -ne 'print unpack("H*", $_)'; }
refused_response() { # WHAT BYTES
	run_vtc_case strict_refused.vtc -D what="$1" -D hex="$(hex "$2")" || fail "response not refused: $1"
}
refused_response "bare LF after chunk data (a 16-byte chunk for others)" \
	'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\n10\r\n\r\n'
refused_response "two bytes after chunk data, then a fake response" \
	'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nAXY0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL'
refused_response "two spaces before the status" 'HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n'
refused_response "a leading zero in the status" 'HTTP/1.1 0200 OK\r\nContent-Length: 0\r\n\r\n'
refused_response "a status of four digits" 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'
refused_response "a control byte in the reason" 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n'
refused_response "chunked, then identity" 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'
refused_response "Transfer-Encoding with Content-Length" \
	'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n'
refused_response "two Content-Length" 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nA'
refused_response "chunk size overflow" 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\n'
ok "responses framed wrong get 502, both connections close, nothing of them reaches anyone"

# --- responses: one reading only ---------------------------------------------------------------
normalised_response() { # WHAT BYTES STATUS BODY
	run_vtc_case strict_normalised.vtc -D what="$1" -D hex="$(hex "$2")" -D status="$3" -D body="$4" ||
		fail "response not normalised: $1"
}
normalised_response "Transfer-Encoding: chunked followed by a tab" \
	'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n' 200 abc
normalised_response "a chunk size with leading zeros and an extension" \
	'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0003;a="b"\r\nabc\r\n000\r\nTE: chunked\r\n\r\n' 200 abc
normalised_response "Content-Length with leading zeros" 'HTTP/1.1 200 OK\r\nContent-Length: 003\r\n\r\nabc' 200 abc
normalised_response "no reason phrase" 'HTTP/1.1 200\r\nContent-Length: 3\r\n\r\nabc' 200 abc
run_vtc strict_interim.vtc
ok "odd but unambiguous responses are re-framed so the client reads exactly what sluice read"
sluice_alive || fail "sluice died"
