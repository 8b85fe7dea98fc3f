/*
 * The check processes' sandbox. The daemon resolves the user and compiles
 * the seccomp filter to its BPF program once at start-up (a child must
 * not use NSS, nor pay for compiling a filter, nor fail on one it could
 * not build); the spawn server drops its groups, gid and uid, sets
 * no_new_privs and hands the kernel the ready program, once, and every
 * check process it forks inherits them. A system call outside the
 * allow-list kills the check process (SIGSYS): poolmond's fault, never
 * the backend's.
 *
 * libseccomp is needed for the compiling only: it is loaded for it and
 * unloaded after (dlib.h), so neither the daemon nor any check process
 * maps it.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#include "dlib.h"
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
 * The spawn server's own (spawn_server.c): it reads requests, forks each
 * check process as the daemon's child, and the check process sets its
 * parent-death signal, checks its parent, names itself and gives up
 * forking. clone, prctl and prlimit64 have their own rules below.
 */
static const char *const allow_spawn[] = {
	"getppid",
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

/* What the compiling uses of libseccomp, which is loaded for it only. */
struct seccomp_api {
	__typeof__(seccomp_init) *init;
	__typeof__(seccomp_release) *release;
	__typeof__(seccomp_attr_set) *attr_set;
	__typeof__(seccomp_syscall_resolve_name) *resolve_name;
	__typeof__(seccomp_rule_add) *rule_add;
	__typeof__(seccomp_export_bpf) *export_bpf;
};

static const struct dlib_sym seccomp_syms[] = {
	DLIB_SYM(struct seccomp_api, init, seccomp_init),
	DLIB_SYM(struct seccomp_api, release, seccomp_release),
	DLIB_SYM(struct seccomp_api, attr_set, seccomp_attr_set),
	DLIB_SYM(struct seccomp_api, resolve_name,
	    seccomp_syscall_resolve_name),
	DLIB_SYM(struct seccomp_api, rule_add, seccomp_rule_add),
	DLIB_SYM(struct seccomp_api, export_bpf, seccomp_export_bpf),
};

static struct seccomp_api sc;
static struct dlib seccomp_lib = DLIB_INIT("libseccomp.so.2", "libseccomp2",
    seccomp_syms, &sc);

static int
allow_names(scmp_filter_ctx f, const char *const *names, size_t n)
{
	size_t i;
	int nr, r;

	for (i = 0; i < n; i++) {
		/* A name this architecture does not have is nothing to allow. */
		if ((nr = sc.resolve_name(names[i])) == __NR_SCMP_ERROR)
			continue;
		if ((r = sc.rule_add(f, SCMP_ACT_ALLOW, nr, 0)) < 0 && nr >= 0)
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
	if ((r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
	    (r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		return r;
	/* TCP to backends: the only sockets a check opens. */
	if ((r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET, 0))) < 0 ||
	    (r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0))) < 0)
		return r;
	/* The spawn server's forks: as the daemon's children, nothing else
	 * (no thread, no shared memory). A check process cannot use it: it
	 * has RLIMIT_NPROC 0. */
	if ((r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_EQ, CLONE_PARENT | SIGCHLD, 0))) < 0 ||
	    (r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
	    SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG, 0))) < 0 ||
	    (r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
	    SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME, 0))) < 0 ||
	    (r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
	    SCMP_A0(SCMP_CMP_EQ, 0, 0),
	    SCMP_A1(SCMP_CMP_EQ, RLIMIT_NPROC, 0))) < 0)
		return r;
	/* Files read only: the CA store (and AddressSanitizer's reports). */
	if ((r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC,
	    O_RDONLY))) < 0)
		return r;
	return 0;
}

static int
add_rules(scmp_filter_ctx f)
{
	int r;

	if ((r = allow_names(f, allow_check, ARRAY_SIZE(allow_check))) < 0 ||
	    (r = allow_names(f, allow_spawn, ARRAY_SIZE(allow_spawn))) < 0 ||
	    (r = allow_names(f, allow_files, ARRAY_SIZE(allow_files))) < 0)
		return r;
#ifdef SANDBOX_ASAN
	if ((r = allow_names(f, allow_asan, ARRAY_SIZE(allow_asan))) < 0 ||
	    /* isatty(2), for the colours of its report */
	    (r = sc.rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, TCGETS, 0))) < 0)
		return r;
#endif
	return allow_narrow(f);
}

/*
 * The compiled program, as the kernel takes it. Through a pipe, the one
 * way libseccomp 2.5 exports: it cannot fill the pipe and block, as a
 * program has at most BPF_MAXINSNS (4096) instructions, 32 KiB, and a
 * pipe holds 64 KiB.
 */
static int
export_program(scmp_filter_ctx f, struct sock_fprog *prog)
{
	const size_t max = BPF_MAXINSNS * sizeof(struct sock_filter);
	size_t len = 0;
	ssize_t n;
	char *buf;
	void *fit;
	int p[2], r;

	if ((buf = malloc(max + 1)) == NULL)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(buf);
		return -errno;
	}
	r = sc.export_bpf(f, p[1]);
	close(p[1]);
	/* One byte more than a program may have: a longer one is refused. */
	while (r >= 0 && len <= max) {
		if ((n = read(p[0], buf + len, max + 1 - len)) > 0)
			len += (size_t)n;
		else if (n == 0)
			break;
		else if (errno != EINTR)
			r = -errno;
	}
	close(p[0]);
	if (r >= 0 && (len == 0 || len > max ||
	    len % sizeof(struct sock_filter) != 0))
		r = -EIO;
	if (r < 0 || (fit = realloc(buf, len)) == NULL) {
		free(buf);
		return r < 0 ? r : -ENOMEM;
	}
	prog->filter = fit;
	prog->len = (unsigned short)(len / sizeof(struct sock_filter));
	return 0;
}

