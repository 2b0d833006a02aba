#include "sluice/log.h"

#include "sluice/fmt.h"
#include "sluice/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;

/* The two log files.  An fd here is set before the threads start and keeps
 * its number until exit (log_reopen swaps the file behind it), so the
 * threads read it without locks.  A path is "" when there is no file of ours
 * to reopen or close: stderr, or an access log that is off. */
static int log_fd = STDERR_FILENO;
static char log_path[4096];
static int access_fd = -1;
static char access_path[4096];

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *const alias[] = { "err", "warning", NULL, NULL };
	for (int i = 0; i <= LOG_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0 || (alias[i] && strcmp(s, alias[i]) == 0)) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* O_APPEND: a line lands whole at the end even when logrotate's
 * copytruncate, or another writer, moved the end under us. */
static int open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* Open path for appending log lines, remembering it in keep (a 4096-byte
 * path buffer) for log_reopen.  Returns the fd, or -1 with errno set. */
static int open_log_file(const char *path, char *keep, size_t keeplen)
{
	size_t len = strlen(path);
	if (len >= keeplen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open_append(path);
	if (fd == -1)
		return -1;
	memcpy(keep, path, len + 1);
	return fd;
}

int log_open(enum log_level level, const char *path)
{
	log_threshold = level;
	int fd = STDERR_FILENO;
	char keep[sizeof(log_path)] = "";
	if (path != NULL && strcmp(path, "stderr") != 0) {
		fd = open_log_file(path, keep, sizeof(keep));
		if (fd == -1)
			return -1;
	}
	if (log_path[0] != '\0')
		close(log_fd);
	log_fd = fd;
	memcpy(log_path, keep, sizeof(log_path));
	return 0;
}

int access_log_open(const char *path, int *fd)
{
	access_log_close();
	if (strcmp(path, "off") == 0) {
		access_fd = -1;
	} else if (strcmp(path, "stderr") == 0) {
		access_fd = STDERR_FILENO;
	} else {
		access_fd = open_log_file(path, access_path, sizeof(access_path));
		if (access_fd == -1)
			return -1;
	}
	*fd = access_fd;
	return 0;
}

void access_log_close(void)
{
	if (access_path[0] != '\0')
		close(access_fd);
	access_path[0] = '\0';
	access_fd = -1;
}

/* Point fd, which other threads may be writing to, at a fresh open of path.
 * dup3 swaps the file behind the number in one step: a write in flight
 * finishes on the old file, the next one goes to the new file.  Closing fd
 * and opening the path again would free the number for a moment, and a
 * worker's accept or connect could take it; a log line would then go into
 * a client's socket.  Returns 0, or -1 with errno set and fd untouched. */
static int reopen_fd(int fd, const char *path)
{
	int tmp = open_append(path);
	if (tmp == -1)
		return -1;
	int r;
	do
		r = dup3(tmp, fd, O_CLOEXEC);
	while (r == -1 && errno == EINTR);
	int saved = errno;
	/* Nothing to check: on success the file stays open through fd; on
	 * failure tmp was ours alone and we are giving up on it. */
	close(tmp);
	errno = saved;
	return r == -1 ? -1 : 0;
}

/* Append "WHAT PATH: strerror(errno)" to err, "; "-separated. */
static void add_error(char *err, size_t errlen, const char *what, const char *path)
{
	size_t n = strnlen(err, errlen);
	if (n + 1 >= errlen)
		return;
	snprintf(err + n, errlen - n, "%s%s %s: %s", n > 0 ? "; " : "", what, path, strerror(errno));
}

/* Lines a worker buffered before the reopen and flushes after it go to the
 * new access log, and a flush that races the dup3 goes to the old one: near
 * a rotation a line may land in either file.  That is the price of keeping
 * the workers' request path free of locks, and acceptable for a log. */
int log_reopen(char *err, size_t errlen)
{
	int rc = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (log_path[0] != '\0' && reopen_fd(log_fd, log_path) == -1) {
		add_error(err, errlen, "error_log", log_path);
		rc = -1;
	}
	if (access_path[0] != '\0' && reopen_fd(access_fd, access_path) == -1) {
		add_error(err, errlen, "access_log", access_path);
		rc = -1;
	}
	return rc;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > log_threshold)
		return;
	int saved = errno;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ sluice[%d] %s: ",
		      ts.tv_nsec / 1000000, (int)getpid(), level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line: concurrent workers never interleave inside a line. */
	ssize_t w = write(log_fd, line, (size_t)n);
	(void)w;
	errno = saved;
}

