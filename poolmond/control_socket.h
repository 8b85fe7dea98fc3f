/*
 * The control socket's file: the group that may steer poolmond, the
 * directory it lives in, a stale socket a crashed instance left, binding
 * it 0660 and, at exit, removing it only if it is still ours.
 */
#ifndef POOLMOND_CONTROL_SOCKET_H
#define POOLMOND_CONTROL_SOCKET_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

struct ctl_socket {
	int fd;				/* listening, or -1 */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;			/* of our socket file, to unlink only it */
	ino_t ino;
	gid_t gid;			/* --control-group */
};

/*
 * Resolve group, make the directory (0750, never through a symlink),
 * clear a stale socket, bind and listen. 0, or -errno with err set.
 */
int ctl_socket_open(struct ctl_socket *s, const char *path,
    const char *group, char *err, size_t errlen);
void ctl_socket_close(struct ctl_socket *s);

#endif
