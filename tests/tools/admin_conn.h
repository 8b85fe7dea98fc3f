/*
 * A client of the director-admin socket for the test tools, every wait
 * bounded by one deadline: shared by tests/tools/director-cmd.c and
 * tests/tools/host-wait.c. Calls return 0 (or a length) or -errno:
 * -ETIMEDOUT at the deadline, -ECONNRESET when the director closed the
 * connection, -EMSGSIZE for a line longer than the buffer, -EPROTO for a
 * handshake that is not the director's. The caller says what failed.
 */
#ifndef POOLMON_TEST_ADMIN_CONN_H
#define POOLMON_TEST_ADMIN_CONN_H

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_HANDSHAKE		"VERSION\tdirector-doveadm\t1\t0\n"
#define ADMIN_HANDSHAKE_PREFIX	"VERSION\tdirector-doveadm\t1\t"

struct admin_conn {
	int fd;
	long long deadline;	/* CLOCK_MONOTONIC ms */
	size_t start, len;	/* unread bytes of buf */
	char buf[65536];
};

static long long
admin_clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
admin_mono_ms(void)
{
	return admin_clock_ms(CLOCK_MONOTONIC);
}

static int
admin_wait(const struct admin_conn *c, short events)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	long long left;
	int r;

	for (;;) {
		if ((left = c->deadline - admin_mono_ms()) <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int
admin_write(const struct admin_conn *c, const char *data, size_t len)
{
	ssize_t n;
	int r;

	while (len > 0) {
		if ((r = admin_wait(c, POLLOUT)) < 0)
			return r;
		if ((n = write(c->fd, data, len)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The next line, its "\n" replaced by a NUL, in place in c->buf (valid
 * until the next call); its length. A listing of thousands of hosts is
 * read a buffer at a time, not moved a line at a time.
 */
static ssize_t
admin_read_line(struct admin_conn *c, char **line)
{
	char *nl;
	size_t n;
	ssize_t got;
	int r;

	for (;;) {
		if ((nl = memchr(c->buf + c->start, '\n', c->len - c->start)) !=
		    NULL) {
			*line = c->buf + c->start;
			n = (size_t)(nl - *line);
			*nl = '\0';
			c->start += n + 1;
			return (ssize_t)n;
		}
		/* What is left of a line to the front, then more. */
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->start = 0;
		if (c->len == sizeof(c->buf))
			return -EMSGSIZE;
		if ((r = admin_wait(c, POLLIN)) < 0)
			return r;
		got = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (got == 0)
			return -ECONNRESET;
		c->len += (size_t)got;
	}
}

/*
 * Connect to path and send the handshake; the director's own comes with
 * the first reply (admin_check_version), so a command may follow at once.
 */
static int
admin_open(struct admin_conn *c, const char *path, long long deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	c->deadline = deadline;
	c->start = c->len = 0;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	/* A UNIX connect completes at once or fails (EAGAIN: backlog full). */
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && admin_mono_ms() < c->deadline) {
			usleep(10000);
			continue;
		}
		r = -errno;
		close(c->fd);
		c->fd = -1;
		return r;
	}
	return admin_write(c, ADMIN_HANDSHAKE, strlen(ADMIN_HANDSHAKE));
}

/* The director's handshake line, which must come first; -EPROTO with
 * *line the line it sent instead. */
static int
admin_check_version(struct admin_conn *c, char **line)
{
	ssize_t n;

	if ((n = admin_read_line(c, line)) < 0)
		return (int)n;
	return strncmp(*line, ADMIN_HANDSHAKE_PREFIX,
	    strlen(ADMIN_HANDSHAKE_PREFIX)) == 0 ? 0 : -EPROTO;
}

#endif
