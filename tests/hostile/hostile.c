/*
 * hostile: a scriptable hostile backend, for what neither Dovecot nor
 * tests/tools/fakeserver will do: megabytes without a newline, one byte a
 * second, an endless stream of continuation lines, a reset on connect, a
 * stalled TLS handshake. It also says, per connection, when the client
 * went away: the server's own view of the client's deadline.
 *
 *   hostile [-n CONNS] [-L LOGFILE] IP PORT STEP...
 *	Listen on IP:PORT and play the steps on every connection, each in a
 *	process of its own; stop after CONNS connections (default: never).
 *
 * Steps (TEXT takes \r \n \t \0 \\ \xHH escapes):
 *   send:TEXT        write TEXT
 *   line:TEXT        write TEXT and CRLF
 *   sleep:MS         pause (noticing a client that leaves)
 *   read             read one line from the client
 *   expect:TEXT      read one line; it must start with TEXT, else exit 2
 *   recv             wait (10 s at most) for any bytes and drop them,
 *                    e.g. a TLS ClientHello
 *   bulk:N:TEXT      write N bytes of TEXT repeated, in large writes
 *   drip:MS:TEXT     write TEXT one byte every MS ms
 *   flood:TEXT       write TEXT again and again until the client leaves
 *   hang             say nothing until the client leaves (60 s at most)
 *   close            close the connection now
 *   reset            close with SO_LINGER 0: the client sees a reset
 * After the last step the server half-closes and waits for the client.
 *
 * With -L, "listening" is the log's first line once connections are
 * accepted, then each connection appends one line when it ends:
 *   conn=N sent=BYTES recvd=BYTES ms=MS end=WHY step=K
 * where WHY is "gone" (the client closed or reset the connection), "done"
 * (the steps ran out and the client then closed), "close", "reset",
 * "timeout" (the client outlived a hang or drain) or "fail" (a bad expect),
 * MS is the time from accept to WHY, and K the step (from 1) it ended in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#include "../tools/unescape.h"

#define H_LINE_MAX	65536
#define H_HANG_MS	60000
#define H_RECV_MS	10000
#define H_CHUNK		(64 * 1024)
#define H_FLOOD_MAX	(1024L * 1024 * 1024)

enum end {
	END_NONE,	/* go on */
	END_GONE,	/* the client left */
	END_CLOSE,
	END_RESET,
	END_TIMEOUT,
	END_FAIL,
};

static const char *const end_str[] = {
	"none", "gone", "close", "reset", "timeout", "fail",
};

struct conn {
	int fd;
	long id;
	long long start;
	long long sent;
	long long recvd;
	long long end_ms;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unescape src into a new buffer; its length in *len. */
static char *
unescape(const char *src, size_t *len)
{
	char *out = script_unescape(src, len);

	if (out == NULL) {
		perror("malloc");
		exit(1);
	}
	return out;
}

/*
 * Wait up to ms for the client to leave, dropping what it sends. END_GONE
 * when it closed or reset the connection, END_NONE when ms passed.
 */
static enum end
watch(struct conn *c, long long ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	long long until = now_ms() + ms, left;
	char buf[4096];
	ssize_t n;
	int r;

	for (;;) {
		left = until - now_ms();
		if (left <= 0)
			return END_NONE;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return END_GONE;
		if (r == 0)
			return END_NONE;
		if (pfd.revents & (POLLHUP | POLLERR))
			return END_GONE;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			c->recvd += n;
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return END_GONE;
	}
}

static enum end
write_all(struct conn *c, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return END_GONE;
		c->sent += n;
		p += n;
		len -= (size_t)n;
	}
	return END_NONE;
}

