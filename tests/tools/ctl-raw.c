/*
 * ctl-raw SOCKET MODE [SECS]: talks to poolmond's control socket the wrong
 * way on purpose, prints what the daemon answers:
 *   reply id=N success=0|1 code=N message=TEXT
 *   eof | open        (whether the daemon closed the connection after it)
 * Modes: garbage, oversized, truncated, empty, badversion, unknown (then
 * a version request on the same connection), silent SECS (connect, say
 * nothing, report when the daemon hangs up: "closed after N ms" or
 * "still open after SECS s").
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "poolmon.pb-c.h"

static int
connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait up to ms for a message or the hang-up; 1 when one came. */
static int
wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&pfd, 1, ms) > 0;
}

static void
send_raw(int fd, const void *buf, size_t len)
{
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		perror("send");
		exit(1);
	}
}

static void
send_request(int fd, Poolmon__Request *req, size_t cut)
{
	size_t len = poolmon__request__get_packed_size(req);
	uint8_t *buf = malloc(len + 1);

	poolmon__request__pack(req, buf);
	send_raw(fd, buf, len - cut);
	free(buf);
}

/* Print one reply; 0 when the daemon hung up instead. */
static int
print_reply(int fd)
{
	Poolmon__Response *resp;
	uint8_t *buf;
	ssize_t n;

	if (!wait_readable(fd, 5000)) {
		printf("no reply\n");
		return 0;
	}
	n = frame_recv(fd, CTL_RESPONSE_MAX, &buf);
	if (n <= 0) {
		printf("no reply (%zd)\n", n);
		return 0;
	}
	resp = poolmon__response__unpack(NULL, (size_t)n, buf);
	free(buf);
	if (resp == NULL) {
		printf("malformed reply\n");
		return 0;
	}
	printf("reply id=%llu success=%d code=%d message=%s\n",
	    (unsigned long long)resp->id, resp->success, resp->code,
	    resp->message != NULL ? resp->message : "");
	poolmon__response__free_unpacked(resp, NULL);
	return 1;
}

static void
print_closed(int fd)
{
	uint8_t *buf;

	if (wait_readable(fd, 2000) && frame_recv(fd, CTL_RESPONSE_MAX,
	    &buf) == 0)
		printf("eof\n");
	else
		printf("open\n");
}

static void
request_init(Poolmon__Request *req, uint32_t version, uint64_t id)
{
	poolmon__request__init(req);
	req->version = version;
	req->id = id;
}

static void
silent(int fd, int secs)
{
	long start = now_ms();
	uint8_t *buf;

	if (wait_readable(fd, secs * 1000) && frame_recv(fd, CTL_RESPONSE_MAX,
	    &buf) == 0)
		printf("closed after %ld ms\n", now_ms() - start);
	else
		printf("still open after %d s\n", secs);
}

int
main(int argc, char **argv)
{
	Poolmon__Request req;
	Poolmon__ShowRequest show = POOLMON__SHOW_REQUEST__INIT;
	Poolmon__StatusRequest status = POOLMON__STATUS_REQUEST__INIT;
	Poolmon__VersionRequest version = POOLMON__VERSION_REQUEST__INIT;
	uint8_t junk[100000];
	const char *mode;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: ctl-raw SOCKET MODE [SECS]\n");
		return 2;
	}
	mode = argv[2];
	fd = connect_to(argv[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(junk, 0xff, sizeof(junk));
	if (strcmp(mode, "garbage") == 0)
		send_raw(fd, junk, 64);
	else if (strcmp(mode, "oversized") == 0)
		send_raw(fd, junk, sizeof(junk));
	else if (strcmp(mode, "empty") == 0)
		send_raw(fd, junk, 0);
	else if (strcmp(mode, "truncated") == 0) {
		/* Cut inside the host string: the length runs past the end. */
		request_init(&req, POOLMON__PROTOCOL__PROTOCOL_VERSION, 7);
		show.host = (char *)"127.0.6.1";
		req.command_case = POOLMON__REQUEST__COMMAND_SHOW;
		req.show = &show;
		send_request(fd, &req, 4);
	} else if (strcmp(mode, "badversion") == 0) {
		request_init(&req, 99, 8);
		req.command_case = POOLMON__REQUEST__COMMAND_STATUS;
		req.status = &status;
		send_request(fd, &req, 0);
	} else if (strcmp(mode, "unknown") == 0) {
		request_init(&req, POOLMON__PROTOCOL__PROTOCOL_VERSION, 9);
		send_request(fd, &req, 0);
		if (print_reply(fd)) {
			request_init(&req, POOLMON__PROTOCOL__PROTOCOL_VERSION,
			    10);
			req.command_case = POOLMON__REQUEST__COMMAND_GET_VERSION;
			req.get_version = &version;
			send_request(fd, &req, 0);
		}
	} else if (strcmp(mode, "silent") == 0) {
		silent(fd, argc > 3 ? atoi(argv[3]) : 10);
		return 0;
	} else {
		fprintf(stderr, "ctl-raw: unknown mode %s\n", mode);
		return 2;
	}
	if (print_reply(fd))
		print_closed(fd);
	close(fd);
	return 0;
}
