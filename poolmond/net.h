/*
 * A connection to a backend port for one check attempt: non-blocking
 * socket, optional TLS, a line reader with a line-length cap, every wait
 * bounded by the attempt's deadline. Failures fill the check_result and
 * return -1 so a check can simply "return -1" up its call chain.
 */
#ifndef POOLMOND_NET_H
#define POOLMOND_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "check.h"

#define CONN_LINE_MAX		8192	/* longest reply line accepted */
#define CONN_MAX_CONT_LINES	200	/* multi-line replies, untagged lines */
#define CONN_OUT_MAX		2048	/* a corked command gathers here */

struct fiber;

struct conn {
	int fd;
	struct fiber *fiber;	/* waits yield to other ports; NULL: poll */
	SSL *ssl;
	int64_t deadline;
	int timeout_ms;
	const char *step;	/* protocol step, for failure reasons */
	struct check_result *res;
	size_t start, end;	/* unread bytes are buf[start..end) */
	size_t max_read;	/* 0, or a cap per read (tests: split reads) */
	bool corked;		/* writes gather in out[] (conn_cork) */
	size_t out_len;
	char buf[CONN_LINE_MAX + 1];
	char out[CONN_OUT_MAX];
};

/*
 * fiber: the check process's fiber the waits run on, or NULL to block.
 * source: the local address to connect from (--source-address), or NULL.
 */
int conn_open(struct conn *c, struct fiber *fiber, const char *source,
    const char *ip, uint16_t port, int timeout_ms, struct check_result *res);
/*
 * Whether this machine has the address to connect from: a test bind of
 * a TCP socket to it, port 0. 0, or a negative errno.
 */
int conn_source_usable(const char *source);
/* A connection over an already connected non-blocking socket (tests). */
void conn_attach(struct conn *c, int fd, int timeout_ms,
    struct check_result *res);
/* TLS client handshake; verify_name is checked when ssl_verify is on. */
int conn_start_tls(struct conn *c, SSL_CTX *ctx, const char *verify_name,
    bool verify);
/*
 * Next line without its CRLF/LF; *line points into the buffer and is
 * valid until the next read. It may contain NUL bytes: use *len.
 */
int conn_read_line(struct conn *c, const char **line, size_t *len);
/*
 * The next n bytes, at most CONN_LINE_MAX (a literal's, whatever they
 * are); *data points into the buffer and is valid until the next read.
 */
int conn_read_bytes(struct conn *c, size_t n, const char **data);
int conn_write(struct conn *c, const void *data, size_t len);
/*
 * A command written in parts goes out as one send (one TLS record): from
 * conn_cork() the writes gather until conn_uncork(), which sends them, or
 * until a read, which sends them first (a literal waiting for "+").
 */
void conn_cork(struct conn *c);
int conn_uncork(struct conn *c);
int conn_printf(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bytes already read but not consumed (must be none before STARTTLS). */
size_t conn_pending(const struct conn *c);
void conn_close(struct conn *c);

/* Record a failure "STEP: detail" and return -1. */
int conn_fail(struct conn *c, enum check_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for a reply line: "STEP: <line, sanitized>". */
int conn_fail_line(struct conn *c, enum check_status status,
    const char *line, size_t len);
/* Does line start with prefix (case-insensitively when nocase)? */
bool line_starts(const char *line, size_t len, const char *prefix,
    bool nocase);

#endif
