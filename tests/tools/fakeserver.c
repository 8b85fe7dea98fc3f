/*
 * fakeserver: a scriptable fake mail server, for what Dovecot will not do
 * (multi-line banners, a greeting split across packets, wrong tags,
 * oversized lines, NUL bytes, never answering).
 *
 *   fakeserver [-n CONNS] [-P PORTFILE] IP PORT STEP...
 *	Listen on IP:PORT (0: any free port, written to PORTFILE) and play
 *	the steps on every connection, each in a process of its own; stop
 *	after CONNS connections (default: never).
 *   fakeserver -u IP PORT
 *	A UDP socket that reads and never answers: a DNS server that hangs.
 *
 * Steps (TEXT takes \r \n \t \0 \\ \xHH escapes):
 *   send:TEXT        write TEXT
 *   line:TEXT        write TEXT and CRLF
 *   repeat:N:TEXT    write TEXT N times
 *   sleep:MS         pause
 *   read             read one line from the client
 *   expect:TEXT      read one line; it must start with TEXT, else exit 2
 *   hang             wait (60 s at most) until the client closes
 *   close            close the connection now
 *   eof              the client must close without sending anything more
 *                    (5 s at most), else exit 2
 * After the last step the server half-closes and drains the client.
 *
 * Unit tests include this file with FAKESERVER_NO_MAIN to run scripts on
 * sockets of their own (fs_play).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unescape.h"

#define FS_LINE_MAX	65536
#define FS_HANG_MS	60000
#define FS_DRAIN_MS	5000

static int
fs_write(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
fs_sleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait for input up to ms; 1 ready, 0 timeout, -1 error. */
static int
fs_wait(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	return r;
}

/* One line (CRLF stripped) into buf; -1 on EOF, error or 10 s silence. */
static int
fs_read_line(int fd, char *buf, size_t size, size_t *len)
{
	size_t n = 0;
	ssize_t r;
	char ch;

	for (;;) {
		if (fs_wait(fd, 10000) <= 0)
			return -1;
		r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Read and drop until EOF or ms pass. */
static void
fs_drain(int fd, int ms)
{
	char buf[4096];
	ssize_t r;

	while (fs_wait(fd, ms) > 0) {
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
	}
}

/* 1 (done) when the client closes without a byte more, else -1. */
static int
fs_expect_eof(int fd)
{
	char buf[256];
	ssize_t r;

	if (fs_wait(fd, 5000) <= 0) {
		fprintf(stderr, "fakeserver: expected EOF, got silence\n");
		return -1;
	}
	do {
		r = read(fd, buf, sizeof(buf) - 1);
	} while (r < 0 && errno == EINTR);
	if (r > 0) {
		buf[r] = '\0';
		fprintf(stderr, "fakeserver: expected EOF, got '%s'\n", buf);
		return -1;
	}
	return 1;
}

static int
fs_expect(int fd, const char *want, size_t wlen)
{
	char *line = malloc(FS_LINE_MAX);
	size_t len;
	int r = 0;

	if (line == NULL)
		return -1;
	if (fs_read_line(fd, line, FS_LINE_MAX, &len) < 0) {
		fprintf(stderr, "fakeserver: expected '%.*s', got EOF\n",
		    (int)wlen, want);
		r = -1;
	} else if (len < wlen || memcmp(line, want, wlen) != 0) {
		fprintf(stderr, "fakeserver: expected '%.*s', got '%s'\n",
		    (int)wlen, want, line);
		r = -1;
	}
	free(line);
	return r;
}

static int
fs_repeat(int fd, const char *arg)
{
	char *end, *text;
	long n = strtol(arg, &end, 10);
	size_t len;
	int r = 0;

	if (*end != ':' || n < 0)
		return -1;
	if ((text = script_unescape(end + 1, &len)) == NULL)
		return -1;
	while (n-- > 0 && r == 0)
		r = fs_write(fd, text, len);
	free(text);
	return r;
}

static int
fs_send(int fd, const char *arg, bool crlf)
{
	size_t len;
	char *text = script_unescape(arg, &len);
	int r;

	if (text == NULL)
		return -1;
	r = fs_write(fd, text, len);
	free(text);
	if (r == 0 && crlf)
		r = fs_write(fd, "\r\n", 2);
	return r;
}

/* One step: 0 to go on, 1 when the connection is done, -1 on failure. */
static int
fs_step(int fd, const char *step)
{
	char *want, line[256];
	size_t wlen, len;
	int r;

	if (strncmp(step, "send:", 5) == 0)
		return fs_send(fd, step + 5, false) < 0 ? 1 : 0;
	if (strncmp(step, "line:", 5) == 0)
		return fs_send(fd, step + 5, true) < 0 ? 1 : 0;
	if (strncmp(step, "repeat:", 7) == 0)
		return fs_repeat(fd, step + 7) < 0 ? 1 : 0;
	if (strncmp(step, "sleep:", 6) == 0) {
		fs_sleep(atol(step + 6));
		return 0;
	}
	if (strcmp(step, "read") == 0)
		return fs_read_line(fd, line, sizeof(line), &len) < 0 ? 1 : 0;
	if (strncmp(step, "expect:", 7) == 0) {
		if ((want = script_unescape(step + 7, &wlen)) == NULL)
			return -1;
		r = fs_expect(fd, want, wlen);
		free(want);
		return r;
	}
	if (strcmp(step, "hang") == 0) {
		fs_drain(fd, FS_HANG_MS);
		return 1;
	}
	if (strcmp(step, "close") == 0)
		return 1;
	if (strcmp(step, "eof") == 0)
		return fs_expect_eof(fd);
	fprintf(stderr, "fakeserver: unknown step '%s'\n", step);
	return -1;
}

/*
 * Play the steps on a connected socket and close it. Returns 0, or -1
 * when an expect step did not match (or a step was malformed).
 */
static int __attribute__((unused))
fs_play(int fd, int nsteps, char *const *steps)
{
	int i, r = 0;

	for (i = 0; i < nsteps && r == 0; i++)
		r = fs_step(fd, steps[i]);
	if (r == 0) {
		shutdown(fd, SHUT_WR);
		fs_drain(fd, FS_DRAIN_MS);
	}
	close(fd);
	return r < 0 ? -1 : 0;
}

static int __attribute__((unused))
fs_listen(const char *ip, int port, int type, uint16_t *bound)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
		return -1;
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, type | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) < 0) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(sin.sin_port);
	return fd;
}

