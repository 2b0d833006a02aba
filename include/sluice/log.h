/* log: the error log (levels, to stderr or a file) and the access log
 * (squid native or combined format, buffered per worker).
 *
 * The error log is shared by all threads; each message is formatted into a
 * stack buffer and written with one write(2), so lines never interleave.
 * The access log is buffered per worker (struct access_log) and flushed when
 * the buffer fills, once a second, and at exit.
 *
 * This module owns both log files.  Each is opened once, at startup, on an
 * fd number that stays the same until exit: the threads write to that
 * number without locks.  log_reopen() (SIGUSR1, after logrotate renamed the
 * files) opens each path anew and dup3()s the new file over that number, so
 * a thread writes either to the old file or to the new one, never to a
 * closed or reused fd.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the error log's threshold and destination; path NULL or "stderr" means
 * stderr.  Call before starting any thread that logs.  Returns 0, or -1 with
 * errno set when the file cannot be opened (the log stays where it was). */
int log_open(enum log_level level, const char *path);
extern enum log_level log_threshold;

/* Reopen the error log and the access log at the paths they were opened
 * with; "stderr" and "off" have nothing to reopen.  Call from one thread (the
 * signal loop), while others may be logging.  Returns 0, or -1 with what
 * failed in err ("access_log PATH: No such file or directory"); a log that
 * cannot be reopened goes on writing to its old file. */
int log_reopen(char *err, size_t errlen);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_threshold >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/* Parse "err", "warn", "info", "debug".  Returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

/* Format an address as "1.2.3.4:80" or "[::1]:80" into buf (>= 64 bytes). */
const char *log_addr(const struct sockaddr *sa, char *buf, size_t len);
/* The same without the port. */
const char *log_host(const struct sockaddr *sa, char *buf, size_t len);

/* --- access log ------------------------------------------------------------ */

enum access_format { ACCESS_SQUID, ACCESS_COMBINED, ACCESS_JSON };

struct access_log {
	int fd;			/* -1: access log off */
	enum access_format format;
	time_t when_sec;	/* the combined format's time, kept a second */
	size_t when_len;
	char when[40];
	size_t len;
	char buf[32768];
};

/* One finished transaction, as the access log sees it.  Every string is
 * borrowed for the duration of access_log_write() only. */
struct access_entry {
	uint64_t end_ms;	/* when it completed: wall clock, ms since the epoch
				   (squid's first field; start = end - elapsed) */
	uint64_t elapsed_ms;
	const struct sockaddr *client;
	const char *code;	/* squid result code, e.g. "TCP_MISS" */
	int status;		/* 0 when none was sent */
	uint64_t bytes;		/* bytes sent to the client */
	const char *method;
	const char *url;	/* may be NULL: logged as "-" */
	size_t url_len;
	const char *user;	/* NULL: "-" */
	const char *hier;	/* e.g. "HIER_DIRECT" or "HIER_NONE" */
	const char *peer;	/* upstream address or "-" */
	const char *type;	/* content type or "-" */
	size_t type_len;
	const char *reason;	/* short cause for errors, NULL otherwise */

	/* the JSON format's too */
	uint16_t client_port;
	uint64_t bytes_up;	/* to the server: request head and body */
	int reused;		/* the server connection came from the pool */
	int64_t dns_us, connect_us, head_us; /* how long; -1: not part of it */
	uint64_t total_us;
	int tunnel;		/* a tunnel: its bytes each way (bytes_up, bytes) */
	const char *sni;	/* a redirected TLS connection's name; NULL */
};

/* Open the access log: path is a file, "stderr" or "off".  Call once, before
 * the workers start.  Returns 0 with *fd set to what access_log_init() wants:
 * -1 for off, STDERR_FILENO for stderr, else a file that this module owns
 * (log_reopen() points it at a new file, access_log_close() closes it).
 * Returns -1 with errno set when the file cannot be opened. */
int access_log_open(const char *path, int *fd);
/* Close the access log's file, once no worker writes to it any more. */
void access_log_close(void);

/* fd is borrowed (from access_log_open); -1 turns the log off. */
void access_log_init(struct access_log *al, int fd, enum access_format format);
void access_log_write(struct access_log *al, const struct access_entry *e);
void access_log_flush(struct access_log *al);

#endif