/* An IPv4 address as inet_ntop writes it (at most 15 bytes), at a tenth of
 * its cost: every access-log line has one or two. */
static size_t put_ipv4(char *d, const struct in_addr *a)
{
	const uint8_t *b = (const uint8_t *)&a->s_addr;
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		if (i)
			d[n++] = '.';
		n += fmt_u64(d + n, b[i]);
	}
	return n;
}

const char *log_host(const struct sockaddr *sa, char *buf, size_t len)
{
	if (sa == NULL) {
		snprintf(buf, len, "-");
	} else if (sa->sa_family == AF_INET && len >= INET_ADDRSTRLEN) {
		buf[put_ipv4(buf, &((const struct sockaddr_in *)sa)->sin_addr)] = '\0';
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)len);
	} else {
		snprintf(buf, len, "-");
	}
	return buf;
}

const char *log_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	log_host(sa, host, sizeof(host));
	if (sa && sa->sa_family == AF_INET)
		snprintf(buf, len, "%s:%u", host, ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else if (sa && sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	else
		snprintf(buf, len, "%s", host);
	return buf;
}

/* --- access log ------------------------------------------------------------ */

void access_log_init(struct access_log *al, int fd, enum access_format format)
{
	al->fd = fd;
	al->format = format;
	al->len = 0;
}

void access_log_flush(struct access_log *al)
{
	size_t off = 0;
	while (off < al->len) {
		ssize_t w = write(al->fd, al->buf + off, al->len - off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			break; /* a full disk must not stop the proxy: drop the batch */
		}
		off += (size_t)w;
	}
	al->len = 0;
}

/* Copy a field with spaces and control bytes escaped, so a line always has
 * the same number of fields whatever a client put in its URL. */
static size_t put_field(char *dst, size_t room, const char *s, size_t len)
{
	/* bytes a field cannot hold as they are: spaces, controls, '"', non-ASCII */
	static const uint8_t escape[256] = {
		[0 ... 32] = 1, ['"'] = 1, [127 ... 255] = 1,
	};
	size_t n = 0;
	if (s == NULL || len == 0) {
		if (room > 0)
			dst[n++] = '-';
		return n;
	}
	for (size_t i = 0; i < len && n + 3 < room;) {
		/* a run of plain bytes goes in one copy */
		size_t j = i, max = i + (room - 3 - n);
		while (j < len && j < max && !escape[(unsigned char)s[j]])
			j++;
		memcpy(dst + n, s + i, j - i);
		n += j - i;
		i = j;
		if (i < len && n + 3 < room && escape[(unsigned char)s[i]]) {
			static const char hex[] = "0123456789ABCDEF";
			unsigned char c = (unsigned char)s[i++];
			dst[n++] = '%';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		}
	}
	return n;
}

/* --- the JSON format: one object per line, every string escaped (json.h) --- */

struct jline {
	char *p;
	size_t n, room;
};

static void jraw(struct jline *j, const char *s, size_t len)
{
	if (len > j->room - j->n)
		len = j->room - j->n;
	memcpy(j->p + j->n, s, len);
	j->n += len;
}

static void jfmt(struct jline *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jfmt(struct jline *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(j->p + j->n, j->room - j->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		j->n += (size_t)k < j->room - j->n ? (size_t)k : j->room - j->n - 1;
}

/* ,"key":"value" (null for NULL), at most max bytes of escaped value */
static void jstr(struct jline *j, const char *key, const char *s, size_t len, size_t max)
{
	jfmt(j, ",\"%s\":", key);
	if (s == NULL) {
		jraw(j, "null", 4);
		return;
	}
	size_t used;
	jraw(j, "\"", 1);
	size_t room = j->room - j->n > 2 ? j->room - j->n - 2 : 0;
	j->n += json_escape(j->p + j->n, room < max ? room : max, s, len, &used);
	jraw(j, "\"", 1);
}

/* ,"key":ms with microseconds, or null */
static void jms(struct jline *j, const char *key, int64_t us)
{
	if (us < 0)
		jfmt(j, ",\"%s\":null", key);
	else
		jfmt(j, ",\"%s\":%lld.%03lld", key, (long long)(us / 1000), (long long)(us % 1000));
}

static size_t json_line(char *line, size_t room, const struct access_entry *e)
{
	struct jline j = { line, 0, room };
	char client[INET6_ADDRSTRLEN], when[40];
	struct tm tm;
	time_t t = (time_t)(e->end_ms / 1000);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	log_host(e->client, client, sizeof(client));
	/* the time the transaction completed, as in the other formats */
	jfmt(&j, "{\"time\":\"%s.%03lluZ\",\"client\":\"%s\",\"client_port\":%u", when,
	     (unsigned long long)(e->end_ms % 1000), client, e->client_port);
	jstr(&j, "user", e->user, e->user ? strlen(e->user) : 0, 512);
	jstr(&j, "method", e->method, e->method ? strlen(e->method) : 0, 64);
	jstr(&j, "url", e->url, e->url_len, 8192);
	jfmt(&j, ",\"status\":%d,\"code\":\"%s\",\"bytes_up\":%llu,\"bytes_down\":%llu", e->status, e->code,
	     (unsigned long long)e->bytes_up, (unsigned long long)e->bytes);
	jstr(&j, "upstream", e->peer && strcmp(e->peer, "-") != 0 ? e->peer : NULL, e->peer ? strlen(e->peer) : 0, 64);
	jfmt(&j, ",\"hierarchy\":\"%s\",\"reused\":%s", e->hier, e->reused ? "true" : "false");
	jstr(&j, "content_type", e->type, e->type_len, 256);
	jstr(&j, "cause", e->reason, e->reason ? strlen(e->reason) : 0, 512);
	jms(&j, "dns_ms", e->dns_us);
	jms(&j, "connect_ms", e->connect_us);
	jms(&j, "head_ms", e->head_us);
	jms(&j, "total_ms", (int64_t)e->total_us);
	jfmt(&j, ",\"tunnel\":%s", e->tunnel ? "true" : "false");
	jstr(&j, "sni", e->sni, e->sni ? strlen(e->sni) : 0, 512);
	jraw(&j, "}", 1);
	return j.n;
}

/* v right-aligned in width characters (at least), as printf's %*llu. */
static size_t put_u64_width(char *d, uint64_t v, size_t width)
{
	char t[20];
	size_t n = fmt_u64(t, v), pad = n < width ? width - n : 0;
	memset(d, ' ', pad);
	memcpy(d + pad, t, n);
	return pad + n;
}

static size_t put_str(char *d, const char *s)
{
	size_t n = strlen(s);
	memcpy(d, s, n);
	return n;
}

static size_t put_client(char *d, const struct sockaddr *sa)
{
	if (sa && sa->sa_family == AF_INET)
		return put_ipv4(d, &((const struct sockaddr_in *)sa)->sin_addr);
	char host[INET6_ADDRSTRLEN];
	return put_str(d, log_host(sa, host, sizeof(host)));
}

/* The combined format's time, made once a second per worker. */
static size_t put_clf_time(struct access_log *al, char *d, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	if (t != al->when_sec || al->when_len == 0) {
		struct tm tm;
		gmtime_r(&t, &tm);
		al->when_len = strftime(al->when, sizeof(al->when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
		al->when_sec = t;
	}
	memcpy(d, al->when, al->when_len);
	return al->when_len;
}

void access_log_write(struct access_log *al, const struct access_entry *e)
{
	if (al->fd == -1)
		return;
	if (al->format == ACCESS_JSON) {
		char jl[16384];
		size_t n = json_line(jl, sizeof(jl) - 1, e);
		jl[n++] = '\n';
		if (al->len + n > sizeof(al->buf))
			access_log_flush(al);
		memcpy(al->buf + al->len, jl, n);
		al->len += n;
		return;
	}
	/* Every piece has a bound: the fixed ones below 200 bytes together,
	 * the URL 4096, the user, the peer and the type 256, the hierarchy 64
	 * (put_field), the reason 600 (a literal, or record.c's tunnel note of
	 * at most 512): 5,800 at most. */
	char line[6144];
	size_t n;
	const char *method = e->method ? e->method : "-";
	const char *user = e->user ? e->user : "-";
	if (al->format == ACCESS_SQUID) {
		/* time elapsed remotehost code/status bytes method URL rfc931 peerstatus/peerhost type */
		n = fmt_u64(line, e->end_ms / 1000);
		line[n++] = '.';
		line[n++] = (char)('0' + e->end_ms % 1000 / 100);
		line[n++] = (char)('0' + e->end_ms % 100 / 10);
		line[n++] = (char)('0' + e->end_ms % 10);
		line[n++] = ' ';
		n += put_u64_width(line + n, e->elapsed_ms, 6);
		line[n++] = ' ';
		n += put_client(line + n, e->client);
		line[n++] = ' ';
		n += put_str(line + n, e->code);
		line[n++] = '/';
		unsigned st = e->status >= 0 && e->status < 1000 ? (unsigned)e->status : 0;
		line[n++] = (char)('0' + st / 100);
		line[n++] = (char)('0' + st / 10 % 10);
		line[n++] = (char)('0' + st % 10);
		line[n++] = ' ';
		n += fmt_u64(line + n, e->bytes);
		line[n++] = ' ';
		n += put_str(line + n, method);
		line[n++] = ' ';
	} else {
		n = put_client(line, e->client);
		memcpy(line + n, " - ", 3);
		n += 3;
		n += put_field(line + n, 256, user, strlen(user));
		memcpy(line + n, " [", 2);
		n += 2;
		/* completion, as squid stamps its combined format too */
		n += put_clf_time(al, line + n, e->end_ms);
		memcpy(line + n, "] \"", 3);
		n += 3;
		n += put_str(line + n, method);
		line[n++] = ' ';
	}
	n += put_field(line + n, 4096, e->url, e->url ? e->url_len : 0);
	if (al->format == ACCESS_SQUID) {
		line[n++] = ' ';
		n += put_field(line + n, 256, user, strlen(user));
		line[n++] = ' ';
		n += put_field(line + n, 64, e->hier, strlen(e->hier));
		line[n++] = '/';
		n += put_field(line + n, 256, e->peer ? e->peer : "-", strlen(e->peer ? e->peer : "-"));
		line[n++] = ' ';
		n += put_field(line + n, 256, e->type, e->type ? e->type_len : 0);
	} else {
		memcpy(line + n, " HTTP/1.1\" ", 11);
		n += 11;
		n += fmt_u64(line + n, e->status >= 0 ? (uint64_t)e->status : 0);
		line[n++] = ' ';
		n += fmt_u64(line + n, e->bytes);
	}
	if (e->reason) {
		size_t rl = strnlen(e->reason, 600);
		memcpy(line + n, " \"", 2);
		memcpy(line + n + 2, e->reason, rl);
		n += 2 + rl;
		line[n++] = '"';
	}
	line[n++] = '\n';
	if (al->len + n > sizeof(al->buf))
		access_log_flush(al);
	memcpy(al->buf + al->len, line, n);
	al->len += n;
}
