/*
 * Framing of the control socket (proto/poolmon.proto): a SOCK_SEQPACKET
 * unix socket carries one packed protobuf message per socket message, so
 * the kernel keeps message boundaries and no length prefix is needed. A
 * message is sized with MSG_PEEK|MSG_TRUNC before it is read, so a message
 * over the cap is discarded unread instead of being allocated.
 */
#ifndef POOLMON_FRAME_H
#define POOLMON_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_DEFAULT_SOCKET	"/run/poolmon/poolmond.sock"

/* Requests are small; the daemon refuses anything bigger. */
#define CTL_REQUEST_MAX		(64 * 1024)
/* The daemon splits long replies into parts of about this size... */
#define CTL_PART_TARGET		(64 * 1024)
/* ...and a client refuses a part bigger than this. */
#define CTL_RESPONSE_MAX	(256 * 1024)

/*
 * Receive one whole message of at most cap bytes, without blocking, into
 * *buf (malloc'ed, free it). Returns its length (> 0); 0 at end of file;
 * -EAGAIN when no message is there; -EMSGSIZE for a bigger message, which
 * is discarded; -EPROTO for an empty message; other -errno.
 */
ssize_t frame_recv(int fd, size_t cap, uint8_t **buf);

/* Send one message without blocking or SIGPIPE: 0, -EAGAIN or -errno. */
int frame_send(int fd, const void *buf, size_t len);

#endif
