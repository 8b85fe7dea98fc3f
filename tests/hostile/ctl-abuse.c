/*
 * ctl-abuse: a hostile client of poolmond's control socket, beyond
 * tests/tools/ctl-raw (one bad message at a time): many bad messages,
 * every truncation of a request, clients that stall or never read, a
 * thousand connections at once, floods of refused or large requests. Each
 * mode prints one summary line of key=value words for the test to check.
 *
 *   ctl-abuse SOCKET random N SEED   N connections, each one message of
 *                                    1..70000 random bytes
 *   ctl-abuse SOCKET sizes           messages of 65535, 65536, 65537 and
 *                                    131072 bytes
 *   ctl-abuse SOCKET truncate        every proper prefix of a valid show
 *                                    request, each on its own connection
 *   ctl-abuse SOCKET stall N SECS    N connections that say nothing: when
 *                                    does the daemon hang up?
 *   ctl-abuse SOCKET noread N        N status requests on one connection
 *                                    and never a reply read
 *   ctl-abuse SOCKET flood N SECS    N connections at once, held SECS
 *   ctl-abuse SOCKET privileged N    N rechecks (no wait) and N status
 *                                    requests on one connection
 *   ctl-abuse SOCKET bigrecheck N H  N rechecks (no wait) of H unknown
 *                                    addresses each, on one connection
 *   ctl-abuse SOCKET rechecks N      N rechecks of every backend, each
 *                                    waited for, on one connection
 *   ctl-abuse SOCKET status          one status request
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "poolmon.pb-c.h"

#define REPLY_WAIT_MS	3000
#define EOF_WAIT_MS	2000
#define CODE_MAX	256

static const char *sockpath;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
fill_sun(struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(sockpath) >= sizeof(sun->sun_path)) {
		fprintf(stderr, "ctl-abuse: path too long\n");
		exit(2);
	}
	strcpy(sun->sun_path, sockpath);
}

/* A blocking connection, or -errno. */
static int
dial(void)
{
	struct sockaddr_un sun;
	int fd, e;

	fill_sun(&sun);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int
dial_or_die(void)
{
	int fd = dial();

	if (fd < 0) {
		printf("connect-failed error=%s\n", strerror(-fd));
		exit(1);
	}
	return fd;
}

/*
 * Wait up to ms for one message. 1 with *resp (NULL if it was not a
 * Response), 0 when the daemon hung up, -1 when nothing came in time.
 */
static int
recv_reply(int fd, int ms, Poolmon__Response **resp)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
	uint8_t *buf;
	ssize_t n;

	*resp = NULL;
	if (poll(&pfd, 1, ms) <= 0)
		return -1;
	n = frame_recv(fd, CTL_RESPONSE_MAX, &buf);
	/* A peer that closes with our request unread resets the connection:
	 * the error comes first, then what it sent before closing. */
	if (n == -ECONNRESET)
		n = frame_recv(fd, CTL_RESPONSE_MAX, &buf);
	if (n == -EAGAIN)
		return -1;
	if (n <= 0)
		return 0;
	*resp = poolmon__response__unpack(NULL, (size_t)n, buf);
	free(buf);
	return 1;
}

/* After a fatal error reply: 1 if the daemon hangs up within ms. */
static int
hangs_up(int fd, int ms)
{
	Poolmon__Response *resp;
	int r = recv_reply(fd, ms, &resp);

	if (resp != NULL)
		poolmon__response__free_unpacked(resp, NULL);
	return r == 0;
}

static void
request_init(Poolmon__Request *req, uint64_t id)
{
	poolmon__request__init(req);
	req->version = POOLMON__PROTOCOL__PROTOCOL_VERSION;
	req->id = id;
}

/* Pack req into a new buffer; its size in *len. */
static uint8_t *
pack(const Poolmon__Request *req, size_t *len)
{
	uint8_t *buf;

	*len = poolmon__request__get_packed_size(req);
	if ((buf = malloc(*len + 1)) == NULL) {
		perror("malloc");
		exit(1);
	}
	poolmon__request__pack(req, buf);
	return buf;
}

static int
send_msg(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -errno;
}

