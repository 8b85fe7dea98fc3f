/*
 * The PID file lock against the unlink race: the file locked must be the
 * one at the path. flock() is wrapped here so that, between poolmond's
 * open() and its lock, the file is swapped as a stopping instance and a
 * starting one would swap it (unlink, create anew).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pidfile.h"
#include "unit.h"

static char path[128];
static int swaps_left;		/* swap the file at the next N flock()s */
static int flock_calls;

/* The file at path is a new one: what a racing instance leaves there. */
static void
swap_file(void)
{
	int fd;

	if (unlink(path) < 0)
		abort();
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644)) < 0)
		abort();
	close(fd);
}

int
flock(int fd, int op)
{
	flock_calls++;
	if (swaps_left > 0) {
		swaps_left--;
		swap_file();
	}
	return (int)syscall(SYS_flock, fd, op);
}

static bool
same_file(int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void
test_plain(void)
{
	pid_t holder;
	int fd, fd2;

	swaps_left = 0;
	fd = pidfile_acquire(path, &holder);
	CHECK(fd >= 0 && same_file(fd));
	CHECK(pidfile_write_pid(fd, 4242) == 0);
	fd2 = pidfile_acquire(path, &holder);
	CHECK(fd2 == -EEXIST && holder == 4242);
	pidfile_release(path, fd);
	CHECK(access(path, F_OK) < 0);
}

/* Swapped once: the lock is taken again, on the file at the path. */
static void
test_unlinked_while_locking(void)
{
	pid_t holder;
	int fd, other;

	swaps_left = 1;
	flock_calls = 0;
	fd = pidfile_acquire(path, &holder);
	CHECK(fd >= 0);
	CHECK(flock_calls == 2);
	CHECK(fd >= 0 && same_file(fd));
	/* So another instance now finds it locked. */
	other = open(path, O_RDWR);
	CHECK(other >= 0 && syscall(SYS_flock, other, LOCK_EX | LOCK_NB) < 0 &&
	    errno == EWOULDBLOCK);
	close(other);
	pidfile_release(path, fd);
}

/* Swapped every time: refused, never a lock on a file no one sees. */
static void
test_always_swapped(void)
{
	pid_t holder;
	int fd;

	swaps_left = 1000;
	fd = pidfile_acquire(path, &holder);
	CHECK(fd == -ESTALE);
	swaps_left = 0;
	unlink(path);
}

int
main(void)
{
	char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/poolmon-unit-pidfile.%ld",
	    (long)getpid());
	if (mkdir(dir, 0700) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/poolmond.pid", dir);
	RUN(test_plain);
	RUN(test_unlinked_while_locking);
	RUN(test_always_swapped);
	unlink(path);
	rmdir(dir);
	return UNIT_EXIT();
}
