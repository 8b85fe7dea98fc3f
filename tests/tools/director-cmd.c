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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_conn.h"

#define DEADLINE_MS 10000

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

/* What a failed call of admin_conn.h means here. */
static void die_conn(int r, const char *line)
{
	switch (r) {
	case -ETIMEDOUT:
		die("timed out waiting for the director");
	case -ECONNRESET:
		die("director disconnected (unknown command or bad parameters?)");
	case -EMSGSIZE:
		die("reply line too long");
	case -EPROTO:
		die("unexpected handshake from director: %s", line);
	default:
		die("director: %s", strerror(-r));
	}
}

/* One line of the reply, or die saying why there is none. */
static size_t read_line(struct admin_conn *c, char **line)
{
	ssize_t n = admin_read_line(c, line);

	if (n < 0)
		die_conn((int)n, NULL);
	return (size_t)n;
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
	static struct admin_conn c;
	char cmd[8192], *line = NULL;
	size_t pos = 0, len;
	int i, r;

	if (argc < 3) {
		fprintf(stderr, "usage: director-cmd SOCKET CMD [ARG...]\n");
		return 1;
	}

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

	/* Both sides may send their VERSION line at once; pipeline ours and
	 * the command. */
	if ((r = admin_open(&c, argv[1], admin_mono_ms() + DEADLINE_MS)) < 0)
		die("connect %s: %s", argv[1], strerror(-r));
	if ((r = admin_write(&c, cmd, pos)) < 0 ||
	    (r = admin_check_version(&c, &line)) < 0)
		die_conn(r, line);

	if (!is_multiline(argv[2])) {
		read_line(&c, &line);
		printf("%s\n", line);
	} else {
		while (read_line(&c, &line) > 0)
			printf("%s\n", line);
	}
	close(c.fd);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("write to stdout failed");
	return 0;
}
