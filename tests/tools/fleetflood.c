/*
 * fleetflood [-r RECONNECT_MS] [-p PEERIP -P NPEER] ADDR PORT N SECS
 *	A flood of keyless connections at a fleet listener: N TCP
 *	connections to ADDR:PORT, each from a source address of its own,
 *	127.0.99.1 upward (127.0.99.1-254, then 127.0.100.1-...), held open
 *	for SECS seconds without sending a byte; with -p, NPEER more from
 *	PEERIP (a peer's own address). A connection the server closes is
 *	opened again RECONNECT_MS (default 100) later, so the flood keeps up
 *	its pressure however the server sheds it. Prints "flooding: N of M
 *	connections opened" once the first connects are under way, "opened
 *	N closed M failed F" at the end; exit 0, or 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLOOD_MAX	4000

struct slot {
	int fd;
	struct in_addr src;
	long long reopen_at;	/* when fd < 0: ms */
};

static struct slot slots[FLOOD_MAX];
static struct pollfd pfds[FLOOD_MAX];
static struct sockaddr_in target;
static long opened, closed, failed;
static volatile sig_atomic_t stop;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Non-blocking connect from the slot's own source address. */
static void
slot_open(struct slot *s, long long now, int reconnect_ms)
{
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr = s->src };
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		failed++;
		s->reopen_at = now + reconnect_ms;
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    (connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0 &&
	    errno != EINPROGRESS)) {
		close(fd);
		failed++;
		s->reopen_at = now + reconnect_ms;
		return;
	}
	s->fd = fd;
	opened++;
}

/* Nth source address of the flood: 127.0.99.1-254, 127.0.100.1-254, ... */
static struct in_addr
flood_source(int n)
{
	struct in_addr a;

	a.s_addr = htonl((127u << 24) | ((unsigned)(99 + n / 254) << 8) |
	    (unsigned)(n % 254 + 1));
	return a;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct in_addr peer = { 0 };
	int reconnect_ms = 100, npeer = 0, n, total, i, c, port;
	long long end, now;
	char byte;

	while ((c = getopt(argc, argv, "r:p:P:")) != -1) {
		switch (c) {
		case 'r':
			reconnect_ms = atoi(optarg);
			break;
		case 'p':
			if (inet_pton(AF_INET, optarg, &peer) != 1)
				goto usage;
			break;
		case 'P':
			npeer = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 4)
		goto usage;
	target.sin_family = AF_INET;
	port = atoi(argv[optind + 1]);
	n = atoi(argv[optind + 2]);
	if (inet_pton(AF_INET, argv[optind], &target.sin_addr) != 1 ||
	    port <= 0 || port > 65535 || n < 0 || npeer < 0 ||
	    (npeer > 0 && peer.s_addr == 0) || n + npeer > FLOOD_MAX ||
	    n > 254 * 100 || reconnect_ms < 0)
		goto usage;
	target.sin_port = htons((uint16_t)port);
	total = n + npeer;
	end = now_ms() + 1000LL * atoi(argv[optind + 3]);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	now = now_ms();
	for (i = 0; i < total; i++) {
		slots[i].fd = -1;
		slots[i].src = i < n ? flood_source(i) : peer;
		slot_open(&slots[i], now, reconnect_ms);
	}
	printf("flooding: %ld of %d connections opened\n", opened, total);
	fflush(stdout);
	while (!stop && (now = now_ms()) < end) {
		int wait = 50;

		for (i = 0; i < total; i++) {
			if (slots[i].fd < 0 && slots[i].reopen_at <= now)
				slot_open(&slots[i], now, reconnect_ms);
			pfds[i].fd = slots[i].fd;
			/* Readable: the server closed it, or sent something
			 * (a TLS alert); either way the slot is lost. */
			pfds[i].events = POLLIN;
			pfds[i].revents = 0;
		}
		if (poll(pfds, (nfds_t)total, wait) < 0 && errno != EINTR)
			break;
		now = now_ms();
		for (i = 0; i < total; i++) {
			if (slots[i].fd < 0 || pfds[i].revents == 0)
				continue;
			/* Data without a close: drained, the slot kept. */
			if (!(pfds[i].revents & (POLLHUP | POLLERR)) &&
			    recv(slots[i].fd, &byte, 1, MSG_DONTWAIT) > 0)
				continue;
			close(slots[i].fd);
			slots[i].fd = -1;
			slots[i].reopen_at = now + reconnect_ms;
			closed++;
		}
	}
	for (i = 0; i < total; i++)
		if (slots[i].fd >= 0)
			close(slots[i].fd);
	printf("opened %ld closed %ld failed %ld\n", opened, closed, failed);
	return 0;
usage:
	fprintf(stderr, "usage: fleetflood [-r RECONNECT_MS] [-p PEERIP -P "
	    "NPEER] ADDR PORT N SECS\n");
	return 2;
}
