/* One protobuf message per SOCK_SEQPACKET message; see frame.h. */
#include "frame.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

/*
 * recv() returns 0 both for an empty message and at end of file; only a
 * hang-up tells them apart.
 */
static bool
peer_gone(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (poll(&pfd, 1, 0) < 0)
		return true;
	return (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

ssize_t
frame_recv(int fd, size_t cap, uint8_t **buf)
{
	ssize_t size, n;
	char discard;

	*buf = NULL;
	do {
		size = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
	} while (size < 0 && errno == EINTR);
	if (size < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (size == 0 && peer_gone(fd))
		return 0;
	if (size == 0 || (size_t)size > cap) {
		/* A short read consumes the whole message. */
		(void)recv(fd, &discard, sizeof(discard), MSG_DONTWAIT);
		return size == 0 ? -EPROTO : -EMSGSIZE;
	}
	if ((*buf = malloc((size_t)size)) == NULL) {
		(void)recv(fd, &discard, sizeof(discard), MSG_DONTWAIT);
		return -ENOMEM;
	}
	do {
		n = recv(fd, *buf, (size_t)size, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n != size) {
		free(*buf);
		*buf = NULL;
		return n < 0 ? -errno : -EPROTO;
	}
	return size;
}

int
frame_send(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* SOCK_SEQPACKET sends all of a message or nothing. */
	return (size_t)n == len ? 0 : -EPROTO;
}
