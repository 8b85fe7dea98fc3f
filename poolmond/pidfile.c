/*
 * The PID file doubles as the instance lock: it is held with flock() for
 * the daemon's life, so a second instance learns the holder's pid and a
 * stale file of a dead instance is simply taken over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "poolmond.h"
#include "util.h"

int
pidfile_acquire(const char *path, pid_t *holder)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd;

	*holder = 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;

		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			if (parse_long(buf, 1, INT32_MAX, &pid) == 0)
				*holder = (pid_t)pid;
		}
		close(fd);
		return err == EWOULDBLOCK ? -EEXIST : -err;
	}
	return fd;
}

int
pidfile_write_pid(int fd, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

void
pidfile_release(const char *path, int fd)
{
	if (fd < 0)
		return;
	/* Unlink while still holding the lock, so no one else's file goes. */
	unlink(path);
	close(fd);
}
