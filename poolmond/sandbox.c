/*
 * The check processes' sandbox. The daemon resolves the user and builds
 * the seccomp filter once at start-up (a child must not use NSS, nor
 * fail on a filter it could not build); after fork, a check process drops
 * its groups, gid and uid, sets no_new_privs and loads the filter. A
 * system call outside the allow-list kills the check process (SIGSYS):
 * poolmond's fault, never the backend's.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

/* Exit status of a check process whose sandbox could not be entered. */
#define SANDBOX_EXIT_FAILED	70

/*
 * What a check does, found with strace -f on the checks of every
 * protocol, with TLS, STARTTLS and logins: its sockets and their poll (one
 * fiber a port), memory, time, randomness (OpenSSL reseeds after fork),
 * the report write and exit. socket, mmap and mprotect have their own
 * rules below.
 */
static const char *const allow_check[] = {
	"read", "write", "sendto", "close", "connect", "getsockopt", "poll",
	"bind",			/* --source-address */
	"brk", "munmap", "mremap", "madvise",
	"clock_gettime", "clock_nanosleep", "nanosleep",
	"getrandom", "getpid",
	"rt_sigprocmask",	/* swapcontext(), at every fiber switch */
	"rt_sigreturn", "restart_syscall", "exit_group",
};

/*
 * Reading files: with the system's CA store, OpenSSL looks certificates
 * up in /etc/ssl/certs when it verifies, in the check process (openat is
 * allowed read-only, below). Socket options and receives of the checks'
 * connections; futex for OpenSSL's locks.
 */
static const char *const allow_files[] = {
	"newfstatat", "fstat", "lseek", "setsockopt", "recvfrom", "futex",
	"rt_sigaction", "uname",
};

#ifdef SANDBOX_ASAN
/*
 * AddressSanitizer's runtime, in make SANITIZE=1 builds only: its stack
 * bookkeeping, and what its report of an error in a check process reads
 * (/proc/self/maps, the binary's symbols), so that the error is reported
 * rather than turned into SIGSYS.
 */
static const char *const allow_asan[] = {
	"gettid",
	"sigaltstack",	/* __asan_handle_no_return(), before child_run() */
	"open", "readlink", "fcntl", "newfstatat", "fstat", "lseek",
	"pread64", "getdents64", "sched_yield",
	"sched_getaffinity",	/* its pthread_create() interceptor */
};
#endif

static int
allow_names(scmp_filter_ctx f, const char *const *names, size_t n)
{
	size_t i;
	int nr, r;

	for (i = 0; i < n; i++) {
		/* A name this architecture does not have is nothing to allow. */
		if ((nr = seccomp_syscall_resolve_name(names[i])) ==
		    __NR_SCMP_ERROR)
			continue;
		if ((r = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0)) < 0 &&
		    nr >= 0)
			return r;
	}
	return 0;
}

/* Rules with arguments: nothing executable, the sockets a check opens. */
static int
allow_narrow(scmp_filter_ctx f)
{
	int r;

	/* Fiber stacks and heap, never executable memory. */
	if ((r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
	    (r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		return r;
	/* TCP to backends: the only sockets a check opens. */
	if ((r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET, 0))) < 0 ||
	    (r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0))) < 0)
		return r;
	/* Files read only: the CA store (and AddressSanitizer's reports). */
	if ((r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC,
	    O_RDONLY))) < 0)
		return r;
	return 0;
}

