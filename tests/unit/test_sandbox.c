/*
 * The check processes' sandbox: --user resolution (unknown user, root,
 * the default poolmon-else-nobody) and, in a forked child as a check
 * process would be, what the kernel then shows of it: no root ids,
 * no_new_privs, a seccomp filter, and death by SIGSYS for a call outside
 * the allow-list (the POOLMON_TEST_FORBIDDEN_SYSCALL test hook).
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "sandbox.h"
#include "proc_status.h"
#include "unit.h"

static char err[512];

static void
test_unknown_user(void)
{
	struct sandbox sb;

	CHECK(sandbox_prepare(&sb, "no-such-user-poolmon", err,
	    sizeof(err)) < 0);
	CHECK(strncmp(err, "--user=no-such-user-poolmon: ", 29) == 0);
	CHECK(sb.filter.filter == NULL);
}

static void
test_root_refused(void)
{
	struct sandbox sb;

	CHECK(sandbox_prepare(&sb, "root", err, sizeof(err)) == -EPERM);
	CHECK(strncmp(err, "--user=root: ", 13) == 0);
}

/* No --user: poolmon when it exists, else nobody. */
static void
test_default_user(void)
{
	struct passwd *pw = getpwnam(SANDBOX_DEFAULT_USER);
	const char *want = pw != NULL ? SANDBOX_DEFAULT_USER :
	    SANDBOX_FALLBACK_USER;
	struct sandbox sb;
	uid_t uid;
	gid_t gid;

	if (pw == NULL)
		pw = getpwnam(SANDBOX_FALLBACK_USER);
	CHECK(pw != NULL);
	if (pw == NULL)
		return;
	/* Copied: sandbox_prepare's getpwnam() reuses the same buffer. */
	uid = pw->pw_uid;
	gid = pw->pw_gid;

	CHECK(sandbox_prepare(&sb, NULL, err, sizeof(err)) == 0);
	CHECK_STR(sb.user, want);
	CHECK(sb.uid == uid && sb.gid == gid);
	CHECK(sb.filter.filter != NULL && sb.filter.len > 0);
	CHECK(!sb.test_forbidden);
	sandbox_free(&sb);
	CHECK(sb.filter.filter == NULL);
}

static void
test_test_hook_env(void)
{
	struct sandbox sb;

	setenv(SANDBOX_TEST_ENV, "1", 1);
	CHECK(sandbox_prepare(&sb, "nobody", err, sizeof(err)) == 0);
	CHECK(sb.test_forbidden);
	sandbox_free(&sb);
	setenv(SANDBOX_TEST_ENV, "0", 1);
	CHECK(sandbox_prepare(&sb, "nobody", err, sizeof(err)) == 0);
	CHECK(!sb.test_forbidden);
	sandbox_free(&sb);
	unsetenv(SANDBOX_TEST_ENV);
}

static void
test_option(void)
{
	char *argv[] = { (char *)"poolmond", (char *)"--user=nobody", NULL };
	char *empty[] = { (char *)"poolmond", (char *)"--user=", NULL };
	struct config cfg;

	config_defaults(&cfg);
	CHECK(cfg.user == NULL);
	CHECK(config_parse_args(&cfg, 2, argv, err, sizeof(err)) ==
	    CONFIG_OK);
	CHECK_STR(cfg.user, "nobody");
	config_defaults(&cfg);
	CHECK(config_parse_args(&cfg, 2, empty, err, sizeof(err)) ==
	    CONFIG_ERROR);
	CHECK(strstr(err, "--user") != NULL);
}

/* A child enters the sandbox, says so, waits for the word to exit. */
static pid_t
sandboxed_child(const struct sandbox *sb, int *ready, int *gate)
{
	int up[2], down[2];
	char c = 0;
	pid_t pid;

	if (pipe(up) < 0 || pipe(down) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		close(up[0]);
		close(down[1]);
		sandbox_enter(sb);
		sandbox_check_process(sb);
		/* read, write and exit_group are a check's: allowed. */
		if (write(up[1], "1", 1) != 1 || read(down[0], &c, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	*ready = up[0];
	*gate = down[1];
	return pid;
}

static void
test_enter(void)
{
	char uid[128], gid[128], nnp[32], seccomp[32], want[128];
	struct sandbox sb;
	int ready, gate, status;
	char c;
	pid_t pid;

	CHECK(sandbox_prepare(&sb, "nobody", err, sizeof(err)) == 0);
	pid = sandboxed_child(&sb, &ready, &gate);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	CHECK(read(ready, &c, 1) == 1);
	proc_status_field(pid, "Uid", uid, sizeof(uid));
	proc_status_field(pid, "Gid", gid, sizeof(gid));
	proc_status_field(pid, "NoNewPrivs", nnp, sizeof(nnp));
	proc_status_field(pid, "Seccomp", seccomp, sizeof(seccomp));
	CHECK(write(gate, "x", 1) == 1);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ready);
	close(gate);
	CHECK_STR(nnp, "1");
	CHECK_STR(seccomp, "2");	/* SECCOMP_MODE_FILTER */
	if (geteuid() == 0) {
		/* Real, effective, saved and filesystem ids: all nobody's. */
		snprintf(want, sizeof(want), "%lu\t%lu\t%lu\t%lu",
		    (unsigned long)sb.uid, (unsigned long)sb.uid,
		    (unsigned long)sb.uid, (unsigned long)sb.uid);
		CHECK_STR(uid, want);
		snprintf(want, sizeof(want), "%lu\t%lu\t%lu\t%lu",
		    (unsigned long)sb.gid, (unsigned long)sb.gid,
		    (unsigned long)sb.gid, (unsigned long)sb.gid);
		CHECK_STR(gid, want);
	} else
		printf("# not root: the id drop is not tested\n");
	sandbox_free(&sb);
}

/* The test hook: one forbidden call right after entering, SIGSYS. */
static void
test_forbidden_syscall(void)
{
	struct sandbox sb;
	int ready, gate, status;
	char c;
	pid_t pid;

	setenv(SANDBOX_TEST_ENV, "1", 1);
	CHECK(sandbox_prepare(&sb, "nobody", err, sizeof(err)) == 0);
	unsetenv(SANDBOX_TEST_ENV);
	pid = sandboxed_child(&sb, &ready, &gate);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	/* It dies before it says it is ready (a survivor is let go). */
	CHECK(read(ready, &c, 1) == 0);
	close(gate);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
	close(ready);
	sandbox_free(&sb);
}

int
main(void)
{
	RUN(test_unknown_user);
	RUN(test_root_refused);
	RUN(test_default_user);
	RUN(test_test_hook_env);
	RUN(test_option);
	RUN(test_enter);
	RUN(test_forbidden_syscall);
	return UNIT_EXIT();
}
