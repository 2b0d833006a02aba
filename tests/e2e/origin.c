/*
 * origin.c - a small HTTP/1.1 origin server for sluice's end-to-end tests.
 *
 * The tests start this server, then send requests to it through the proxy.
 * Every route is designed to exercise one proxy behaviour (framing,
 * keep-alive reuse, hop-by-hop stripping, upstream failures, ...).
 *
 * Usage:
 *   origin [-l ADDR] [-p PORT] [-f PORTFILE]
 *   origin --gen N      write the N-byte body pattern to stdout and exit
 *
 * Standalone: libc + pthread only, Linux only.  One detached thread per
 * connection; memory per connection is bounded (bodies are streamed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX         (64u * 1024u)       /* cap on a request head */
#define RBUF_SIZE        (HEAD_MAX + 4096u)  /* per-connection read buffer */
#define CHUNK_LINE_MAX   1024u               /* cap on a chunk-size line */
#define IO_PIECE         16384u              /* streaming piece size */
#define RESP_CHUNK       4000u               /* max chunk size we send */
#define SLOW_PIECE       1000u
#define SLOW_DELAY_MS    10
#define LINGER_SECS      2                   /* lingering close timeout */
#define LINGER_DRAIN_MAX (1u << 20)
#define NUM_MAX          (UINT64_C(1) << 60) /* cap on numbers we parse */

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

struct conn {
	int fd;
	unsigned long id;      /* X-Conn-Id */
	unsigned long req_num; /* X-Req-Num of the current request */
	size_t rpos, rend;     /* unread data is rbuf[rpos, rend) */
	char rbuf[RBUF_SIZE];
};

struct request {
	char *raw;        /* exact head bytes as received */
	size_t raw_len;
	char *work;       /* mutable copy, split into strings while parsing */
	const char *method;
	const char *path; /* target path without query */
	int minor;        /* HTTP/1.<minor> */
	bool is_head;
	bool has_clen;
	uint64_t clen;
	bool te_seen;
	bool chunked;     /* last transfer coding is chunked */
	bool te_bad;      /* chunked not last, or empty TE */
	bool conn_close;
	bool conn_keep_alive;
	bool expect_continue;
	bool keep_alive;  /* decision: keep the connection after responding */
};

/* Raw request-body bytes go to a sink: NULL discards, else spooled. */
struct sink {
	FILE *spool;
	uint64_t total;
};

/* What to do with the connection after a response. */
enum action {
	ACT_KEEP,   /* read the next request */
	ACT_CLOSE,  /* graceful close: FIN, drain, close */
	ACT_ABORT,  /* plain close (peer gone or I/O failure) */
	ACT_RESET,  /* close with RST */
};

enum connhdr { CH_AUTO, CH_NONE };

enum { RD_OK = 1, RD_EOF = 0, RD_ERR = -1, RD_FULL = -2 };

enum route {
	RT_NOT_FOUND, RT_BAD_NUM,
	RT_BYTES, RT_CHUNKED, RT_CLOSE, RT_ECHO, RT_STATUS, RT_EARLY,
	RT_HANG, RT_TRUNCATE, RT_RESET, RT_GARBAGE, RT_HOPBYHOP, RT_SLOWBODY,
	RT_LATE,
	/* faults: the connection ends with a reset (SO_LINGER 0) at a chosen
	 * phase; /stall-body never reads a request body */
	RT_RST_HEAD, RT_RST_BODY, RT_RST_CHUNKED, RT_RST_AFTER, RT_RST_IDLE,
	RT_STALL_BODY,
};

static const struct route_def {
	const char *path;
	enum route id;
	bool numeric; /* path is a prefix followed by a decimal number */
} route_table[] = {
	{ "/bytes/",    RT_BYTES,    true  },
	{ "/chunked/",  RT_CHUNKED,  true  },
	{ "/close/",    RT_CLOSE,    true  },
	{ "/status/",   RT_STATUS,   true  },
	{ "/truncate/", RT_TRUNCATE, true  },
	{ "/slowbody/", RT_SLOWBODY, true  },
	{ "/late/",     RT_LATE,     true  },
	{ "/rst-head/",    RT_RST_HEAD,    true  },
	{ "/rst-body/",    RT_RST_BODY,    true  },
	{ "/rst-chunked/", RT_RST_CHUNKED, true  },
	{ "/rst-after/",   RT_RST_AFTER,   true  },
	{ "/rst-idle/",    RT_RST_IDLE,    true  },
	{ "/stall-body",   RT_STALL_BODY,  false },
	{ "/echo",      RT_ECHO,     false },
	{ "/early",     RT_EARLY,    false },
	{ "/hang",      RT_HANG,     false },
	{ "/reset",     RT_RESET,    false },
	{ "/garbage",   RT_GARBAGE,  false },
	{ "/hopbyhop",  RT_HOPBYHOP, false },
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static char pattern_byte(uint64_t i)
{
	return (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
}

static void pattern_fill(char *dst, uint64_t offset, size_t n)
{
	for (size_t k = 0; k < n; k++)
		dst[k] = pattern_byte(offset + k);
}

/* Strict decimal parse: digits only, value <= NUM_MAX. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > NUM_MAX)
			return -1;
	}
	*out = v;
	return 0;
}

static int hex_val(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

static bool is_blank_line(const char *p, size_t len)
{
	return (len == 1 && p[0] == '\n') ||
	       (len == 2 && p[0] == '\r' && p[1] == '\n');
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* Send `total` pattern bytes in pieces of `piece`, sleeping between them. */
static int send_pattern(int fd, uint64_t total, size_t piece, long delay_ms)
{
	char buf[IO_PIECE];
	uint64_t off = 0;

	if (piece > sizeof buf)
		piece = sizeof buf;
	while (off < total) {
		size_t k = total - off < piece ? (size_t)(total - off) : piece;

		if (off > 0 && delay_ms > 0)
			sleep_ms(delay_ms);
		pattern_fill(buf, off, k);
		if (send_all(fd, buf, k) < 0)
			return -1;
		off += k;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Buffered reading                                                    */
/* ------------------------------------------------------------------ */

static size_t conn_avail(const struct conn *c)
{
	return c->rend - c->rpos;
}

/* Compact the buffer and read more.  RD_OK, RD_EOF, RD_ERR or RD_FULL. */
static int conn_fill(struct conn *c)
{
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, conn_avail(c));
		c->rend -= c->rpos;
		c->rpos = 0;
	}
	if (c->rend == sizeof c->rbuf)
		return RD_FULL;
	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf + c->rend,
				 sizeof c->rbuf - c->rend, 0);
		if (n > 0) {
			c->rend += (size_t)n;
			return RD_OK;
		}
		if (n == 0)
			return RD_EOF;
		if (errno != EINTR)
			return RD_ERR;
	}
}

