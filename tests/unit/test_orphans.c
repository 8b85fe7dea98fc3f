/*
 * A look for check processes no one knows (orphans.c), with this test as
 * the daemon: a zombie child under a seccomp filter that no one knows is
 * kept for the next look, then reaped; one known, or one with no filter
 * but the daemon's (as a hook's process), is never reaped.
 */
#include <errno.h>
#include <linux/filter.h>
#include <signal.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "orphans.h"
#include "unit.h"

/* One allow-all filter more on the calling process. */
static int
add_filter(void)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = 1, .filter = &allow };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? -1 : 0;
}

/* A child that ends at once, with a filter of its own if filtered. */
static pid_t
child(int filtered)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (filtered && add_filter() < 0)
		_exit(2);
	_exit(0);
}

/* Until pid reports what (WEXITED, WSTOPPED) without being reaped, 5 s
 * at most: 0 if it did with code and status, -1 if not. */
static int
wait_report(pid_t pid, int what, int code, int status)
{
	const struct timespec step = { 0, 10 * 1000 * 1000 };
	siginfo_t si;
	int i;

	for (i = 0; i < 500; i++) {
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)pid, &si, what | WNOHANG | WNOWAIT) ==
		    0 && si.si_pid == pid)
			return si.si_code == code && si.si_status == status ?
			    0 : -1;
		nanosleep(&step, NULL);
	}
	return -1;
}

/* Until pid is a zombie that exited 0. */
static int
wait_zombie(pid_t pid)
{
	return wait_report(pid, WEXITED, CLD_EXITED, 0);
}

static void
test_look(void)
{
	struct orphan_look look = { .nsuspects = 0 };
	pid_t orphan = child(1), unfiltered = child(0), known_one = child(1);
	pid_t known[1];

	CHECK(wait_zombie(orphan) == 0);
	CHECK(wait_zombie(unfiltered) == 0);
	CHECK(wait_zombie(known_one) == 0);
	/* The first look only marks it. */
	known[0] = known_one;
	CHECK(orphans_look(&look, known, 1) == 0);
	CHECK(look.nsuspects == 1 && look.suspects[0] == orphan);
	CHECK(wait_zombie(orphan) == 0);
	/* The second reaps it, and it alone. */
	known[0] = known_one;
	CHECK(orphans_look(&look, known, 1) == 1);
	CHECK(look.nsuspects == 0);
	CHECK(waitpid(orphan, NULL, WNOHANG) < 0 && errno == ECHILD);
	CHECK(waitpid(unfiltered, NULL, WNOHANG) == unfiltered);
	CHECK(waitpid(known_one, NULL, WNOHANG) == known_one);
}

/* A pid known by the second look (its answer read meanwhile) is not
 * reaped, though the first look marked it. */
static void
test_known_later(void)
{
	struct orphan_look look = { .nsuspects = 0 };
	pid_t late = child(1);

	CHECK(wait_zombie(late) == 0);
	CHECK(orphans_look(&look, NULL, 0) == 0);
	CHECK(look.nsuspects == 1 && look.suspects[0] == late);
	CHECK(orphans_look(&look, &late, 1) == 0);
	CHECK(waitpid(late, NULL, WNOHANG) == late);
}

/* A child that stops itself at once (as SIGSTOP would catch a check
 * process before it answered), with a filter of its own if filtered;
 * returned once stopped, -1 if it did not stop within 5 s. */
static pid_t
stopped_child(int filtered)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (filtered && add_filter() < 0)
			_exit(2);
		raise(SIGSTOP);
		_exit(0);
	}
	return pid > 0 && wait_report(pid, WSTOPPED, CLD_STOPPED, SIGSTOP) ==
	    0 ? pid : -1;
}

/*
 * A check process stopped before it answered: marked at the first look,
 * killed at the second, reaped at the third. One known stopped is the
 * deadline's, and one with no filter but the daemon's is not touched.
 */
static void
test_stopped(void)
{
	struct orphan_look look = { .nsuspects = 0 };
	pid_t orphan = stopped_child(1), unfiltered = stopped_child(0);
	pid_t known_one = stopped_child(1), known[1];

	CHECK(orphan > 0 && unfiltered > 0 && known_one > 0);
	known[0] = known_one;
	CHECK(orphans_look(&look, known, 1) == 0);
	CHECK(look.nsuspects == 1 && look.suspects[0] == orphan);
	known[0] = known_one;
	CHECK(orphans_look(&look, known, 1) == 0);
	CHECK(look.nsuspects == 1 && look.suspects[0] == orphan);
	CHECK(wait_report(orphan, WEXITED, CLD_KILLED, SIGKILL) == 0);
	known[0] = known_one;
	CHECK(orphans_look(&look, known, 1) == 1);
	CHECK(look.nsuspects == 0);
	CHECK(waitpid(orphan, NULL, WNOHANG) < 0 && errno == ECHILD);
	/* The others were left stopped: a SIGCONT lets them end. */
	CHECK(kill(unfiltered, SIGCONT) == 0 && kill(known_one, SIGCONT) == 0);
	CHECK(wait_zombie(unfiltered) == 0 && wait_zombie(known_one) == 0);
	CHECK(waitpid(unfiltered, NULL, 0) == unfiltered);
	CHECK(waitpid(known_one, NULL, 0) == known_one);
}

/* At the daemon's end: a filtered child left, stopped, is killed and
 * reaped; one with no filter but the daemon's is left to its owner. */
static void
test_end(void)
{
	pid_t orphan = stopped_child(1), unfiltered = stopped_child(0);

	CHECK(orphan > 0 && unfiltered > 0);
	CHECK(orphans_end() == 1);
	CHECK(waitpid(orphan, NULL, WNOHANG) < 0 && errno == ECHILD);
	CHECK(kill(unfiltered, SIGCONT) == 0);
	CHECK(wait_zombie(unfiltered) == 0);
	CHECK(waitpid(unfiltered, NULL, 0) == unfiltered);
}

/*
 * The daemon under filters of its own (systemd's SystemCallFilter=): a
 * hook's process inherits them, and is not taken for a check process; one
 * with a filter more, as the spawn server's, is. Last: the filter stays.
 */
static void
test_daemon_filtered(void)
{
	struct orphan_look look = { .nsuspects = 0 };
	pid_t hook, orphan;

	CHECK(add_filter() == 0);
	hook = child(0);
	orphan = child(1);
	CHECK(wait_zombie(hook) == 0);
	CHECK(wait_zombie(orphan) == 0);
	CHECK(orphans_look(&look, NULL, 0) == 0);
	CHECK(orphans_look(&look, NULL, 0) == 1);
	CHECK(waitpid(orphan, NULL, WNOHANG) < 0 && errno == ECHILD);
	CHECK(waitpid(hook, NULL, WNOHANG) == hook);
}

int
main(void)
{
	RUN(test_look);
	RUN(test_known_later);
	RUN(test_stopped);
	RUN(test_end);
	RUN(test_daemon_filtered);
	return UNIT_EXIT();
}