/* One line (CRLF stripped) into buf; END_GONE on EOF or 10 s silence. */
static enum end
read_line(struct conn *c, char *buf, size_t size, size_t *len)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	size_t n = 0;
	ssize_t r;
	char ch;

	for (;;) {
		r = poll(&pfd, 1, H_RECV_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? END_TIMEOUT : END_GONE;
		r = read(c->fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return END_GONE;
		c->recvd++;
		if (ch == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return END_NONE;
}

static enum end
step_expect(struct conn *c, const char *arg)
{
	size_t wlen, len;
	char *want = unescape(arg, &wlen), *line = malloc(H_LINE_MAX);
	enum end e;

	if (line == NULL) {
		perror("malloc");
		exit(1);
	}
	e = read_line(c, line, H_LINE_MAX, &len);
	if (e == END_NONE && (len < wlen || memcmp(line, want, wlen) != 0)) {
		fprintf(stderr, "hostile: expected '%.*s', got '%s'\n",
		    (int)wlen, want, line);
		e = END_FAIL;
	}
	free(want);
	free(line);
	return e;
}

/* Wait for some bytes (a ClientHello) and drop whatever has come. */
static enum end
step_recv(struct conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;
	int r;

	do
		r = poll(&pfd, 1, H_RECV_MS);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r == 0 ? END_TIMEOUT : END_GONE;
	/* A ClientHello comes in one segment; give stragglers a moment. */
	usleep(20000);
	while ((n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		c->recvd += n;
	if (n == 0)
		return END_GONE;
	return END_NONE;
}

static enum end
step_bulk(struct conn *c, const char *arg)
{
	char *end, *text, *chunk;
	long long total = strtoll(arg, &end, 10), left;
	size_t len, i, n;
	enum end e = END_NONE;

	if (*end != ':' || total < 0)
		return END_FAIL;
	text = unescape(end + 1, &len);
	if (len == 0) {
		free(text);
		return END_FAIL;
	}
	if ((chunk = malloc(H_CHUNK)) == NULL) {
		perror("malloc");
		exit(1);
	}
	for (i = 0; i < H_CHUNK; i++)
		chunk[i] = text[i % len];
	/* Every chunk starts at a multiple of len: the pattern runs on. */
	n = H_CHUNK - H_CHUNK % len;
	for (left = total; left > 0 && e == END_NONE; left -= (long long)n) {
		if ((long long)n > left)
			n = (size_t)left;
		e = write_all(c, chunk, n);
	}
	free(chunk);
	free(text);
	return e;
}

static enum end
step_drip(struct conn *c, const char *arg)
{
	char *end, *text;
	long ms = strtol(arg, &end, 10);
	size_t len, i;
	enum end e = END_NONE;

	if (*end != ':' || ms < 0)
		return END_FAIL;
	text = unescape(end + 1, &len);
	for (i = 0; i < len && e == END_NONE; i++) {
		if (i > 0 && (e = watch(c, ms)) != END_NONE)
			break;
		e = write_all(c, text + i, 1);
	}
	free(text);
	return e;
}

static enum end
step_flood(struct conn *c, const char *arg)
{
	size_t len, i, n;
	char *text = unescape(arg, &len), *chunk;
	long long start = c->sent;
	enum end e = END_NONE;

	if (len == 0 || (chunk = malloc(H_CHUNK)) == NULL) {
		free(text);
		return END_FAIL;
	}
	for (i = 0; i < H_CHUNK; i++)
		chunk[i] = text[i % len];
	n = H_CHUNK - H_CHUNK % len;
	while (e == END_NONE && c->sent - start < H_FLOOD_MAX &&
	    now_ms() - c->start < H_HANG_MS)
		e = write_all(c, chunk, n);
	free(chunk);
	free(text);
	return e == END_NONE ? END_TIMEOUT : e;
}

static enum end
step_reset(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
	return END_RESET;
}

static enum end
step(struct conn *c, const char *s)
{
	char line[1024];
	size_t len;
	enum end e;
	char *text;

	if (strncmp(s, "send:", 5) == 0 || strncmp(s, "line:", 5) == 0) {
		text = unescape(s + 5, &len);
		e = write_all(c, text, len);
		free(text);
		if (e == END_NONE && s[0] == 'l')
			e = write_all(c, "\r\n", 2);
		return e;
	}
	if (strncmp(s, "sleep:", 6) == 0)
		return watch(c, atol(s + 6));
	if (strcmp(s, "read") == 0)
		return read_line(c, line, sizeof(line), &len);
	if (strncmp(s, "expect:", 7) == 0)
		return step_expect(c, s + 7);
	if (strcmp(s, "recv") == 0)
		return step_recv(c);
	if (strncmp(s, "bulk:", 5) == 0)
		return step_bulk(c, s + 5);
	if (strncmp(s, "drip:", 5) == 0)
		return step_drip(c, s + 5);
	if (strncmp(s, "flood:", 6) == 0)
		return step_flood(c, s + 6);
	if (strcmp(s, "hang") == 0) {
		e = watch(c, H_HANG_MS);
		return e == END_NONE ? END_TIMEOUT : e;
	}
	if (strcmp(s, "close") == 0)
		return END_CLOSE;
	if (strcmp(s, "reset") == 0)
		return step_reset(c);
	fprintf(stderr, "hostile: unknown step '%s'\n", s);
	return END_FAIL;
}

static void
log_conn(const char *path, const struct conn *c, const char *why, int stepno)
{
	char buf[256];
	int fd, n;

	if (path == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "conn=%ld sent=%lld recvd=%lld ms=%lld "
	    "end=%s step=%d\n", c->id, c->sent, c->recvd, c->end_ms - c->start,
	    why, stepno);
	/* One O_APPEND write: lines of concurrent connections never mix. */
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) >= 0) {
		(void)!write(fd, buf, (size_t)n);
		close(fd);
	}
}

static int
play(struct conn *c, int nsteps, char *const *steps, const char *logpath)
{
	enum end e = END_NONE;
	const char *why;
	int i;

	for (i = 0; i < nsteps && e == END_NONE; i++)
		e = step(c, steps[i]);
	if (e == END_NONE) {
		/* The script is done: half-close and see when the client is. */
		shutdown(c->fd, SHUT_WR);
		e = watch(c, H_HANG_MS);
		why = e == END_NONE ? "timeout" : "done";
	} else
		why = end_str[e];
	c->end_ms = now_ms();
	log_conn(logpath, c, why, i);
	if (c->fd >= 0)
		close(c->fd);
	return e == END_FAIL ? 2 : 0;
}

static int
listen_on(const char *ip, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1;

	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
		return -1;
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 64) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
usage(void)
{
	fprintf(stderr, "usage: hostile [-n CONNS] [-L LOGFILE] IP PORT "
	    "STEP...\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	const char *logpath = NULL;
	struct timeval tv = { .tv_sec = 60 };
	long conns = -1, served = 0;
	struct conn c;
	int ch, lfd, fd;
	pid_t pid;

	while ((ch = getopt(argc, argv, "n:L:")) != -1) {
		switch (ch) {
		case 'n': conns = atol(optarg); break;
		case 'L': logpath = optarg; break;
		default: usage();
		}
	}
	if (argc - optind < 2)
		usage();
	signal(SIGPIPE, SIG_IGN);
	/* Children reaped by the kernel: this server forks per connection. */
	signal(SIGCHLD, SIG_IGN);
	lfd = listen_on(argv[optind], atoi(argv[optind + 1]));
	if (lfd < 0) {
		fprintf(stderr, "hostile: cannot listen on %s:%s: %s\n",
		    argv[optind], argv[optind + 1], strerror(errno));
		return 1;
	}
	/* The test waits for this line rather than probing the port: a
	 * probe would be the log's first connection. */
	if (logpath != NULL) {
		fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0644);
		if (fd < 0 || write(fd, "listening\n", 10) != 10) {
			perror(logpath);
			return 1;
		}
		close(fd);
	}
	while (conns < 0 || served < conns) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("hostile: accept");
			return 1;
		}
		served++;
		if ((pid = fork()) == 0) {
			close(lfd);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			/* A client that stops reading must not hold us. */
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
			    sizeof(tv));
			c = (struct conn){ .fd = fd, .id = served,
			    .start = now_ms() };
			_exit(play(&c, argc - optind - 2, argv + optind + 2,
			    logpath));
		}
		if (pid < 0)
			perror("hostile: fork");
		close(fd);
	}
	/* With SIGCHLD ignored, wait() returns once every child is gone. */
	while (wait(NULL) >= 0 || errno == EINTR)
		;
	return 0;
}