static int
build_filter(struct sandbox *sb, char *err, size_t errlen)
{
	scmp_filter_ctx f;
	int r;

	if ((r = dlib_load(&seccomp_lib, "the check processes' sandbox", err,
	    errlen)) < 0)
		return r;
	if ((f = sc.init(SCMP_ACT_KILL_PROCESS)) == NULL)
		r = -ENOMEM;
	else {
		/* A tree of system call numbers, not a list: each child's
		 * kernel walks it for every call number when it loads it. */
		(void)sc.attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2);
		if ((r = add_rules(f)) >= 0)
			r = export_program(f, &sb->filter);
		sc.release(f);
	}
	dlib_unload(&seccomp_lib);
	if (r < 0)
		return err_set(err, errlen, r, "seccomp filter: %s",
		    strerror(-r));
	return 0;
}

/* The account of the check processes, as the lookup process sends it. */
struct account {
	int rc;			/* 0, or -errno with err set */
	uid_t uid;
	gid_t gid;
	char name[64];
	char err[256];
};

/* In the lookup process: --user's account, or the default's: poolmon,
 * else nobody. */
static void
find_user(const char *user, struct account *a)
{
	struct passwd *pw;

	errno = 0;
	if (user != NULL)
		pw = getpwnam(user);
	else if ((pw = getpwnam(SANDBOX_DEFAULT_USER)) == NULL) {
		errno = 0;
		pw = getpwnam(SANDBOX_FALLBACK_USER);
	}
	if (pw != NULL) {
		a->uid = pw->pw_uid;
		a->gid = pw->pw_gid;
		str_copy(a->name, pw->pw_name, sizeof(a->name));
		return;
	}
	a->rc = errno != 0 ? -errno : -ENOENT;
	if (user != NULL)
		snprintf(a->err, sizeof(a->err), "--user=%s: %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
	else
		snprintf(a->err, sizeof(a->err), "--user: neither %s nor %s "
		    "exists; name an unprivileged user", SANDBOX_DEFAULT_USER,
		    SANDBOX_FALLBACK_USER);
}

/*
 * The lookup runs in a process of its own: NSS loads the modules of
 * nsswitch.conf (libnss_systemd for a user not in /etc/passwd, an LDAP
 * or SSSD client with their libraries and threads), which would stay
 * mapped in the daemon, and in every check process forked from it, for
 * good. One fork at start-up.
 */
static int
lookup_account(const char *user, struct account *a)
{
	struct account found;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		memset(&found, 0, sizeof(found));
		find_user(user, &found);
		/* Under PIPE_BUF: one write, whole or nothing. */
		_exit(write(p[1], &found, sizeof(found)) == sizeof(found) ?
		    0 : 1);
	}
	close(p[1]);
	do {
		n = read(p[0], a, sizeof(*a));
	} while (n < 0 && errno == EINTR);
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(*a))
		return -EIO;
	a->name[sizeof(a->name) - 1] = '\0';
	a->err[sizeof(a->err) - 1] = '\0';
	return 0;
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
	struct account a;
	int r;

	memset(sb, 0, sizeof(*sb));
	if ((r = lookup_account(user, &a)) < 0)
		return err_set(err, errlen, r, "--user: cannot look up the "
		    "check processes' user: %s", strerror(-r));
	if (a.rc < 0) {
		str_copy(err, a.err, errlen);
		return a.rc;
	}
	if (a.uid == 0 || a.gid == 0)
		return err_set(err, errlen, -EPERM, "--user=%s: uid or gid 0: "
		    "check processes must not run as root", a.name);
	/* Not root: the daemon is unprivileged already and cannot switch. */
	sb->switch_ids = geteuid() == 0;
	if (!sb->switch_ids && user != NULL && a.uid != geteuid())
		return err_set(err, errlen, -EPERM, "--user=%s: poolmond is "
		    "not root and cannot switch its check processes to "
		    "another user", a.name);
	str_copy(sb->user, a.name, sizeof(sb->user));
	sb->uid = a.uid;
	sb->gid = a.gid;
	sb->test_forbidden = hook != NULL && strcmp(hook, "1") == 0;
	/* valgrind does not even pass seccomp(2) through. */
	if ((sb->no_filter = under_valgrind())) {
		log_info("running under valgrind: check processes drop to "
		    "user %s but get no seccomp filter", sb->user);
		return 0;
	}
	return build_filter(sb, err, errlen);
}

void
sandbox_free(struct sandbox *sb)
{
	free(sb->filter.filter);
	sb->filter.filter = NULL;
	sb->filter.len = 0;
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
	if (sb->switch_ids)
		sandbox_drop_ids(sb);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		enter_failed(sb, "PR_SET_NO_NEW_PRIVS");
	if (sb->no_filter)
		return;
	/* The program the daemon compiled: nothing to build here. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sb->filter) < 0)
		enter_failed(sb, "seccomp");
}

void
sandbox_check_process(const struct sandbox *sb)
{
	/* The test hook: a harmless query, but not on the allow-list. */
	if (sb->test_forbidden && !sb->no_filter)
		(void)syscall(SYS_personality, 0xffffffffUL);
}
