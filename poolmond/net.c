#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "fiber.h"
#include "util.h"

static int flush_out(struct conn *c);

/* What a cork gathered, dropped unsent and wiped (it may hold a password). */
static void
drop_out(struct conn *c)
{
	explicit_bzero(c->out, c->out_len);
	c->out_len = 0;
}

static void
vset_reason(struct conn *c, enum check_status status, const char *fmt,
    va_list ap)
{
	char *reason = c->res->reason;
	int n;

	c->res->status = status;
	n = snprintf(reason, CHECK_REASON_MAX, "%s: ",
	    c->step != NULL ? c->step : "check");
	if (n > 0 && n < CHECK_REASON_MAX)
		vsnprintf(reason + n, CHECK_REASON_MAX - (size_t)n, fmt, ap);
}

int
conn_fail(struct conn *c, enum check_status status, const char *fmt, ...)
{
	va_list ap;

	/* A half-gathered command, sent later, would garble what follows. */
	drop_out(c);
	c->corked = false;
	va_start(ap, fmt);
	vset_reason(c, status, fmt, ap);
	va_end(ap);
	return -1;
}

int
conn_fail_line(struct conn *c, enum check_status status, const char *line,
    size_t len)
{
	char shown[120];

	str_sanitize_r(line, len, shown, sizeof(shown));
	return conn_fail(c, status, "%s", shown[0] != '\0' ? shown :
	    "(empty line)");
}

bool
line_starts(const char *line, size_t len, const char *prefix, bool nocase)
{
	size_t plen = strlen(prefix);

	if (len < plen)
		return false;
	return nocase ? strncasecmp(line, prefix, plen) == 0 :
	    memcmp(line, prefix, plen) == 0;
}

static int
fail_timeout(struct conn *c)
{
	return conn_fail(c, CHECK_ETIMEOUT, "timed out after %d s",
	    (c->timeout_ms + 999) / 1000);
}

/* Wait until fd is ready for events, or the deadline. */
static int
wait_ready(struct conn *c, short events)
{
	int r = fiber_wait_fd(c->fiber, c->fd, events, c->deadline);

	if (r == 0)
		return fail_timeout(c);
	if (r < 0)
		return conn_fail(c, CHECK_EIO, "poll: %s", strerror(-r));
	return 0;
}

static int
make_sockaddr(const char *ip, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

void
conn_attach(struct conn *c, int fd, int timeout_ms, struct check_result *res)
{
	memset(c, 0, offsetof(struct conn, buf));
	c->fd = fd;
	c->res = res;
	c->timeout_ms = timeout_ms;
	c->deadline = now_ms() + timeout_ms;
	c->step = "connect";
}

/*
 * Errors of this machine, not of the backend: out of descriptors, memory
 * or buffers, or of local ports to connect from.
 */
static bool
local_errno(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM ||
	    err == ENOBUFS || err == EADDRNOTAVAIL;
}

/*
 * Bind to --source-address, port 0. The port is left to connect():
 * IP_BIND_ADDRESS_NO_PORT keeps bind() from reserving one for itself, so
 * the checks do not exhaust the ports of one address sooner than without.
 * A failure is this machine's (its address went away, or is of the
 * other family), not the backend's: CHECK_ELOCAL, so not a verdict.
 */
static int
bind_source(struct conn *c, const char *source, sa_family_t family)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int one = 1;

	if (make_sockaddr(source, 0, &ss, &sslen) < 0)
		return conn_fail(c, CHECK_EINTERNAL,
		    "bad --source-address '%s'", source);
	if (ss.ss_family != family)
		return conn_fail(c, CHECK_ELOCAL, "--source-address %s: "
		    "not of the backend's address family", source);
	(void)setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	if (bind(c->fd, (struct sockaddr *)&ss, sslen) < 0)
		return conn_fail(c, CHECK_ELOCAL,
		    "bind to --source-address %s: %s", source,
		    strerror(errno));
	return 0;
}

int
conn_source_usable(const char *source)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, r = 0;

	if (make_sockaddr(source, 0, &ss, &sslen) < 0)
		return -EINVAL;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		r = -errno;
	close(fd);
	return r;
}

