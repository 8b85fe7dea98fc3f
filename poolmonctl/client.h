/*
 * poolmonctl's side of the control socket: connect, send one request,
 * collect every part of its response.
 */
#ifndef POOLMONCTL_CLIENT_H
#define POOLMONCTL_CLIENT_H

#include <stddef.h>

#include "poolmon.pb-c.h"

struct ctl_conn {
	int fd;
	const char *path;
	char err[512];		/* why the last call failed */
};

struct ctl_reply {
	Poolmon__Response **parts;	/* unpacked, in order */
	size_t nparts;
};

/* -errno with err set ("cannot connect to poolmond at PATH: ..."). */
int ctl_connect(struct ctl_conn *c, const char *path);
/*
 * Send req and read the parts of its response until one says no more
 * follow, for at most timeout_ms in all. 0, or -errno with err set;
 * -E2BIG: the request itself is too big (too many hosts).
 */
int ctl_call(struct ctl_conn *c, const Poolmon__Request *req, int timeout_ms,
    struct ctl_reply *reply);
/*
 * Send req, then hand each part to part() as it comes, with no deadline
 * between parts, until one has "more" unset (0), part() returns < 0, or
 * the connection fails (-errno, err set). For watch.
 */
int ctl_stream(struct ctl_conn *c, const Poolmon__Request *req, int timeout_ms,
    int (*part)(const Poolmon__Response *p, void *arg), void *arg);
void ctl_reply_free(struct ctl_reply *reply);
void ctl_close(struct ctl_conn *c);

#endif
