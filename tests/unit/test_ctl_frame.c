/*
 * Control-socket framing over a real SOCK_SEQPACKET pair: whole messages,
 * the size cap (a big message is discarded, the next one still reads),
 * empty messages, end of file and nothing to read.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "unit.h"

static int sv[2];

static void
pair(void)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
}

static void
test_roundtrip(void)
{
	uint8_t *buf;
	ssize_t n;

	pair();
	CHECK(frame_recv(sv[1], 100, &buf) == -EAGAIN && buf == NULL);
	CHECK(frame_send(sv[0], "hello", 5) == 0);
	CHECK(frame_send(sv[0], "world!", 6) == 0);
	n = frame_recv(sv[1], 100, &buf);
	CHECK(n == 5 && buf != NULL && memcmp(buf, "hello", 5) == 0);
	free(buf);
	/* Boundaries are kept: the second message comes alone. */
	n = frame_recv(sv[1], 6, &buf);
	CHECK(n == 6 && buf != NULL && memcmp(buf, "world!", 6) == 0);
	free(buf);
	close(sv[0]);
	CHECK(frame_recv(sv[1], 100, &buf) == 0);
	close(sv[1]);
}

static void
test_cap(void)
{
	static uint8_t big[100000];
	uint8_t *buf;

	pair();
	memset(big, 'x', sizeof(big));
	CHECK(frame_send(sv[0], big, sizeof(big)) == 0);
	CHECK(frame_send(sv[0], "next", 4) == 0);
	CHECK(frame_recv(sv[1], CTL_REQUEST_MAX, &buf) == -EMSGSIZE);
	CHECK(buf == NULL);
	/* The oversized message is gone, whole. */
	CHECK(frame_recv(sv[1], CTL_REQUEST_MAX, &buf) == 4);
	CHECK(buf != NULL && memcmp(buf, "next", 4) == 0);
	free(buf);
	close(sv[0]);
	close(sv[1]);
}

static void
test_empty(void)
{
	uint8_t *buf;

	pair();
	CHECK(frame_send(sv[0], "", 0) == 0);
	CHECK(frame_send(sv[0], "after", 5) == 0);
	CHECK(frame_recv(sv[1], 100, &buf) == -EPROTO);
	CHECK(frame_recv(sv[1], 100, &buf) == 5);
	free(buf);
	close(sv[1]);
	/* Sending to a closed peer: an error, never SIGPIPE. */
	CHECK(frame_send(sv[0], "x", 1) == -EPIPE);
	close(sv[0]);
}

int
main(void)
{
	RUN(test_roundtrip);
	RUN(test_cap);
	RUN(test_empty);
	return UNIT_EXIT();
}
