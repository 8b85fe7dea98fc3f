/*
 * director-cmd - send one command to a Dovecot director-admin socket.
 *
 * usage: director-cmd SOCKET CMD [ARG...]
 *
 * Test helper for the integration harness: connects to the UNIX socket,
 * exchanges the "VERSION\tdirector-doveadm\t1\t0" handshake, sends CMD with
 * its tab-escaped ARGs joined by tabs, and prints the reply.  HOST-LIST,
 * HOST-LIST-REMOVED, DIRECTOR-LIST and USER-LIST replies are printed up to
 * (not including) the terminating empty line; any other reply is one line.
 * Exits 0 when a reply was received, 1 on any error.  Everything is bounded
 * by a 10 s deadline.
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

#define DEADLINE_MS 10000
#define HANDSHAKE "VERSION\tdirector-doveadm\t1\t0\n"
#define HANDSHAKE_PREFIX "VERSION\tdirector-doveadm\t1\t"

static char rbuf[65536];
static size_t rlen;
static long long deadline;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("director-cmd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to become ready for events, or die at the deadline. */
static void wait_fd(int fd, short events)
{
	struct pollfd pfd;
	long long left;
	int ret;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			die("timed out waiting for the director");
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		ret = poll(&pfd, 1, (int)left);
		if (ret > 0)
			return;
		if (ret < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
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
			die("write: %s", strerror(errno));
		}
		data += ret;
		len -= (size_t)ret;
	}
}

/*
 * Read one line (without "\n") into line; returns its length.  The
 * director sends plain "\n" line ends.
 */
static size_t read_line(int fd, char *line, size_t size)
{
	char *nl;
	size_t len;
	ssize_t ret;

	for (;;) {
		nl = memchr(rbuf, '\n', rlen);
		if (nl != NULL) {
			len = (size_t)(nl - rbuf);
			if (len >= size)
				die("reply line too long");
			memcpy(line, rbuf, len);
			line[len] = '\0';
			rlen -= len + 1;
			memmove(rbuf, nl + 1, rlen);
			return len;
		}
		if (rlen == sizeof(rbuf))
			die("reply line too long");
		wait_fd(fd, POLLIN);
		ret = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("read: %s", strerror(errno));
		}
		if (ret == 0)
			die("director disconnected (unknown command or bad parameters?)");
		rlen += (size_t)ret;
	}
}

/* Append s to buf with the director's tab-escaping (\001 as escape char). */
static void append_escaped(char *buf, size_t *pos, size_t size, const char *s)
{
	char esc;

	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\001': esc = '1'; break;
		case '\t': esc = 't'; break;
		case '\r': esc = 'r'; break;
		case '\n': esc = 'n'; break;
		default: esc = 0; break;
		}
		if (*pos + 3 >= size)
			die("command too long");
		if (esc != 0) {
			buf[(*pos)++] = '\001';
			buf[(*pos)++] = esc;
		} else {
			buf[(*pos)++] = *s;
		}
	}
}

static int is_multiline(const char *cmd)
{
	return strcmp(cmd, "HOST-LIST") == 0 ||
		strcmp(cmd, "HOST-LIST-REMOVED") == 0 ||
		strcmp(cmd, "DIRECTOR-LIST") == 0 ||
		strcmp(cmd, "USER-LIST") == 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	char cmd[8192], line[sizeof(rbuf)];
	size_t pos = 0, len;
	int fd, i;

	if (argc < 3) {
		fprintf(stderr, "usage: director-cmd SOCKET CMD [ARG...]\n");
		return 1;
	}
	deadline = now_ms() + DEADLINE_MS;

	/* The command name is sent as is; arguments are escaped. */
	len = strlen(argv[2]);
	if (len == 0 || len + 2 >= sizeof(cmd) || strpbrk(argv[2], "\t\r\n") != NULL)
		die("bad command name");
	memcpy(cmd, argv[2], len);
	pos = len;
	for (i = 3; i < argc; i++) {
		cmd[pos++] = '\t';
		append_escaped(cmd, &pos, sizeof(cmd), argv[i]);
	}
	cmd[pos++] = '\n';

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof(sa.sun_path))
		die("socket path too long: %s", argv[1]);
	strcpy(sa.sun_path, argv[1]);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	/* A UNIX connect completes at once or fails (EAGAIN = backlog full). */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && now_ms() < deadline) {
			usleep(50000);
			continue;
		}
		die("connect %s: %s", argv[1], strerror(errno));
	}

	/* Both sides may send their VERSION line at once; pipeline ours. */
	write_all(fd, HANDSHAKE, strlen(HANDSHAKE));
	write_all(fd, cmd, pos);

	read_line(fd, line, sizeof(line));
	if (strncmp(line, HANDSHAKE_PREFIX, strlen(HANDSHAKE_PREFIX)) != 0)
		die("unexpected handshake from director: %s", line);

	if (!is_multiline(argv[2])) {
		read_line(fd, line, sizeof(line));
		printf("%s\n", line);
	} else {
		while (read_line(fd, line, sizeof(line)) > 0)
			printf("%s\n", line);
	}
	close(fd);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("write to stdout failed");
	return 0;
}