#ifndef FAKESERVER_NO_MAIN
static void
usage(void)
{
	fprintf(stderr, "usage: fakeserver [-n CONNS] [-P PORTFILE] IP PORT "
	    "STEP...\n       fakeserver -u IP PORT\n");
	exit(64);
}

static void
write_portfile(const char *path, uint16_t port)
{
	FILE *f;

	if (path == NULL)
		return;
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fprintf(f, "%u\n", port);
	fclose(f);
}

static void __attribute__((noreturn))
udp_blackhole(int fd)
{
	char buf[2048];

	for (;;)
		(void)!recv(fd, buf, sizeof(buf), 0);
}

static void
reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void __attribute__((noreturn))
serve(int lfd, long conns, int nsteps, char *const *steps)
{
	long served = 0;
	int fd;
	pid_t pid;

	while (conns < 0 || served < conns) {
		reap();
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("accept");
			exit(1);
		}
		served++;
		if ((pid = fork()) == 0) {
			close(lfd);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(fs_play(fd, nsteps, steps) < 0 ? 2 : 0);
		}
		close(fd);
	}
	while (wait(NULL) > 0)
		;
	exit(0);
}

int
main(int argc, char **argv)
{
	const char *portfile = NULL;
	bool udp = false;
	long conns = -1;
	uint16_t bound;
	int c, lfd;

	while ((c = getopt(argc, argv, "n:P:u")) != -1) {
		switch (c) {
		case 'n': conns = atol(optarg); break;
		case 'P': portfile = optarg; break;
		case 'u': udp = true; break;
		default: usage();
		}
	}
	if (argc - optind < 2)
		usage();
	signal(SIGPIPE, SIG_IGN);
	lfd = fs_listen(argv[optind], atoi(argv[optind + 1]),
	    udp ? SOCK_DGRAM : SOCK_STREAM, &bound);
	if (lfd < 0) {
		fprintf(stderr, "fakeserver: cannot listen on %s:%s: %s\n",
		    argv[optind], argv[optind + 1], strerror(errno));
		return 1;
	}
	write_portfile(portfile, bound);
	if (udp)
		udp_blackhole(lfd);
	serve(lfd, conns, argc - optind - 2, argv + optind + 2);
}
#endif
