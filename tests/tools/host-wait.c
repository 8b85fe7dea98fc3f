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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_conn.h"

#define LIST_CMD "HOST-LIST\n"

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

/* Reported times on the wall clock; deadlines are monotonic. */
static long long wall_ms(void)
{
	return admin_clock_ms(CLOCK_REALTIME);
}

/* What a failed call of admin_conn.h means here: 2 at the deadline. */
static void die_conn(int r, const char *line)
{
	switch (r) {
	case -ETIMEDOUT:
		die(2, "timed out");
	case -ECONNRESET:
		die(1, "the director closed the connection");
	case -EMSGSIZE:
		die(1, "reply line too long");
	case -EPROTO:
		die(1, "unexpected handshake from the director: %s", line);
	default:
		die(1, "director: %s", strerror(-r));
	}
}

static size_t read_line(struct admin_conn *c, char **line)
{
	ssize_t n = admin_read_line(c, line);

	if (n < 0)
		die_conn((int)n, NULL);
	return (size_t)n;
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
static char poll_state(struct admin_conn *c, const char *ip)
{
	char state = 0, s, *line;
	int r;

	if ((r = admin_write(c, LIST_CMD, strlen(LIST_CMD))) < 0)
		die_conn(r, NULL);
	while (read_line(c, &line) > 0)
		if ((s = line_state(line, ip)) != 0)
			state = s;
	if (state == 0)
		die(1, "%s is not in the director's host list", ip);
	return state;
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
	static struct admin_conn c;
	char want, *line = NULL;
	int r;

	if (argc != 6 || (strcmp(argv[3], "U") != 0 &&
	    strcmp(argv[3], "D") != 0)) {
		fprintf(stderr, "usage: host-wait SOCKET IP U|D GRAIN_MS "
		    "TIMEOUT_MS\n");
		return 1;
	}
	ip = argv[2];
	want = argv[3][0];
	grain = parse_ms(argv[4], "grain");
	if ((r = admin_open(&c, argv[1], admin_mono_ms() +
	    parse_ms(argv[5], "timeout"))) < 0)
		die(1, "connect %s: %s", argv[1], strerror(-r));
	if ((r = admin_check_version(&c, &line)) < 0)
		die_conn(r, line);
	for (;;) {
		next = admin_mono_ms() + grain;
		sent = wall_ms();
		polls++;
		if (poll_state(&c, ip) == want)
			break;
		answered = wall_ms();
		if (answered - sent > slowest)
			slowest = answered - sent;
		lo = sent;
		if (next >= c.deadline)
			die(2, "timed out: %s not %c", ip, want);
		while ((left = next - admin_mono_ms()) > 0)
			usleep((useconds_t)left * 1000);
	}
	answered = wall_ms();
	if (answered - sent > slowest)
		slowest = answered - sent;
	printf("%lld %lld %ld %lld\n", lo, answered, polls, slowest);
	close(c.fd);
	return fflush(stdout) == 0 ? 0 : 1;
}