int
conn_open(struct conn *c, struct fiber *fiber, const char *source,
    const char *ip, uint16_t port, int timeout_ms, struct check_result *res)
{
	struct sockaddr_storage ss;
	socklen_t sslen, errlen;
	int err = 0;

	conn_attach(c, -1, timeout_ms, res);
	c->fiber = fiber;
	if (make_sockaddr(ip, port, &ss, &sslen) < 0)
		return conn_fail(c, CHECK_EINTERNAL, "bad address '%s'", ip);
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return conn_fail(c, local_errno(errno) ? CHECK_ELOCAL :
		    CHECK_ECONNECT, "socket: %s", strerror(errno));
	if (source != NULL && bind_source(c, source, ss.ss_family) < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&ss, sslen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return conn_fail(c, local_errno(errno) ? CHECK_ELOCAL :
		    CHECK_ECONNECT, "%s", strerror(errno));
	if (wait_ready(c, POLLOUT) < 0)
		return -1;
	errlen = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
		err = errno;
	if (err != 0)
		return conn_fail(c, CHECK_ECONNECT, "%s", strerror(err));
	return 0;
}

void
conn_close(struct conn *c)
{
	drop_out(c);
	if (c->ssl != NULL) {
		/* Best effort: a close_notify without waiting for the peer. */
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

size_t
conn_pending(const struct conn *c)
{
	return c->end - c->start;
}

/*
 * Before each TLS operation: SSL_get_error() reads the thread's error queue
 * and errno, which the fibers of the check process share.
 */
static void
clear_errors(void)
{
	ERR_clear_error();
	errno = 0;
}

/* The reason OpenSSL gives for the last failure, verification first. */
static void
tls_reason(struct conn *c, char *buf, size_t len)
{
	long vr = SSL_get_verify_result(c->ssl);
	unsigned long e = ERR_peek_last_error();

	if (vr != X509_V_OK) {
		snprintf(buf, len, "certificate verify failed (%s)",
		    X509_verify_cert_error_string(vr));
	} else if (e != 0) {
		const char *r = ERR_reason_error_string(e);

		snprintf(buf, len, "%s", r != NULL ? r : "handshake failed");
	} else
		snprintf(buf, len, "handshake failed");
	ERR_clear_error();
}

/*
 * Map an SSL_ERROR_* to a wait (returns 0 after the wait, so the caller
 * retries) or to a failure (-1).
 */
static int
tls_wait_or_fail(struct conn *c, int ret, const char *what)
{
	char why[160];
	int e = SSL_get_error(c->ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return wait_ready(c, POLLIN);
	case SSL_ERROR_WANT_WRITE:
		return wait_ready(c, POLLOUT);
	case SSL_ERROR_ZERO_RETURN:
		return conn_fail(c, CHECK_ECLOSED, "connection closed");
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno != 0 && ret < 0)
			return conn_fail(c, CHECK_EIO, "%s: %s", what,
			    strerror(errno));
		return conn_fail(c, CHECK_ECLOSED, "connection closed");
	default:
		tls_reason(c, why, sizeof(why));
		return conn_fail(c, CHECK_ETLS, "%s", why);
	}
}

static bool
is_ip_literal(const char *name)
{
	struct in6_addr a;
	int family;

	return ip_parse(name, &family, &a) == 0;
}

int
conn_start_tls(struct conn *c, SSL_CTX *ctx, const char *verify_name,
    bool verify)
{
	const char *step = c->step;
	int r;

	c->step = "TLS";
	if (ctx == NULL)
		return conn_fail(c, CHECK_EINTERNAL, "no TLS context");
	if (conn_pending(c) != 0)
		return conn_fail(c, CHECK_ETLS,
		    "plaintext data after the TLS request");
	if (flush_out(c) < 0)	/* what was written before TLS, in clear */
		return -1;
	ERR_clear_error();
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return conn_fail(c, CHECK_EINTERNAL, "SSL_new failed");
	if (verify_name != NULL && !is_ip_literal(verify_name))
		SSL_set_tlsext_host_name(c->ssl, verify_name);
	if (verify && verify_name != NULL) {
		X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);

		r = is_ip_literal(verify_name) ?
		    X509_VERIFY_PARAM_set1_ip_asc(param, verify_name) :
		    SSL_set1_host(c->ssl, verify_name);
		if (r != 1)
			return conn_fail(c, CHECK_EINTERNAL,
			    "cannot set name to verify");
	}
	for (;;) {
		clear_errors();
		r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		if (tls_wait_or_fail(c, r, "handshake") < 0)
			return -1;
	}
	c->step = step;
	return 0;
}

static int
fill(struct conn *c)
{
	size_t room;
	ssize_t n;
	int r;

	if (flush_out(c) < 0)
		return -1;
	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	room = CONN_LINE_MAX - c->end;
	if (c->max_read > 0 && room > c->max_read)
		room = c->max_read;
	for (;;) {
		if (c->ssl != NULL) {
			clear_errors();
			r = SSL_read(c->ssl, c->buf + c->end, (int)room);
			if (r > 0) {
				c->end += (size_t)r;
				return 0;
			}
			if (tls_wait_or_fail(c, r, "read") < 0)
				return -1;
			continue;
		}
		n = read(c->fd, c->buf + c->end, room);
		if (n > 0) {
			c->end += (size_t)n;
			return 0;
		}
		if (n == 0)
			return conn_fail(c, CHECK_ECLOSED, "connection closed");
		if (errno == EAGAIN || errno == EINTR) {
			if (wait_ready(c, POLLIN) < 0)
				return -1;
			continue;
		}
		return conn_fail(c, CHECK_EIO, "read: %s", strerror(errno));
	}
}

int
conn_read_line(struct conn *c, const char **line, size_t *len)
{
	char *nl;
	size_t n;

	for (;;) {
		nl = memchr(c->buf + c->start, '\n', c->end - c->start);
		if (nl != NULL)
			break;
		if (c->end - c->start >= CONN_LINE_MAX)
			return conn_fail(c, CHECK_ETOOLONG,
			    "reply line longer than %d bytes", CONN_LINE_MAX);
		if (fill(c) < 0)
			return -1;
	}
	n = (size_t)(nl - (c->buf + c->start));
	*line = c->buf + c->start;
	c->start += n + 1;
	if (n > 0 && (*line)[n - 1] == '\r')
		n--;
	((char *)*line)[n] = '\0';	/* for convenience; may hold NULs */
	*len = n;
	return 0;
}

int
conn_read_bytes(struct conn *c, size_t n, const char **data)
{
	if (n > CONN_LINE_MAX)
		return conn_fail(c, CHECK_ETOOLONG, "%zu bytes at once, more "
		    "than %d", n, CONN_LINE_MAX);
	/* fill() makes room at the front first: n always fits. */
	while (c->end - c->start < n)
		if (fill(c) < 0)
			return -1;
	*data = c->buf + c->start;
	c->start += n;
	return 0;
}

static int
send_all(struct conn *c, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;
	int r;

	while (len > 0) {
		if (c->ssl != NULL) {
			clear_errors();
			r = SSL_write(c->ssl, p, (int)len);
			if (r > 0) {
				p += r;
				len -= (size_t)r;
				continue;
			}
			if (tls_wait_or_fail(c, r, "write") < 0)
				return -1;
			continue;
		}
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR) {
			if (wait_ready(c, POLLOUT) < 0)
				return -1;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return conn_fail(c, CHECK_ECLOSED, "connection closed");
		return conn_fail(c, CHECK_EIO, "write: %s", strerror(errno));
	}
	return 0;
}

/* Whatever a cork gathered, sent, then dropped. */
static int
flush_out(struct conn *c)
{
	int r;

	if (c->out_len == 0)
		return 0;
	r = send_all(c, c->out, c->out_len);
	drop_out(c);
	return r;
}

int
conn_write(struct conn *c, const void *data, size_t len)
{
	if (!c->corked)
		return send_all(c, data, len);
	if (len > sizeof(c->out) - c->out_len && flush_out(c) < 0)
		return -1;
	if (len > sizeof(c->out))
		return send_all(c, data, len);
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

void
conn_cork(struct conn *c)
{
	c->corked = true;
}

int
conn_uncork(struct conn *c)
{
	c->corked = false;
	return flush_out(c);
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return conn_fail(c, CHECK_EINTERNAL, "command too long");
	return conn_write(c, buf, (size_t)n);
}