/* Skip empty lines before a request line (RFC 9112 section 2.2). */
static int skip_leading_blank(struct conn *c)
{
	size_t skipped = 0;

	for (;;) {
		while (c->rpos < c->rend &&
		       (c->rbuf[c->rpos] == '\r' || c->rbuf[c->rpos] == '\n')) {
			c->rpos++;
			if (++skipped > HEAD_MAX)
				return RD_FULL;
		}
		if (c->rpos < c->rend)
			return RD_OK;
		int r = conn_fill(c);
		if (r != RD_OK)
			return r;
	}
}

/*
 * Find the blank line that ends a head in p[0, n).  Returns the head
 * length including the blank line, or 0.  *scan is where to resume.
 */
static size_t find_head_end(const char *p, size_t n, size_t *scan)
{
	size_t i;

	for (i = *scan; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 >= n)
			break;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r') {
			if (i + 2 >= n)
				break;
			if (p[i + 2] == '\n')
				return i + 3;
		}
	}
	*scan = i;
	return 0;
}

/* Buffer a complete head at rbuf+rpos; its length goes to *len. */
static int read_head(struct conn *c, size_t *len)
{
	size_t scan = 0;
	int r = skip_leading_blank(c);

	if (r != RD_OK)
		return r;
	for (;;) {
		size_t avail = conn_avail(c);
		size_t end = find_head_end(c->rbuf + c->rpos, avail, &scan);

		if (end > HEAD_MAX || (end == 0 && avail >= HEAD_MAX))
			return RD_FULL;
		if (end > 0) {
			*len = end;
			return RD_OK;
		}
		r = conn_fill(c);
		if (r == RD_EOF)
			return RD_ERR; /* peer closed mid-head */
		if (r != RD_OK)
			return r;
	}
}

/*
 * Make sure a whole line (ending in LF, at most max bytes) is buffered at
 * rbuf+rpos.  Returns its length including the LF, or 0 on failure.
 */
static size_t peek_line(struct conn *c, size_t max)
{
	size_t scanned = 0;

	for (;;) {
		size_t avail = conn_avail(c);
		size_t lim = avail < max ? avail : max;
		const char *p = c->rbuf + c->rpos;
		const char *nl = memchr(p + scanned, '\n', lim - scanned);

		if (nl)
			return (size_t)(nl - p) + 1;
		if (avail >= max)
			return 0;
		scanned = lim;
		if (conn_fill(c) != RD_OK)
			return 0;
	}
}

static int sink_put(struct sink *s, const char *p, size_t n)
{
	if (!s || n == 0)
		return 0;
	if (fwrite(p, 1, n, s->spool) != n)
		return -1;
	s->total += n;
	return 0;
}

/* Consume n buffered bytes, handing them to the sink. */
static int take(struct conn *c, size_t n, struct sink *s)
{
	if (sink_put(s, c->rbuf + c->rpos, n) < 0)
		return -1;
	c->rpos += n;
	return 0;
}