struct codes {
	unsigned long n[CODE_MAX];
};

static void
codes_add(struct codes *c, int code)
{
	c->n[code >= 0 && code < CODE_MAX ? code : CODE_MAX - 1]++;
}

static void
codes_print(const struct codes *c)
{
	const char *sep = "";
	int i;

	printf(" codes=");
	for (i = 0; i < CODE_MAX; i++) {
		if (c->n[i] == 0)
			continue;
		printf("%s%d:%lu", sep, i, c->n[i]);
		sep = ",";
	}
	if (*sep == '\0')
		printf("none");
	printf("\n");
}

/*
 * One bad message on a new connection: the reply's code goes to codes;
 * "hung" when there was no reply, or a fatal one without a hang-up.
 */
static void
one_bad(const void *buf, size_t len, struct codes *codes,
    unsigned long *hung, unsigned long *sendfail)
{
	Poolmon__Response *resp;
	int fd = dial_or_die(), r, code;

	if (send_msg(fd, buf, len) < 0) {
		(*sendfail)++;
		close(fd);
		return;
	}
	r = recv_reply(fd, REPLY_WAIT_MS, &resp);
	if (r != 1 || resp == NULL) {
		if (r != 0)
			(*hung)++;
		else
			codes_add(codes, 0);
		close(fd);
		return;
	}
	code = resp->has_code ? (int)resp->code : 0;
	codes_add(codes, code);
	poolmon__response__free_unpacked(resp, NULL);
	/* EOPNOTSUPP keeps the connection; every other error closes it. */
	if (code != EOPNOTSUPP && !hangs_up(fd, EOF_WAIT_MS))
		(*hung)++;
	close(fd);
}

static void
mode_random(int n, unsigned int seed)
{
	struct codes codes = { { 0 } };
	unsigned long hung = 0, sendfail = 0;
	uint8_t *buf = malloc(70000);
	size_t len, j;
	int i;

	srandom(seed);
	for (i = 0; i < n; i++) {
		/* Mostly small, sometimes near or over the cap. */
		len = 1 + (size_t)(random() % (i % 10 == 0 ? 70000 : 300));
		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)random();
		one_bad(buf, len, &codes, &hung, &sendfail);
	}
	free(buf);
	printf("random sent=%d hung=%lu sendfail=%lu", n, hung, sendfail);
	codes_print(&codes);
}

static void
mode_sizes(void)
{
	static const size_t sizes[] = { 65535, 65536, 65537, 131072 };
	uint8_t *buf = malloc(131072);
	size_t i;

	memset(buf, 0xa5, 131072);
	printf("sizes");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct codes codes = { { 0 } };
		unsigned long hung = 0, sendfail = 0;
		int c;

		one_bad(buf, sizes[i], &codes, &hung, &sendfail);
		for (c = 0; c < CODE_MAX && codes.n[c] == 0; c++)
			;
		printf(" %zu=%s", sizes[i], sendfail ? "sendfail" : hung ?
		    "hung" : "");
		if (!sendfail && !hung)
			printf("%d", c);
	}
	printf("\n");
	free(buf);
}

static void
mode_truncate(void)
{
	Poolmon__Request req;
	Poolmon__ShowRequest show = POOLMON__SHOW_REQUEST__INIT;
	struct codes codes = { { 0 } };
	unsigned long hung = 0, sendfail = 0;
	size_t len, cut;
	uint8_t *buf;

	request_init(&req, 77);
	show.host = (char *)"127.0.8.1";
	req.command_case = POOLMON__REQUEST__COMMAND_SHOW;
	req.show = &show;
	buf = pack(&req, &len);
	for (cut = 1; cut < len; cut++)
		one_bad(buf, cut, &codes, &hung, &sendfail);
	free(buf);
	printf("truncate prefixes=%zu hung=%lu sendfail=%lu", len - 1, hung,
	    sendfail);
	codes_print(&codes);
}

static void
raise_nofile(int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < (rlim_t)want) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max :
		    (rlim_t)want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
