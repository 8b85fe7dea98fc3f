/*
 * host-wait - when a director shows a host in a state, to the millisecond.
 *
 * usage: host-wait SOCKET IP U|D GRAIN_MS TIMEOUT_MS
 *
 * For make bench's detection times: one connection to the director-admin
 * SOCKET, a HOST-LIST every GRAIN_MS until IP's state (its fifth field)
 * is the one asked for. Prints "LO HI POLLS SLOWEST": the change came
 * after LO, when the last poll showing the other state was sent, and
 * before HI, when the first poll showing this one was answered (wall
 * clock, Unix ms, comparable with the shell's EPOCHREALTIME); POLLS sent
 * and the slowest poll's ms. LO is -1 when the first poll already showed
 * the state. Exits 0 then, 2 at TIMEOUT_MS, 1 on any other error (IP not
 * in the list, the director gone). One connection keeps each poll's cost
 * to the director's listing of its hosts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SOCK_NONBLOCK */
#endif
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HANDSHAKE "VERSION\tdirector-doveadm\t1\t0\n"
#define HANDSHAKE_PREFIX "VERSION\tdirector-doveadm\t1\t"
#define LIST_CMD "HOST-LIST\n"
static char rbuf[65536];
static size_t rlen;
static long long deadline;

static void die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("host-wait: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static long long clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadlines on the monotonic clock; reported times on the wall clock. */
static long long mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static long long wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

static void wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left;
	int ret;

	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			die(2, "timed out");
		ret = poll(&pfd, 1, (int)left);
		if (ret > 0)
			return;
		if (ret < 0 && errno != EINTR)
			die(1, "poll: %s", strerror(errno));
	}
}

static void write_all(int fd, const char *data, size_t len)
{
	ssize_t ret;

	while (len > 0) {
		wait_fd(fd, POLLOUT);
		ret = write(fd, data, len);
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die(1, "write: %s", strerror(errno));
		}
		data += ret;
		len -= (size_t)ret;
	}
}

/*
 * The next line, its "\n" replaced by a NUL, in place in rbuf (valid until
 * the next call); its length. A listing of thousands of hosts is read a
 * buffer at a time, not moved a line at a time.
 */
static size_t read_line(int fd, char **line)
{
	static size_t start;
	char *nl;
	size_t len;
	ssize_t ret;

	for (;;) {
		if ((nl = memchr(rbuf + start, '\n', rlen - start)) != NULL) {
			*line = rbuf + start;
			len = (size_t)(nl - *line);
			*nl = '\0';
			start += len + 1;
			return len;
		}
		/* What is left of a line to the front, then more. */
		memmove(rbuf, rbuf + start, rlen - start);
		rlen -= start;
		start = 0;
		if (rlen == sizeof(rbuf))
			die(1, "reply line too long");
		wait_fd(fd, POLLIN);
		ret = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die(1, "read: %s", strerror(errno));
		}
		if (ret == 0)
			die(1, "the director closed the connection");
		rlen += (size_t)ret;
	}
}

/* The state field of ip's line, or 0 when line is another host's. */
static char line_state(const char *line, const char *ip)
{
	size_t iplen = strlen(ip);
	const char *p = line;
	int field;

	if (strncmp(line, ip, iplen) != 0 || line[iplen] != '\t')
		return 0;
	for (field = 1; field < 5; field++) {
		if ((p = strchr(p, '\t')) == NULL)
			die(1, "short HOST-LIST line: %s", line);
		p++;
	}
	return *p;
}

/* ip's state in one HOST-LIST reply, read to its end. */
static char poll_state(int fd, const char *ip)
{
	char state = 0, s, *line;

	write_all(fd, LIST_CMD, strlen(LIST_CMD));
	while (read_line(fd, &line) > 0)
		if ((s = line_state(line, ip)) != 0)
			state = s;
	if (state == 0)
		die(1, "%s is not in the director's host list", ip);
	return state;
}

static int connect_director(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *line;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die(1, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(1, "socket: %s", strerror(errno));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && mono_ms() < deadline) {
			usleep(10000);
			continue;
		}
		die(1, "connect %s: %s", path, strerror(errno));
	}
	write_all(fd, HANDSHAKE, strlen(HANDSHAKE));
	read_line(fd, &line);
	if (strncmp(line, HANDSHAKE_PREFIX, strlen(HANDSHAKE_PREFIX)) != 0)
		die(1, "unexpected handshake from the director: %s", line);
	return fd;
}

static long parse_ms(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 86400000)
		die(1, "bad %s: %s", what, s);
	return v;
}

int main(int argc, char **argv)
{
	long long sent, answered, lo = -1, slowest = 0, next, left;
	long grain, polls = 0;
	const char *ip;
	char want;
	int fd;

	if (argc != 6 || (strcmp(argv[3], "U") != 0 &&
	    strcmp(argv[3], "D") != 0)) {
		fprintf(stderr, "usage: host-wait SOCKET IP U|D GRAIN_MS "
		    "TIMEOUT_MS\n");
		return 1;
	}
	ip = argv[2];
	want = argv[3][0];
	grain = parse_ms(argv[4], "grain");
	deadline = mono_ms() + parse_ms(argv[5], "timeout");
	fd = connect_director(argv[1]);
	for (;;) {
		next = mono_ms() + grain;
		sent = wall_ms();
		polls++;
		if (poll_state(fd, ip) == want)
			break;
		answered = wall_ms();
		if (answered - sent > slowest)
			slowest = answered - sent;
		lo = sent;
		if (next >= deadline)
			die(2, "timed out: %s not %c", ip, want);
		while ((left = next - mono_ms()) > 0)
			usleep((useconds_t)left * 1000);
	}
	answered = wall_ms();
	if (answered - sent > slowest)
		slowest = answered - sent;
	printf("%lld %lld %ld %lld\n", lo, answered, polls, slowest);
	close(fd);
	return fflush(stdout) == 0 ? 0 : 1;
}
