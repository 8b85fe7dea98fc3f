/*
 * notify-listen PATH OUTFILE: a stand-in for systemd's notification
 * socket. Binds a datagram socket at PATH (use it as $NOTIFY_SOCKET) and
 * appends every assignment received ("READY=1", "STATUS=...") to OUTFILE,
 * one per line, flushed at once. Runs until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <signal.h>
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

int
main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sigaction sa = { .sa_handler = on_signal };
	char buf[8192];
	FILE *out;
	ssize_t n;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: notify-listen PATH OUTFILE\n");
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
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recv");
			break;
		}
		buf[n] = '\0';
		fputs(buf, out);
		if (n == 0 || buf[n - 1] != '\n')
			fputc('\n', out);
		fflush(out);
	}
	unlink(argv[1]);
	fclose(out);
	return 0;
}