static int pass_bytes(struct conn *c, uint64_t n, struct sink *s)
{
	while (n > 0) {
		if (conn_avail(c) == 0 && conn_fill(c) != RD_OK)
			return -1;
		size_t k = conn_avail(c);
		if (k > n)
			k = (size_t)n;
		if (take(c, k, s) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

/* chunk-size [ BWS ; chunk-ext ] CRLF   (bare LF tolerated) */
static int parse_chunk_size(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	int d;

	for (; i < len && (d = hex_val(p[i])) >= 0; i++) {
		if (v > (NUM_MAX >> 4))
			return -1;
		v = v * 16 + (uint64_t)d;
	}
	if (i == 0 || !strchr(" \t;\r\n", p[i]))
		return -1;
	for (; i < len - 1; i++) {
		bool final_cr = p[i] == '\r' && i + 2 == len;
		if (!final_cr && (p[i] == '\r' || p[i] == '\0'))
			return -1;
	}
	*out = v;
	return 0;
}

static int read_trailers(struct conn *c, struct sink *s)
{
	size_t total = 0;

	for (;;) {
		size_t len = peek_line(c, HEAD_MAX);
		if (len == 0)
			return -1;
		total += len;
		if (total > HEAD_MAX)
			return -1;
		bool blank = is_blank_line(c->rbuf + c->rpos, len);
		if (take(c, len, s) < 0)
			return -1;
		if (blank)
			return 0;
	}
}

static int read_chunked_body(struct conn *c, struct sink *s)
{
	for (;;) {
		uint64_t size;
		size_t len = peek_line(c, CHUNK_LINE_MAX);

		if (len == 0 ||
		    parse_chunk_size(c->rbuf + c->rpos, len, &size) < 0)
			return -1;
		if (take(c, len, s) < 0)
			return -1;
		if (size == 0)
			break;
		if (pass_bytes(c, size, s) < 0)
			return -1;
		len = peek_line(c, 2);
		if (len == 0 || !is_blank_line(c->rbuf + c->rpos, len))
			return -1;
		if (take(c, len, s) < 0)
			return -1;
	}
	return read_trailers(c, s);
}

static bool request_has_body(const struct request *rq)
{
	return rq->chunked || (rq->has_clen && rq->clen > 0);
}

static int read_body(struct conn *c, const struct request *rq, struct sink *s)
{
	if (rq->chunked)
		return read_chunked_body(c, s);
	if (rq->has_clen)
		return pass_bytes(c, rq->clen, s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Request head parsing                                                */
/* ------------------------------------------------------------------ */

/* Split off the next line (LF-terminated, trailing CR removed). */
static char *next_line(char **cur)
{
	char *s = *cur;
	char *nl = strchr(s, '\n');

	if (!nl)
		return NULL;
	*nl = '\0';
	*cur = nl + 1;
	if (nl > s && nl[-1] == '\r')
		nl[-1] = '\0';
	return s;
}

/* Next non-empty element of a comma-separated list, OWS trimmed. */
static bool next_list_item(char **cur, char **item)
{
	char *s = *cur;

	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	if (*s == '\0') {
		*cur = s;
		return false;
	}
	char *comma = strchr(s, ',');
	char *stop = comma ? comma : s + strlen(s);
	char *t = stop;

	while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
		t--;
	*t = '\0';
	*cur = comma ? comma + 1 : stop;
	*item = s;
	return true;
}

static int set_target_path(struct request *rq, char *target)
{
	char *p = target;

	if (strncasecmp(p, "http://", 7) == 0 ||
	    strncasecmp(p, "https://", 8) == 0) {
		p = strstr(p, "://") + 3;
		p = strpbrk(p, "/?#");
		if (!p || *p != '/') {
			rq->path = "/";
			return 0;
		}
	}
	p[strcspn(p, "?#")] = '\0';
	rq->path = p;
	return 0;
}

static int parse_request_line(struct request *rq, char *line)
{
	char *sp1 = strchr(line, ' ');
	if (!sp1)
		return 400;
	*sp1 = '\0';
	char *target = sp1 + 1;
	char *sp2 = strchr(target, ' ');
	if (!sp2)
		return 400;
	*sp2 = '\0';
	const char *ver = sp2 + 1;

	if (!is_token(line) || *target == '\0')
		return 400;
	for (const char *t = target; *t; t++)
		if ((unsigned char)*t <= 0x20 || *t == 0x7f)
			return 400;
	if (strlen(ver) != 8 || strncmp(ver, "HTTP/", 5) != 0 ||
	    ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
	    ver[7] < '0' || ver[7] > '9')
		return 400;
	if (ver[5] != '1')
		return 505;
	rq->minor = ver[7] - '0';
	rq->method = line;
	rq->is_head = strcmp(line, "HEAD") == 0;
	return set_target_path(rq, target);
}

static int apply_content_length(struct request *rq, char *value)
{
	char *item;
	uint64_t v;
	bool any = false;

	while (next_list_item(&value, &item)) {
		if (parse_u64(item, &v) < 0)
			return 400;
		if (rq->has_clen && rq->clen != v)
			return 400;
		rq->has_clen = true;
		rq->clen = v;
		any = true;
	}
	return any ? 0 : 400;
}

static int apply_transfer_encoding(struct request *rq, char *value)
{
	char *item;
	bool any = false;

	rq->te_seen = true;
	while (next_list_item(&value, &item)) {
		if (rq->chunked)
			rq->te_bad = true; /* something after chunked */
		rq->chunked = strcasecmp(item, "chunked") == 0;
		any = true;
	}
	if (!any)
		rq->te_bad = true;
	return 0;
}

static void apply_connection(struct request *rq, char *value)
{
	char *item;

	while (next_list_item(&value, &item)) {
		if (strcasecmp(item, "close") == 0)
			rq->conn_close = true;
		else if (strcasecmp(item, "keep-alive") == 0)
			rq->conn_keep_alive = true;
	}
}

static int parse_header_line(struct request *rq, char *line)
{
	if (*line == ' ' || *line == '\t')
		return 400; /* obs-fold */
	char *colon = strchr(line, ':');
	if (!colon)
		return 400;
	*colon = '\0';
	if (!is_token(line))
		return 400;

	char *value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t vlen = strlen(value);
	while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		value[--vlen] = '\0';
	for (size_t i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)value[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 400;
	}

	if (strcasecmp(line, "Content-Length") == 0)
		return apply_content_length(rq, value);
	if (strcasecmp(line, "Transfer-Encoding") == 0)
		return apply_transfer_encoding(rq, value);
	if (strcasecmp(line, "Connection") == 0)
		apply_connection(rq, value);
	else if (strcasecmp(line, "Expect") == 0)
		rq->expect_continue = strcasecmp(value, "100-continue") == 0;
	return 0;
}

static int finish_framing(struct request *rq)
{
	if (rq->minor >= 1)
		rq->keep_alive = !rq->conn_close;
	else
		rq->keep_alive = rq->conn_keep_alive && !rq->conn_close;

	if (!rq->te_seen)
		return 0;
	if (rq->te_bad)
		return 400;
	if (!rq->chunked)
		return 501; /* a coding we cannot frame */
	if (rq->has_clen || rq->minor == 0)
		rq->keep_alive = false; /* RFC 9112 6.1: close afterwards */
	rq->has_clen = false;
	return 0;
}

/* Copy and parse a head.  Returns 0, or an HTTP status for an error. */
static int request_parse(struct request *rq, const char *head, size_t len)
{
	rq->raw = malloc(len);
	rq->work = malloc(len + 1);
	if (!rq->raw || !rq->work)
		return 500;
	memcpy(rq->raw, head, len);
	rq->raw_len = len;
	memcpy(rq->work, head, len);
	rq->work[len] = '\0';
	if (memchr(head, '\0', len))
		return 400;

	char *cur = rq->work;
	char *line = next_line(&cur);
	int status = line ? parse_request_line(rq, line) : 400;

	while (status == 0 && (line = next_line(&cur)) != NULL && *line)
		status = parse_header_line(rq, line);
	return status ? status : finish_framing(rq);
}

static void request_free(struct request *rq)
{
	free(rq->raw);
	free(rq->work);
}

/* ------------------------------------------------------------------ */
/* Response writing                                                    */
/* ------------------------------------------------------------------ */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	switch (status / 100) {
	case 2: return "Success";
	case 3: return "Redirection";
	case 4: return "Client Error";
	default: return "Server Error";
	}
}

__attribute__((format(printf, 4, 5)))
static int buf_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

/*
 * Send a response head.  clen < 0 means no Content-Length.  With CH_AUTO
 * a Connection header reflecting rq->keep_alive is added when needed.
 */
static int send_head(struct conn *c, const struct request *rq, int status,
		     const char *extra, int64_t clen, bool chunked,
		     enum connhdr ch)
{
	char buf[2048];
	size_t len = 0;
	int rc = buf_append(buf, sizeof buf, &len,
			    "HTTP/1.1 %d %s\r\nServer: origin\r\n"
			    "X-Conn-Id: %lu\r\nX-Req-Num: %lu\r\n",
			    status, reason_phrase(status), c->id, c->req_num);

	if (rc == 0 && extra)
		rc = buf_append(buf, sizeof buf, &len, "%s", extra);
	if (rc == 0 && clen >= 0)
		rc = buf_append(buf, sizeof buf, &len,
				"Content-Length: %" PRId64 "\r\n", clen);
	if (rc == 0 && chunked)
		rc = buf_append(buf, sizeof buf, &len,
				"Transfer-Encoding: chunked\r\n");
	if (rc == 0 && ch == CH_AUTO && !rq->keep_alive)
		rc = buf_append(buf, sizeof buf, &len, "Connection: close\r\n");
	else if (rc == 0 && ch == CH_AUTO && rq->minor == 0)
		rc = buf_append(buf, sizeof buf, &len,
				"Connection: keep-alive\r\n");
	if (rc == 0)
		rc = buf_append(buf, sizeof buf, &len, "\r\n");
	return rc == 0 ? send_all(c->fd, buf, len) : -1;
}

static enum action after_response(const struct request *rq)
{
	return rq->keep_alive ? ACT_KEEP : ACT_CLOSE;
}

static enum action respond_text(struct conn *c, struct request *rq,
				int status, const char *body)
{
	size_t n = strlen(body);

	if (send_head(c, rq, status, "Content-Type: text/plain\r\n",
		      (int64_t)n, false, CH_AUTO) < 0)
		return ACT_ABORT;
	if (!rq->is_head && send_all(c->fd, body, n) < 0)
		return ACT_ABORT;
	return after_response(rq);
}

static enum action reject(struct conn *c, struct request *rq, int status)
{
	char body[64];

	rq->keep_alive = false;
	snprintf(body, sizeof body, "%d %s\n", status, reason_phrase(status));
	return respond_text(c, rq, status, body);
}

/* ------------------------------------------------------------------ */
/* Route handlers                                                      */
/* ------------------------------------------------------------------ */

static enum action h_bytes(struct conn *c, struct request *rq, uint64_t n)
{
	if (send_head(c, rq, 200, NULL, (int64_t)n, false, CH_AUTO) < 0)
		return ACT_ABORT;
	if (!rq->is_head && send_pattern(c->fd, n, IO_PIECE, 0) < 0)
		return ACT_ABORT;
	return after_response(rq);
}

static enum action h_chunked(struct conn *c, struct request *rq, uint64_t n)
{
	char buf[32 + RESP_CHUNK];

	if (send_head(c, rq, 200, NULL, -1, true, CH_AUTO) < 0)
		return ACT_ABORT;
	if (rq->is_head)
		return after_response(rq);
	for (uint64_t off = 0; off < n;) {
		size_t k = n - off < RESP_CHUNK ? (size_t)(n - off) : RESP_CHUNK;
		size_t hl = (size_t)snprintf(buf, sizeof buf, "%zx\r\n", k);

		pattern_fill(buf + hl, off, k);
		memcpy(buf + hl + k, "\r\n", 2);
		if (send_all(c->fd, buf, hl + k + 2) < 0)
			return ACT_ABORT;
		off += k;
	}
	if (send_str(c->fd, "0\r\nX-Trailer: done\r\n\r\n") < 0)
		return ACT_ABORT;
	return after_response(rq);
}

static enum action h_close(struct conn *c, struct request *rq, uint64_t n)
{
	rq->keep_alive = false;
	if (send_head(c, rq, 200, NULL, -1, false, CH_AUTO) < 0)
		return ACT_ABORT;
	if (!rq->is_head && send_pattern(c->fd, n, IO_PIECE, 0) < 0)
		return ACT_ABORT;
	return ACT_CLOSE;
}

static int send_spool(int fd, struct sink *body)
{
	char buf[IO_PIECE];
	uint64_t left = body->total;

	if (!body->spool || left == 0)
		return 0;
	if (fseek(body->spool, 0, SEEK_SET) < 0)
		return -1;
	while (left > 0) {
		size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
		size_t got = fread(buf, 1, want, body->spool);

		if (got == 0 || send_all(fd, buf, got) < 0)
			return -1;
		left -= got;
	}
	return 0;
}

static enum action h_echo(struct conn *c, struct request *rq, struct sink *body)
{
	uint64_t total = rq->raw_len + body->total;

	if (send_head(c, rq, 200, "Content-Type: text/plain\r\n",
		      (int64_t)total, false, CH_AUTO) < 0)
		return ACT_ABORT;
	if (rq->is_head)
		return after_response(rq);
	if (send_all(c->fd, rq->raw, rq->raw_len) < 0 ||
	    send_spool(c->fd, body) < 0)
		return ACT_ABORT;
	return after_response(rq);
}

static enum action h_status(struct conn *c, struct request *rq, uint64_t n)
{
	char body[32];

	if (n < 200 || n > 599)
		return respond_text(c, rq, 400, "status must be 200-599\n");
	int code = (int)n;
	if (code == 204 || code == 304) {
		if (send_head(c, rq, code, NULL, -1, false, CH_AUTO) < 0)
			return ACT_ABORT;
		return after_response(rq);
	}
	snprintf(body, sizeof body, "status %d\n", code);
	return respond_text(c, rq, code, body);
}

static enum action h_early(struct conn *c, struct request *rq)
{
	if (send_str(c->fd, "HTTP/1.1 103 Early Hints\r\n"
			    "Link: </style.css>; rel=preload\r\n\r\n") < 0)
		return ACT_ABORT;
	return respond_text(c, rq, 200, "after hints\n");
}

/* Never respond; block until the peer closes (or errors). */
static enum action h_hang(struct conn *c)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		return ACT_ABORT;
	}
}

static enum action h_truncate(struct conn *c, struct request *rq, uint64_t n)
{
	rq->keep_alive = false;
	if (send_head(c, rq, 200, NULL, (int64_t)n, false, CH_NONE) < 0)
		return ACT_ABORT;
	if (!rq->is_head && send_pattern(c->fd, n / 2, IO_PIECE, 0) < 0)
		return ACT_ABORT;
	return ACT_CLOSE;
}

static enum action h_garbage(struct conn *c, struct request *rq)
{
	rq->keep_alive = false;
	if (send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
			    "Content-Length: 7\r\n\r\n") < 0)
		return ACT_ABORT;
	if (!rq->is_head && send_str(c->fd, "hello") < 0)
		return ACT_ABORT;
	return ACT_CLOSE;
}

/* A normal answer, then N ms later an unsolicited 408 on the idle
 * connection, which stays open: a proxy must not take those bytes for the
 * answer to its next request on this connection. */
static enum action h_late(struct conn *c, struct request *rq, uint64_t ms)
{
	enum action act = respond_text(c, rq, 200, "ok\n");
	if (act != ACT_KEEP)
		return act;
	if (ms > 0) {
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (send_str(c->fd, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n") < 0)
		return ACT_ABORT;
	return ACT_KEEP;
}

static enum action h_hopbyhop(struct conn *c, struct request *rq)
{
	static const char extra[] =
		"Connection: close, X-Drop-Me\r\n"
		"X-Drop-Me: 1\r\n"
		"Keep-Alive: timeout=5\r\n"
		"Proxy-Connection: keep-alive\r\n"
		"Trailer: X-T\r\n"
		"Upgrade: foo\r\n"
		"X-Keep-Me: 1\r\n"
		"X-Keep-Me: 2\r\n"
		"x-MiXeD-Case: Yes\r\n";

	rq->keep_alive = false;
	if (send_head(c, rq, 200, extra, 4, false, CH_NONE) < 0)
		return ACT_ABORT;
	if (!rq->is_head && send_str(c->fd, "hop\n") < 0)
		return ACT_ABORT;
	return ACT_CLOSE;
}

static enum action h_slowbody(struct conn *c, struct request *rq, uint64_t n)
{
	if (send_head(c, rq, 200, NULL, (int64_t)n, false, CH_AUTO) < 0)
		return ACT_ABORT;
	if (!rq->is_head &&
	    send_pattern(c->fd, n, SLOW_PIECE, SLOW_DELAY_MS) < 0)
		return ACT_ABORT;
	return after_response(rq);
}

/* --- faults: a reset (SO_LINGER 0, then close) at a chosen phase ------ */

/* The first n bytes of a response head (n < its length), then a reset:
 * the peer never gets a complete head. */
static enum action h_rst_head(struct conn *c, struct request *rq, uint64_t n)
{
	char head[256];
	int len = snprintf(head, sizeof head,
			   "HTTP/1.1 200 OK\r\nServer: origin\r\nX-Conn-Id: %lu\r\n"
			   "X-Req-Num: %lu\r\nContent-Type: text/plain\r\n"
			   "Content-Length: 100\r\n\r\n", c->id, c->req_num);

	if (n >= (uint64_t)len)
		n = (uint64_t)len - 1;
	if (n > 0 && send_all(c->fd, head, (size_t)n) < 0)
		return ACT_ABORT;
	return ACT_RESET;
}

/* A head promising n bytes (Content-Length), half of them, then a reset. */
static enum action h_rst_body(struct conn *c, struct request *rq, uint64_t n)
{
	if (send_head(c, rq, 200, NULL, (int64_t)n, false, CH_AUTO) < 0)
		return ACT_ABORT;
	if (!rq->is_head && send_pattern(c->fd, n / 2, IO_PIECE, 0) < 0)
		return ACT_ABORT;
	return ACT_RESET;
}

/* A chunked body of n bytes cut by a reset in the middle of a chunk
 * (after half of them). */
static enum action h_rst_chunked(struct conn *c, struct request *rq, uint64_t n)
{
	char buf[32 + RESP_CHUNK];
	uint64_t cut = n / 2;

	if (send_head(c, rq, 200, NULL, -1, true, CH_AUTO) < 0)
		return ACT_ABORT;
	if (rq->is_head)
		return ACT_RESET;
	for (uint64_t off = 0; off < n;) {
		size_t k = n - off < RESP_CHUNK ? (size_t)(n - off) : RESP_CHUNK;
		size_t hl = (size_t)snprintf(buf, sizeof buf, "%zx\r\n", k);
		size_t part = k;

		if (off + k > cut)
			part = (size_t)(cut - off); /* this chunk is the last, cut short */
		pattern_fill(buf + hl, off, part);
		if (send_all(c->fd, buf, hl + part) < 0)
			return ACT_ABORT;
		if (part < k)
			break;
		if (send_str(c->fd, "\r\n") < 0)
			return ACT_ABORT;
		off += k;
	}
	return ACT_RESET;
}

/* Wait (at most 5 s) until every byte sent has left the send queue (on
 * loopback: is in the peer's receive queue): a reset discards what is
 * still unsent.  Waiting for the peer's acknowledgement instead could take
 * its delayed-ACK timer (tens of ms). */
static void wait_sent(int fd)
{
	struct timespec ts = { 0, 20000 };
	int unsent = 0;

	for (int i = 0; i < 250000; i++) {
		if (ioctl(fd, SIOCOUTQNSD, &unsent) < 0 || unsent == 0)
			return;
		nanosleep(&ts, NULL);
	}
}

/* A complete n-byte response that keeps the connection (as the request
 * allows), then a reset: whatever was pipelined behind it on this
 * connection is lost and must be asked again elsewhere.  The response is
 * whole at the peer first; the reset follows 0-299 us later (varying from
 * connection to connection), so that some arrive while the proxy is busy
 * with the response and with reusing the connection, not together with
 * it. */
static enum action h_rst_after(struct conn *c, struct request *rq, uint64_t n)
{
	struct timespec ts = { 0, (long)(c->id * 37 % 300) * 1000L };

	if (send_head(c, rq, 200, NULL, (int64_t)n, false, CH_AUTO) < 0)
		return ACT_ABORT;
	if (!rq->is_head && send_pattern(c->fd, n, IO_PIECE, 0) < 0)
		return ACT_ABORT;
	wait_sent(c->fd);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return ACT_RESET;
}

/* A complete kept-alive response, then the connection idles: if no next
 * request has begun within ms, a reset (a proxy's pooled connection dies
 * under it). */
static enum action h_rst_idle(struct conn *c, struct request *rq, uint64_t ms)
{
	enum action act = respond_text(c, rq, 200, "idle then reset\n");

	if (act != ACT_KEEP)
		return act;
	if (conn_avail(c) > 0)
		return ACT_KEEP;
	for (;;) {
		struct pollfd pfd = { c->fd, POLLIN, 0 };
		int r = poll(&pfd, 1, ms > 600000 ? 600000 : (int)ms);

		if (r < 0 && errno == EINTR)
			continue;
		return r > 0 ? ACT_KEEP : ACT_RESET;
	}
}

/* Never read the request body (nor answer): wait until the peer closes or
 * resets (at most 120 s), then close.  The body backs up into the peer. */
static enum action h_stall_body(struct conn *c)
{
	for (int waited = 0; waited < 120000; waited += 1000) {
		struct pollfd pfd = { c->fd, POLLRDHUP, 0 };
		int r = poll(&pfd, 1, 1000);

		if (r < 0 && errno != EINTR)
			break;
		if (r > 0)
			break;
	}
	return ACT_ABORT;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static enum route match_route(const char *path, uint64_t *num)
{
	for (size_t i = 0; i < sizeof route_table / sizeof route_table[0]; i++) {
		const struct route_def *r = &route_table[i];
		size_t plen = strlen(r->path);

		if (!r->numeric) {
			if (strcmp(path, r->path) == 0)
				return r->id;
			continue;
		}
		if (strncmp(path, r->path, plen) == 0)
			return parse_u64(path + plen, num) == 0 ? r->id
								: RT_BAD_NUM;
	}
	return RT_NOT_FOUND;
}

static enum action dispatch(struct conn *c, struct request *rq,
			    enum route rt, uint64_t n, struct sink *body)
{
	switch (rt) {
	case RT_BYTES:     return h_bytes(c, rq, n);
	case RT_CHUNKED:   return h_chunked(c, rq, n);
	case RT_CLOSE:     return h_close(c, rq, n);
	case RT_ECHO:      return h_echo(c, rq, body);
	case RT_STATUS:    return h_status(c, rq, n);
	case RT_EARLY:     return h_early(c, rq);
	case RT_HANG:      return h_hang(c);
	case RT_TRUNCATE:  return h_truncate(c, rq, n);
	case RT_RESET:     return ACT_RESET;
	case RT_GARBAGE:   return h_garbage(c, rq);
	case RT_HOPBYHOP:  return h_hopbyhop(c, rq);
	case RT_SLOWBODY:  return h_slowbody(c, rq, n);
	case RT_LATE:      return h_late(c, rq, n);
	case RT_RST_HEAD:    return h_rst_head(c, rq, n);
	case RT_RST_BODY:    return h_rst_body(c, rq, n);
	case RT_RST_CHUNKED: return h_rst_chunked(c, rq, n);
	case RT_RST_AFTER:   return h_rst_after(c, rq, n);
	case RT_RST_IDLE:    return h_rst_idle(c, rq, n);
	case RT_STALL_BODY:  return h_stall_body(c);
	case RT_BAD_NUM:   return respond_text(c, rq, 400, "bad number\n");
	case RT_NOT_FOUND: break;
	}
	return respond_text(c, rq, 404, "not found\n");
}

static enum action handle_request(struct conn *c, struct request *rq)
{
	uint64_t n = 0;
	enum route rt = match_route(rq->path, &n);
	struct sink spool = { NULL, 0 };
	struct sink *body_sink = NULL;
	enum action act;

	if (rt == RT_STALL_BODY)
		return h_stall_body(c); /* its body is never read */
	if (rt == RT_ECHO && request_has_body(rq)) {
		spool.spool = tmpfile();
		if (!spool.spool)
			return reject(c, rq, 500);
		body_sink = &spool;
	}
	if (request_has_body(rq) && rq->expect_continue && rq->minor >= 1 &&
	    send_str(c->fd, "HTTP/1.1 100 Continue\r\n\r\n") < 0)
		act = ACT_ABORT;
	else if (read_body(c, rq, body_sink) < 0)
		act = reject(c, rq, 400);
	else
		act = dispatch(c, rq, rt, n, &spool);
	if (spool.spool)
		fclose(spool.spool);
	return act;
}

/* Serve requests until the connection should end; returns how to end it. */
static enum action serve(struct conn *c)
{
	for (;;) {
		struct request rq;
		size_t head_len = 0;
		enum action act;
		int r = read_head(c, &head_len);

		if (r == RD_EOF || r == RD_ERR)
			return ACT_ABORT;
		c->req_num++;
		memset(&rq, 0, sizeof rq);
		rq.minor = 1;
		if (r == RD_FULL) {
			act = reject(c, &rq, 431);
		} else {
			int status = request_parse(&rq, c->rbuf + c->rpos,
						   head_len);
			c->rpos += head_len;
			act = status ? reject(c, &rq, status)
				     : handle_request(c, &rq);
		}
		request_free(&rq);
		if (act != ACT_KEEP)
			return act;
	}
}

/* Half-close, drain what the peer still sends (bounded), then close. */
static void lingering_close(int fd)
{
	struct timeval tv = { LINGER_SECS, 0 };
	char buf[4096];
	size_t drained = 0;

	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	while (drained < LINGER_DRAIN_MAX) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n > 0)
			drained += (size_t)n;
		else if (!(n < 0 && errno == EINTR))
			break;
	}
	close(fd);
}

static void reset_close(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

static void *conn_thread(void *arg)
{
	struct conn *c = arg;

	switch (serve(c)) {
	case ACT_RESET:
		reset_close(c->fd);
		break;
	case ACT_CLOSE:
		lingering_close(c->fd);
		break;
	case ACT_KEEP:
	case ACT_ABORT:
		close(c->fd);
		break;
	}
	free(c);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Listener, signals, main                                             */
/* ------------------------------------------------------------------ */

static void spawn_conn(const pthread_attr_t *attr, int fd, unsigned long id)
{
	int one = 1;
	pthread_t tid;
	struct conn *c = calloc(1, sizeof *c);

	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->id = id;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	int err = pthread_create(&tid, attr, conn_thread, c);
	if (err != 0) {
		fprintf(stderr, "origin: pthread_create: %s\n", strerror(err));
		close(fd);
		free(c);
	}
}

static void accept_loop(int lfd, int sfd)
{
	pthread_attr_t attr;
	unsigned long next_id = 0;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct pollfd pfd[2] = { { lfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("origin: poll");
			break;
		}
		if (pfd[1].revents)
			break; /* SIGTERM or SIGINT */
		if (!(pfd[0].revents & POLLIN))
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				sleep_ms(10); /* avoid spinning */
			continue;
		}
		spawn_conn(&attr, fd, ++next_id);
	}
	pthread_attr_destroy(&attr);
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Listen on a numeric address (IPv4, IPv6, or [IPv6]); returns the fd. */
static int open_listener(const char *addr, const char *port)
{
	char host[INET6_ADDRSTRLEN + 8];
	struct addrinfo hints, *res, *ai;
	size_t alen = strlen(addr);
	int fd = -1, one = 1;

	if (alen >= sizeof host) {
		fprintf(stderr, "origin: bad address: %s\n", addr);
		return -1;
	}
	if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']')
		snprintf(host, sizeof host, "%.*s", (int)(alen - 2), addr + 1);
	else
		snprintf(host, sizeof host, "%s", addr);

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	int err = getaddrinfo(host, port, &hints, &res);
	if (err != 0) {
		fprintf(stderr, "origin: %s: %s\n", addr, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		perror("origin: bind/listen");
	freeaddrinfo(res);
	return fd;
}

/* Write "PORT\n" to path atomically (path.tmp, then rename). */
static int write_port_file(const char *path, int port)
{
	char line[16];
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 5);
	int rc = -1;

	if (!tmp)
		return -1;
	snprintf(tmp, plen + 5, "%s.tmp", path);
	int n = snprintf(line, sizeof line, "%d\n", port);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		int wr = write_all(fd, line, (size_t)n);
		if (close(fd) == 0 && wr == 0 && rename(tmp, path) == 0)
			rc = 0;
	}
	if (rc < 0) {
		perror("origin: port file");
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static int gen_pattern(uint64_t n)
{
	char buf[IO_PIECE];

	for (uint64_t off = 0; off < n;) {
		size_t k = n - off < sizeof buf ? (size_t)(n - off) : sizeof buf;

		pattern_fill(buf, off, k);
		if (write_all(STDOUT_FILENO, buf, k) < 0)
			return 1;
		off += k;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: origin [-l ADDR] [-p PORT] [-f PORTFILE]\n"
		     "       origin --gen N\n");
}

/* Block SIGTERM/SIGINT in every thread and receive them via a signalfd. */
static int setup_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "gen",      required_argument, NULL, 'g' },
		{ "listen",   required_argument, NULL, 'l' },
		{ "port",     required_argument, NULL, 'p' },
		{ "portfile", required_argument, NULL, 'f' },
		{ "help",     no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = "127.0.0.1", *port = "0", *portfile = NULL;
	uint64_t num;
	int opt;

	while ((opt = getopt_long(argc, argv, "l:p:f:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'g':
			if (parse_u64(optarg, &num) < 0) {
				fprintf(stderr, "origin: bad --gen value\n");
				return 2;
			}
			return gen_pattern(num);
		case 'l': addr = optarg; break;
		case 'p': port = optarg; break;
		case 'f': portfile = optarg; break;
		case 'h': usage(stdout); return 0;
		default:  usage(stderr); return 2;
		}
	}
	if (optind != argc || parse_u64(port, &num) < 0 || num > 65535) {
		usage(stderr);
		return 2;
	}

	int sfd = setup_signals();
	if (sfd < 0) {
		perror("origin: signals");
		return 1;
	}
	int lfd = open_listener(addr, port);
	if (lfd < 0)
		return 1;
	int bport = bound_port(lfd);
	if (bport < 0) {
		perror("origin: getsockname");
		return 1;
	}
	printf("%d\n", bport);
	fflush(stdout);
	if (portfile && write_port_file(portfile, bport) < 0)
		return 1;

	accept_loop(lfd, sfd);
	close(lfd);
	close(sfd);
	if (portfile)
		unlink(portfile);
	return 0;
}
