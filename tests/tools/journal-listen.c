/*
 * journal-listen PATH OUTFILE: a stand-in for journald's native socket
 * (/run/systemd/journal/socket), for tests where no journal runs. Binds a
 * datagram socket at PATH and appends each entry received to OUTFILE as
 * one line of tab-separated KEY=VALUE fields (a newline or tab inside a
 * value written as \n or \t), flushed at once. Decodes both forms of the
 * native protocol: "KEY=VALUE\n" and "KEY\n" + 64-bit little-endian
 * length + data + "\n". Runs until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
put_value(FILE *out, const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (v[i] == '\n')
			fputs("\\n", out);
		else if (v[i] == '\t')
			fputs("\\t", out);
		else
			fputc(v[i], out);
	}
}

/* One datagram: fields until the end; a malformed one ends the entry. */
static void
put_entry(FILE *out, const char *p, size_t len)
{
	const char *end = p + len, *nl, *eq;
	uint64_t vlen;
	bool first = true;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		eq = memchr(p, '=', (size_t)(nl - p));
		fputs(first ? "" : "\t", out);
		first = false;
		if (eq != NULL) {
			fwrite(p, 1, (size_t)(eq - p + 1), out);
			put_value(out, eq + 1, (size_t)(nl - eq - 1));
			p = nl + 1;
			continue;
		}
		fwrite(p, 1, (size_t)(nl - p), out);
		fputc('=', out);
		p = nl + 1;
		if ((size_t)(end - p) < 8)
			break;
		memcpy(&vlen, p, 8);	/* little-endian on the hosts we run */
		p += 8;
		if (vlen > (uint64_t)(end - p))
			break;
		put_value(out, p, (size_t)vlen);
		p += vlen + 1;
	}
	fputc('\n', out);
	fflush(out);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sigaction sa = { .sa_handler = on_signal };
	static char buf[256 * 1024];
	FILE *out;
	ssize_t n;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: journal-listen PATH OUTFILE\n");
		return 2;
	}
	strcpy(sun.sun_path, argv[1]);
	/* No SA_RESTART: a signal must end the blocking recv(). */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((out = fopen(argv[2], "a")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	unlink(argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror(argv[1]);
		return 1;
	}
	while (!stop) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recv");
			return 1;
		}
		put_entry(out, buf, (size_t)n);
	}
	unlink(argv[1]);
	return 0;
}