mode_stall(int n, int secs)
{
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	long long start, *closed = calloc((size_t)n, sizeof(*closed));
	long long minms = -1, maxms = -1;
	int i, open = n, r;
	uint8_t *buf;

	raise_nofile(n + 64);
	for (i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = dial_or_die(),
		    .events = POLLIN | POLLRDHUP };
	start = now_ms();
	while (open > 0 && now_ms() - start < secs * 1000LL) {
		if ((r = poll(pfd, (nfds_t)n, 100)) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (frame_recv(pfd[i].fd, CTL_RESPONSE_MAX, &buf) > 0) {
				free(buf);
				continue;	/* a reply to silence? */
			}
			closed[i] = now_ms() - start;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			open--;
			if (minms < 0 || closed[i] < minms)
				minms = closed[i];
			if (closed[i] > maxms)
				maxms = closed[i];
		}
	}
	printf("stall n=%d closed=%d min_ms=%lld max_ms=%lld\n", n, n - open,
	    minms, maxms);
	for (i = 0; i < n; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	free(pfd);
	free(closed);
}

static void
mode_noread(int n)
{
	Poolmon__Request req;
	Poolmon__StatusRequest status = POOLMON__STATUS_REQUEST__INIT;
	struct pollfd pfd;
	long long start;
	uint8_t *buf;
	size_t len;
	int fd = dial_or_die(), i, sent = 0;
	bool closed = false;

	request_init(&req, 1);
	req.command_case = POOLMON__REQUEST__COMMAND_STATUS;
	req.status = &status;
	buf = pack(&req, &len);
	for (i = 0; i < n; i++) {
		if (send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    (ssize_t)len)
			break;
		sent++;
	}
	free(buf);
	/* Never read: only a hang-up (or a reset) ends this. */
	start = now_ms();
	pfd = (struct pollfd){ .fd = fd, .events = POLLRDHUP };
	while (now_ms() - start < 20000) {
		if (poll(&pfd, 1, 100) > 0 &&
		    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			closed = true;
			break;
		}
	}
	printf("noread requested=%d sent=%d closed=%d after_ms=%lld\n", n,
	    sent, closed, now_ms() - start);
	close(fd);
}

static void
mode_flood(int n, int secs)
{
	struct pollfd *pfd;
	bool *connected;
	int i, ok = 0, failed = 0, refused = 0, dropped = 0, open = 0, e;
	long long start = now_ms(), took;
	struct sockaddr_un sun;
	Poolmon__Response *resp;
	struct rlimit rl;
	int r;

	raise_nofile(n + 64);
	getrlimit(RLIMIT_NOFILE, &rl);
	/* A hard limit below n + 64: as many as it allows, said below. */
	if ((rlim_t)n + 64 > rl.rlim_cur)
		n = rl.rlim_cur > 128 ? (int)rl.rlim_cur - 64 : 64;
	fill_sun(&sun);
	pfd = calloc((size_t)n, sizeof(*pfd));
	connected = calloc((size_t)n, sizeof(*connected));
	for (i = 0; i < n; i++)
		pfd[i].fd = -1;
	/* All at once: non-blocking connects, again while the backlog is
	 * full, for 10 s at most. */
	while (ok + failed < n && now_ms() - start < 10000) {
		for (i = 0; i < n; i++) {
			if (connected[i] || pfd[i].fd == -2)
				continue;
			if (pfd[i].fd < 0 && (pfd[i].fd = socket(AF_UNIX,
			    SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    0)) < 0) {
				pfd[i].fd = -2;
				failed++;
				continue;
			}
			if (connect(pfd[i].fd, (struct sockaddr *)&sun,
			    sizeof(sun)) == 0) {
				connected[i] = true;
				ok++;
				continue;
			}
			e = errno;
			if (e == EAGAIN || e == EINPROGRESS || e == EALREADY)
				continue;
			close(pfd[i].fd);
			pfd[i].fd = -2;
			failed++;
		}
		if (ok + failed < n)
			usleep(1000);
	}
	took = now_ms() - start;
	for (i = 0; i < n; i++)
		pfd[i].events = connected[i] ? POLLIN | POLLRDHUP : 0;
	/* Hold them; note who is refused or dropped. */
	start = now_ms();
	while (now_ms() - start < secs * 1000LL) {
		if (poll(pfd, (nfds_t)n, 100) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (!connected[i] || pfd[i].revents == 0)
				continue;
			r = recv_reply(pfd[i].fd, 0, &resp);
			if (r == 1 && resp != NULL) {
				if (resp->has_code && resp->code == EBUSY)
					refused++;
				poolmon__response__free_unpacked(resp, NULL);
				if (hangs_up(pfd[i].fd, EOF_WAIT_MS) == 0)
					continue;
			} else if (r != 0)
				continue;
			else
				dropped++;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			pfd[i].events = 0;
			connected[i] = false;
		}
	}
	for (i = 0; i < n; i++) {
		if (connected[i])
			open++;
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	}
	printf("flood n=%d connected=%d connect_failed=%d connect_ms=%lld "
	    "refused=%d dropped=%d open=%d\n", n, ok, failed, took, refused,
	    dropped, open);
	free(pfd);
	free(connected);
}

/*
 * Send one request and read its reply parts: the first part's code (0
 * for success), or -1 when there was none in time, -2 at a hang-up.
 */
static int
ask(int fd, Poolmon__Request *req, int ms, size_t *backends)
{
	Poolmon__Response *resp;
	uint8_t *buf;
	size_t len;
	int code = -1, r;
	bool more = true, first = true;

	buf = pack(req, &len);
	r = send_msg(fd, buf, len);
	free(buf);
	if (backends != NULL)
		*backends = 0;
	/* Refused at once, the reply saying why may be waiting. */
	if (r < 0 && (r = recv_reply(fd, 0, &resp)) == 1 && resp != NULL) {
		code = resp->has_code ? (int)resp->code : 999;
		poolmon__response__free_unpacked(resp, NULL);
		return code;
	}
	if (r < 0)
		return -2;
	while (more) {
		r = recv_reply(fd, ms, &resp);
		if (r <= 0)
			return r == 0 ? -2 : -1;
		if (resp == NULL)
			return -3;
		if (first)
			code = resp->success ? 0 : resp->has_code ?
			    (int)resp->code : 999;
		first = false;
		more = resp->has_more && resp->more;
		if (backends != NULL && resp->result_case ==
		    POOLMON__RESPONSE__RESULT_STATUS)
			*backends += resp->status->n_backends;
		if (backends != NULL && resp->result_case ==
		    POOLMON__RESPONSE__RESULT_RECHECK)
			*backends += resp->recheck->n_backends;
		poolmon__response__free_unpacked(resp, NULL);
	}
	return code;
}

static void
mode_privileged(int n)
{
	Poolmon__Request req;
	Poolmon__RecheckRequest rr = POOLMON__RECHECK_REQUEST__INIT;
	Poolmon__StatusRequest status = POOLMON__STATUS_REQUEST__INIT;
	struct codes rc = { { 0 } }, sc = { { 0 } };
	int fd = dial_or_die(), i, code;

	rr.has_wait = 1;
	rr.wait = 0;
	for (i = 0; i < n; i++) {
		request_init(&req, (uint64_t)i);
		req.command_case = POOLMON__REQUEST__COMMAND_RECHECK;
		req.recheck = &rr;
		code = ask(fd, &req, REPLY_WAIT_MS, NULL);
		codes_add(&rc, code < 0 ? CODE_MAX - 1 : code);
		request_init(&req, (uint64_t)i);
		req.command_case = POOLMON__REQUEST__COMMAND_STATUS;
		req.status = &status;
		code = ask(fd, &req, REPLY_WAIT_MS, NULL);
		codes_add(&sc, code < 0 ? CODE_MAX - 1 : code);
		if (code < 0)
			break;
	}
	printf("privileged n=%d recheck", n);
	codes_print(&rc);
	printf("privileged n=%d status", n);
	codes_print(&sc);
	close(fd);
}

static void
mode_bigrecheck(int n, int h)
{
	Poolmon__Request req;
	Poolmon__RecheckRequest rr = POOLMON__RECHECK_REQUEST__INIT;
	struct codes codes = { { 0 } };
	char **hosts = calloc((size_t)h, sizeof(*hosts));
	int fd = dial_or_die(), i, code;

	for (i = 0; i < h; i++) {
		hosts[i] = malloc(16);
		snprintf(hosts[i], 16, "10.%d.%d.%d", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
	}
	rr.hosts = hosts;
	rr.n_hosts = (size_t)h;
	rr.has_wait = 1;
	rr.wait = 0;
	for (i = 0; i < n; i++) {
		request_init(&req, (uint64_t)i);
		req.command_case = POOLMON__REQUEST__COMMAND_RECHECK;
		req.recheck = &rr;
		code = ask(fd, &req, REPLY_WAIT_MS, NULL);
		codes_add(&codes, code < 0 ? CODE_MAX - 1 : code);
		if (code < 0)
			break;
	}
	printf("bigrecheck n=%d hosts=%d", n, h);
	codes_print(&codes);
	for (i = 0; i < h; i++)
		free(hosts[i]);
	free(hosts);
	close(fd);
}

static void
mode_rechecks(int n)
{
	Poolmon__Request req;
	Poolmon__RecheckRequest rr = POOLMON__RECHECK_REQUEST__INIT;
	long long start = now_ms();
	int fd = dial_or_die(), i, ok = 0, code = 0;
	size_t backends;

	for (i = 0; i < n; i++) {
		request_init(&req, (uint64_t)i);
		req.command_case = POOLMON__REQUEST__COMMAND_RECHECK;
		req.recheck = &rr;
		code = ask(fd, &req, 30000, &backends);
		if (code != 0)
			break;
		ok++;
	}
	printf("rechecks n=%d ok=%d last_code=%d ms=%lld\n", n, ok, code,
	    now_ms() - start);
	close(fd);
}

static void
mode_status(void)
{
	Poolmon__Request req;
	Poolmon__StatusRequest status = POOLMON__STATUS_REQUEST__INIT;
	long long start = now_ms();
	size_t backends = 0;
	int fd = dial(), code;

	if (fd < 0) {
		printf("status connect-failed error=%s\n", strerror(-fd));
		return;
	}
	request_init(&req, 1);
	req.command_case = POOLMON__REQUEST__COMMAND_STATUS;
	req.status = &status;
	code = ask(fd, &req, REPLY_WAIT_MS, &backends);
	printf("status code=%d backends=%zu ms=%lld\n", code, backends,
	    now_ms() - start);
	close(fd);
}

static int
arg(int argc, char **argv, int i)
{
	if (i >= argc) {
		fprintf(stderr, "ctl-abuse: missing argument\n");
		exit(2);
	}
	return atoi(argv[i]);
}

int
main(int argc, char **argv)
{
	const char *mode;

	if (argc < 3) {
		fprintf(stderr, "usage: ctl-abuse SOCKET MODE [ARGS]\n");
		return 2;
	}
	sockpath = argv[1];
	mode = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "random") == 0)
		mode_random(arg(argc, argv, 3), (unsigned int)arg(argc, argv,
		    4));
	else if (strcmp(mode, "sizes") == 0)
		mode_sizes();
	else if (strcmp(mode, "truncate") == 0)
		mode_truncate();
	else if (strcmp(mode, "stall") == 0)
		mode_stall(arg(argc, argv, 3), arg(argc, argv, 4));
	else if (strcmp(mode, "noread") == 0)
		mode_noread(arg(argc, argv, 3));
	else if (strcmp(mode, "flood") == 0)
		mode_flood(arg(argc, argv, 3), arg(argc, argv, 4));
	else if (strcmp(mode, "privileged") == 0)
		mode_privileged(arg(argc, argv, 3));
	else if (strcmp(mode, "bigrecheck") == 0)
		mode_bigrecheck(arg(argc, argv, 3), arg(argc, argv, 4));
	else if (strcmp(mode, "rechecks") == 0)
		mode_rechecks(arg(argc, argv, 3));
	else if (strcmp(mode, "status") == 0)
		mode_status();
	else {
		fprintf(stderr, "ctl-abuse: unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}
