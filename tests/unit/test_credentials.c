/*
 * The credential file's owner and type (the contents are test_checks.c's),
 * and core dumps that could hold the password.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "credentials.h"
#include "unit.h"

#define NOBODY_UID	65534

static char dir[64], path[128];

static void
write_cred(const char *p, uid_t owner)
{
	int fd;

	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, "user\nTopSecret\n", 15) != 15)
		abort();
	close(fd);
	if (owner != geteuid() && chown(p, owner, (gid_t)-1) < 0)
		abort();
}

/* A symlink is refused, even to a good file: it names the file itself. */
static void
test_symlink_refused(void)
{
	struct credentials c;
	char err[256], link[140];

	write_cred(path, geteuid());
	snprintf(link, sizeof(link), "%s/link", dir);
	CHECK(symlink(path, link) == 0);
	CHECK(credentials_load(link, &c, err, sizeof(err)) < 0);
	CHECK_STR(err, "is a symbolic link; give the file itself");
	CHECK(c.username == NULL);
	CHECK(credentials_load(path, &c, err, sizeof(err)) == 0);
	credentials_clear(&c);
	unlink(link);
}

/* A FIFO is refused at once, not waited on for a writer. */
static void
test_fifo_refused(void)
{
	struct credentials c;
	char err[256], fifo[140];

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CHECK(mkfifo(fifo, 0600) == 0);
	alarm(10);
	CHECK(credentials_load(fifo, &c, err, sizeof(err)) < 0);
	alarm(0);
	CHECK_STR(err, "not a regular file");
	unlink(fifo);
}

/* In a child as euid uid: does credentials_load() accept the file? */
static int
load_as(uid_t uid, char *err, size_t errlen)
{
	struct credentials c;
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd) < 0 || (pid = fork()) < 0)
		abort();
	if (pid == 0) {
		int ok;

		close(pfd[0]);
		if (seteuid(uid) < 0)
			_exit(2);
		ok = credentials_load(path, &c, err, errlen) == 0;
		if (!ok)
			(void)!write(pfd[1], err, strlen(err));
		_exit(ok ? 0 : 1);
	}
	close(pfd[1]);
	n = read(pfd[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Owned by root or by poolmond's own euid, or refused: anyone else who
 * owns it may make it readable or rewrite it.
 */
static void
test_owner(void)
{
	char err[256];

	if (geteuid() != 0) {
		printf("# credentials: owner cases need root, skipped\n");
		return;
	}
	write_cred(path, 0);
	CHECK(load_as(0, err, sizeof(err)) == 0);
	write_cred(path, NOBODY_UID);
	CHECK(load_as(NOBODY_UID, err, sizeof(err)) == 0);
	CHECK(load_as(0, err, sizeof(err)) == 1);
	CHECK_STR(err, "owned by uid 65534, neither root nor poolmond's "
	    "user (uid 0); run chown root on it");
	write_cred(path, 4321);
	CHECK(load_as(0, err, sizeof(err)) == 1);
	CHECK(strstr(err, "owned by uid 4321") != NULL);
	CHECK(strstr(err, "TopSecret") == NULL);
}

/* Off in this process and in what it forks. */
static void
test_no_core_dumps(void)
{
	struct rlimit rl;
	int status;
	pid_t pid;

	CHECK(credentials_no_core_dumps() == 0);
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
	CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 &&
	    rl.rlim_max == 0);
	if ((pid = fork()) == 0) {
		struct rlimit raise = { 1, 1 };

		if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 ||
		    getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur != 0 ||
		    rl.rlim_max != 0)
			_exit(1);
		/* Without CAP_SYS_RESOURCE the hard limit cannot go up. */
		if (geteuid() != 0 && setrlimit(RLIMIT_CORE, &raise) == 0)
			_exit(2);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int
main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/poolmon-unit-cred.%ld",
	    (long)getpid());
	if (mkdir(dir, 0755) < 0)	/* nobody must reach the file */
		return 1;
	snprintf(path, sizeof(path), "%s/cred", dir);
	RUN(test_symlink_refused);
	RUN(test_fifo_refused);
	RUN(test_owner);
	RUN(test_no_core_dumps);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return UNIT_EXIT();
}