static int
build_filter(struct sandbox *sb)
{
	int r;

	if ((sb->filter = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		return -ENOMEM;
	if ((r = allow_names(sb->filter, allow_check,
	    ARRAY_SIZE(allow_check))) < 0 ||
	    (r = allow_names(sb->filter, allow_files,
	    ARRAY_SIZE(allow_files))) < 0 ||
#ifdef SANDBOX_ASAN
	    (r = allow_names(sb->filter, allow_asan,
	    ARRAY_SIZE(allow_asan))) < 0 ||
	    /* isatty(2), for the colours of its report */
	    (r = seccomp_rule_add(sb->filter, SCMP_ACT_ALLOW, SCMP_SYS(ioctl),
	    1, SCMP_A1(SCMP_CMP_EQ, TCGETS, 0))) < 0 ||
#endif
	    (r = allow_narrow(sb->filter)) < 0) {
		seccomp_release(sb->filter);
		sb->filter = NULL;
		return r;
	}
	return 0;
}

/* --user's account, or the default's: poolmon, else nobody. */
static struct passwd *
find_user(const char *user, char *err, size_t errlen, int *rc)
{
	struct passwd *pw;

	errno = 0;
	if (user != NULL)
		pw = getpwnam(user);
	else if ((pw = getpwnam(SANDBOX_DEFAULT_USER)) == NULL) {
		errno = 0;
		pw = getpwnam(SANDBOX_FALLBACK_USER);
	}
	if (pw != NULL)
		return pw;
	*rc = errno != 0 ? -errno : -ENOENT;
	if (user != NULL)
		snprintf(err, errlen, "--user=%s: %s", user, errno != 0 ?
		    strerror(errno) : "no such user");
	else
		snprintf(err, errlen, "--user: neither %s nor %s exists; "
		    "name an unprivileged user", SANDBOX_DEFAULT_USER,
		    SANDBOX_FALLBACK_USER);
	return NULL;
}

/*
 * valgrind runs a process's code as its own: it translates it into
 * executable memory and polls for signals, calls no filter allows. It
 * preloads its core into every process it runs, children included.
 */
static bool
under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload != NULL && strstr(preload, "/vgpreload_core") != NULL;
}

int
sandbox_prepare(struct sandbox *sb, const char *user, char *err,
    size_t errlen)
{
	const char *hook = getenv(SANDBOX_TEST_ENV);
	struct passwd *pw;
	int r = 0;

	memset(sb, 0, sizeof(*sb));
	if ((pw = find_user(user, err, errlen, &r)) == NULL)
		return r;
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errlen, "--user=%s: uid or gid 0: check "
		    "processes must not run as root", pw->pw_name);
		return -EPERM;
	}
	/* Not root: the daemon is unprivileged already and cannot switch. */
	sb->switch_ids = geteuid() == 0;
	if (!sb->switch_ids && user != NULL && pw->pw_uid != geteuid()) {
		snprintf(err, errlen, "--user=%s: poolmond is not root and "
		    "cannot switch its check processes to another user",
		    pw->pw_name);
		return -EPERM;
	}
	str_copy(sb->user, pw->pw_name, sizeof(sb->user));
	sb->uid = pw->pw_uid;
	sb->gid = pw->pw_gid;
	sb->test_forbidden = hook != NULL && strcmp(hook, "1") == 0;
	/* valgrind does not even pass seccomp(2) through. */
	if ((sb->no_filter = under_valgrind())) {
		log_info("running under valgrind: check processes drop to "
		    "user %s but get no seccomp filter", sb->user);
		return 0;
	}
	if ((r = build_filter(sb)) < 0) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(-r));
		return r;
	}
	return 0;
}

void
sandbox_free(struct sandbox *sb)
{
	if (sb->filter != NULL)
		seccomp_release(sb->filter);
	sb->filter = NULL;
}

static void __attribute__((noreturn))
enter_failed(const struct sandbox *sb, const char *what)
{
	log_warn("check process: cannot drop to user %s (%s)", sb->user,
	    what);
	_exit(SANDBOX_EXIT_FAILED);
}

/* No groups, then gid, then uid: each step needs the privilege the next
 * one drops. The result is checked, not assumed. */
void
sandbox_drop_ids(const struct sandbox *sb)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int pdeath = 0;

	(void)prctl(PR_GET_PDEATHSIG, &pdeath);

	if (setgroups(0, NULL) < 0)
		enter_failed(sb, "setgroups");
	if (setresgid(sb->gid, sb->gid, sb->gid) < 0)
		enter_failed(sb, "setresgid");
	if (setresuid(sb->uid, sb->uid, sb->uid) < 0)
		enter_failed(sb, "setresuid");
	if (getresgid(&rg, &eg, &sg) < 0 || rg != sb->gid || eg != sb->gid ||
	    sg != sb->gid || getresuid(&ru, &eu, &su) < 0 ||
	    ru != sb->uid || eu != sb->uid || su != sb->uid) {
		errno = EPERM;
		enter_failed(sb, "ids not dropped");
	}
	/* The kernel clears the parent-death signal on a change of ids. */
	if (pdeath != 0 && prctl(PR_SET_PDEATHSIG, pdeath) < 0)
		enter_failed(sb, "PR_SET_PDEATHSIG");
	/* And resets "dumpable" to fs.suid_dumpable (2 with systemd-coredump):
	 * no core of a check process, which holds the password. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		enter_failed(sb, "PR_SET_DUMPABLE");
}

void
sandbox_enter(const struct sandbox *sb)
{
	int r;

	if (sb->switch_ids)
		sandbox_drop_ids(sb);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		enter_failed(sb, "PR_SET_NO_NEW_PRIVS");
	if (sb->no_filter)
		return;
	if ((r = seccomp_load(sb->filter)) < 0) {
		errno = -r;
		enter_failed(sb, "seccomp");
	}
	/* The test hook: a harmless query, but not on the allow-list. */
	if (sb->test_forbidden)
		(void)syscall(SYS_personality, 0xffffffffUL);
}
