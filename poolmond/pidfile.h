/*
 * The PID file, which is also the instance lock (pidfile.c).
 */
#ifndef POOLMOND_PIDFILE_H
#define POOLMOND_PIDFILE_H

#include <sys/types.h>

/*
 * Create or take over path and lock it: the descriptor, -EEXIST with
 * *holder the running instance's pid (0: unknown), -ESTALE when the file
 * kept being replaced, or another -errno.
 */
int pidfile_acquire(const char *path, pid_t *holder);
int pidfile_write_pid(int fd, pid_t pid);
void pidfile_release(const char *path, int fd);

#endif
