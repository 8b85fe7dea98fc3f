/*
 * The frame of tests/tools/notify-listen.c and journal-listen.c: a
 * datagram socket bound at PATH, each datagram received handed to the
 * tool with OUTFILE (opened to append), until SIGTERM or SIGINT.
 */
#ifndef POOLMON_TEST_DGRAM_LISTEN_H
#define POOLMON_TEST_DGRAM_LISTEN_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef void dgram_fn(FILE *out, const char *data, size_t len);

static volatile sig_atomic_t dgram_stop;

static void
dgram_on_signal(int sig)
{
	(void)sig;
	dgram_stop = 1;
}

/* main() of a listener called name: buf holds one datagram. */
static int
dgram_listen_main(const char *name, int argc, char **argv, char *buf,
    size_t size, dgram_fn *handle)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sigaction sa = { .sa_handler = dgram_on_signal };
	FILE *out;
	ssize_t n;
	int fd, rc = 0;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: %s PATH OUTFILE\n", name);
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
		fclose(out);
		return 1;
	}
	while (!dgram_stop) {
		if ((n = recv(fd, buf, size, 0)) < 0) {
			if (errno == EINTR)
				continue;
			perror("recv");
			rc = 1;
			break;
		}
		handle(out, buf, (size_t)n);
		fflush(out);
	}
	unlink(argv[1]);
	fclose(out);
	return rc;
}

#endif
