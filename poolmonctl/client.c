/* One request, its response parts; see client.h. */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "frame.h"
#include "util.h"

/* A status of a very large pool comes in many parts; this bounds it. */
#define CTL_MAX_PARTS	100000

static int __attribute__((format(printf, 3, 4)))
conn_error(struct ctl_conn *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return code;
}

int
ctl_connect(struct ctl_conn *c, const char *path)
{
	struct sockaddr_un sun;
	int e;

	memset(c, 0, sizeof(*c));
	c->path = path;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		c->fd = -1;
		return conn_error(c, -ENAMETOOLONG, "cannot connect to "
		    "poolmond at %s: path too long", path);
	}
	str_copy(sun.sun_path, path, sizeof(sun.sun_path));
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		e = errno;
		return conn_error(c, -e, "socket: %s", strerror(e));
	}
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		close(c->fd);
		c->fd = -1;
		return conn_error(c, -e, "cannot connect to poolmond at %s: "
		    "%s", path, strerror(e));
	}
	return 0;
}

static int
wait_for(struct ctl_conn *c, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return conn_error(c, -ETIMEDOUT, "no reply from "
			    "poolmond at %s in time", c->path);
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return conn_error(c, -errno, "poll: %s",
			    strerror(errno));
	}
}

static int
send_request(struct ctl_conn *c, const Poolmon__Request *req,
    int64_t deadline)
{
	size_t len = poolmon__request__get_packed_size(req);
	uint8_t *buf;
	int r;

	if (len > CTL_REQUEST_MAX)
		return conn_error(c, -E2BIG, "request too large (%zu bytes, "
		    "at most %d): name fewer hosts", len, CTL_REQUEST_MAX);
	if ((buf = malloc(len > 0 ? len : 1)) == NULL)
		return conn_error(c, -ENOMEM, "out of memory");
	poolmon__request__pack(req, buf);
	while ((r = frame_send(c->fd, buf, len)) == -EAGAIN &&
	    (r = wait_for(c, POLLOUT, deadline)) == 0)
		;
	free(buf);
	if (r < 0 && c->err[0] == '\0')
		conn_error(c, r, "cannot send to poolmond at %s: %s", c->path,
		    strerror(-r));
	return r;
}

/* One part; NULL with err set. */
static Poolmon__Response *
receive_part(struct ctl_conn *c, int64_t deadline)
{
	Poolmon__Response *resp;
	uint8_t *buf;
	ssize_t n;

	for (;;) {
		if (wait_for(c, POLLIN, deadline) < 0)
			return NULL;
		n = frame_recv(c->fd, CTL_RESPONSE_MAX, &buf);
		if (n != -EAGAIN)
			break;
	}
	if (n == 0) {
		conn_error(c, -ECONNRESET, "poolmond at %s closed the "
		    "connection without a reply", c->path);
		return NULL;
	}
	if (n < 0) {
		conn_error(c, (int)n, "reading from poolmond at %s: %s",
		    c->path, n == -EMSGSIZE ? "reply too large" :
		    strerror((int)-n));
		return NULL;
	}
	resp = poolmon__response__unpack(NULL, (size_t)n, buf);
	free(buf);
	if (resp == NULL)
		conn_error(c, -EPROTO, "malformed reply from poolmond at %s",
		    c->path);
	return resp;
}

static int
add_part(struct ctl_conn *c, struct ctl_reply *reply, Poolmon__Response *p)
{
	Poolmon__Response **grown;

	if (reply->nparts >= CTL_MAX_PARTS)
		return conn_error(c, -EMSGSIZE, "reply from poolmond at %s "
		    "has too many parts", c->path);
	grown = reallocarray(reply->parts, reply->nparts + 1,
	    sizeof(*grown));
	if (grown == NULL)
		return conn_error(c, -ENOMEM, "out of memory");
	reply->parts = grown;
	reply->parts[reply->nparts++] = p;
	return 0;
}

int
ctl_call(struct ctl_conn *c, const Poolmon__Request *req, int timeout_ms,
    struct ctl_reply *reply)
{
	int64_t deadline = now_ms() + timeout_ms;
	Poolmon__Response *p;
	int r;

	memset(reply, 0, sizeof(*reply));
	c->err[0] = '\0';
	if ((r = send_request(c, req, deadline)) < 0)
		return r;
	for (;;) {
		if ((p = receive_part(c, deadline)) == NULL)
			return -EPROTO;
		/* A request the daemon could not even read has id 0. */
		if (p->id != req->id && !(p->id == 0 && !p->success)) {
			poolmon__response__free_unpacked(p, NULL);
			return conn_error(c, -EPROTO, "reply from poolmond at "
			    "%s answers another request", c->path);
		}
		if ((r = add_part(c, reply, p)) < 0) {
			poolmon__response__free_unpacked(p, NULL);
			return r;
		}
		if (!p->more)
			return 0;
	}
}

int
ctl_stream(struct ctl_conn *c, const Poolmon__Request *req, int timeout_ms,
    int (*part)(const Poolmon__Response *p, void *arg), void *arg)
{
	Poolmon__Response *p;
	bool more;
	int r;

	c->err[0] = '\0';
	if ((r = send_request(c, req, now_ms() + timeout_ms)) < 0)
		return r;
	do {
		/* Events come when they happen: no deadline between them. */
		if ((p = receive_part(c, INT64_MAX)) == NULL)
			return -EPROTO;
		if (p->id != req->id && !(p->id == 0 && !p->success)) {
			poolmon__response__free_unpacked(p, NULL);
			return conn_error(c, -EPROTO, "reply from poolmond at "
			    "%s answers another request", c->path);
		}
		more = p->more;
		r = part(p, arg);
		poolmon__response__free_unpacked(p, NULL);
		if (r < 0)
			return r;
	} while (more);
	return 0;
}

void
ctl_reply_free(struct ctl_reply *reply)
{
	size_t i;

	for (i = 0; i < reply->nparts; i++)
		poolmon__response__free_unpacked(reply->parts[i], NULL);
	free(reply->parts);
	memset(reply, 0, sizeof(*reply));
}

void
ctl_close(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
