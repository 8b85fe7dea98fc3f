/*
 * The PID file doubles as the instance lock: it is held with flock() for
 * the daemon's life, so a second instance learns the holder's pid and a
 * stale file of a dead instance is simply taken over.
 *
 * A lock is only worth something on the file that is at the path: an
 * instance that stops unlinks it while still holding the lock, and one
 * that opened it just before then locks an unlinked inode, while a third
 * creates a new file and locks that. So after flock() the locked inode is
 * compared with the path's, and on a mismatch the open starts over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"
#include "util.h"

#define PIDFILE_ATTEMPTS	5

static pid_t
read_holder(int fd)
{
	char buf[32];
	ssize_t n;
	long pid;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return parse_long(buf, 1, INT32_MAX, &pid) == 0 ? (pid_t)pid : 0;
}

/* Is the file we locked still the one at path? */
static bool
still_at_path(int fd, const char *path)
{
	struct stat locked, named;

	if (fstat(fd, &locked) < 0 || lstat(path, &named) < 0)
		return false;
	return locked.st_dev == named.st_dev && locked.st_ino == named.st_ino;
}

int
pidfile_acquire(const char *path, pid_t *holder)
{
	int attempt, fd, err;

	*holder = 0;
	for (attempt = 0; attempt < PIDFILE_ATTEMPTS; attempt++) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0644);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			err = errno;
			*holder = read_holder(fd);
			close(fd);
			return err == EWOULDBLOCK ? -EEXIST : -err;
		}
		if (still_at_path(fd, path))
			return fd;
		/* Unlinked or replaced under us: the lock is worthless. */
		close(fd);
	}
	return -ESTALE;
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
