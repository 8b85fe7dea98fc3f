/*
 * The check processes' sandbox: they parse what backends send, so they
 * run as an unprivileged user under a seccomp allow-list of what a check
 * needs. Everything is looked up and built in the daemon at start-up, the
 * allow-list compiled to its BPF program there; the spawn server applies
 * it once, in a few system calls, and each check process it forks
 * inherits it.
 */
#ifndef POOLMOND_SANDBOX_H
#define POOLMOND_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <linux/filter.h>

/* --user's default, and the fallback when that user does not exist. */
#define SANDBOX_DEFAULT_USER	"poolmon"
#define SANDBOX_FALLBACK_USER	"nobody"

/*
 * Test hook (never for users): with POOLMON_TEST_FORBIDDEN_SYSCALL=1 in the
 * daemon's environment, every check process makes one forbidden system
 * call before its check, and dies of SIGSYS.
 */
#define SANDBOX_TEST_ENV	"POOLMON_TEST_FORBIDDEN_SYSCALL"

struct sandbox {
	char user[64];		/* as resolved, for messages */
	uid_t uid;
	gid_t gid;
	bool switch_ids;	/* false: the daemon is not root, keeps its own */
	bool test_forbidden;	/* SANDBOX_TEST_ENV was set */
	bool no_filter;		/* under valgrind: its own calls are no check's */
	struct sock_fprog filter;	/* the allow-list's BPF, for each child */
};

/*
 * In the daemon, once at start-up: resolve user (NULL: the default) in a
 * short-lived process, so that no NSS module is ever loaded into the
 * daemon, and compile the filter with libseccomp, loaded for that only.
 * 0, or -errno with a message (naming --user, or what to install) in err.
 */
int sandbox_prepare(struct sandbox *sb, const char *user, char *err,
    size_t errlen);
/* In a child: drop to the user (groups, gid, uid, checked); _exit on
 * failure. Change hooks run so, without the filter. */
void sandbox_drop_ids(const struct sandbox *sb);
/* In the spawn server: drop to the user, then the filter, which every
 * check process it forks inherits; _exit on failure. */
void sandbox_enter(const struct sandbox *sb);
/* In a check process, inside the sandbox it inherited: the test hook. */
void sandbox_check_process(const struct sandbox *sb);
void sandbox_free(struct sandbox *sb);

#endif
