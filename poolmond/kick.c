/*
 * Kicks (kick.h): each a list of doveadm runs made one after the other,
 * each run a child process with a child source and an output pipe; the
 * kick's deadline timer kills its run and ends it. A run outlives its
 * kick only until it is reaped.
 */
#include "kick.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define OUTPUT_MAX	512		/* of a run's output, kept */
#define ARGV_MAX	8
#define DEFAULT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
			"/sbin:/bin"
/* doveadm's "nothing found" (EX_NOHOST): no session to kick. */
#define DOVEADM_EX_NOTFOUND	68

enum version {
	V_UNKNOWN,
	V_23,
	V_24,
};

struct run;
typedef void run_end_fn(struct run *run, int status, void *arg);

/* One child: status is its exit code, or -1 when it did not exit. */
struct run {
	struct kicker *k;
	struct run *next;		/* in the kicker's runs */
	pid_t pid;
	sd_event_source *child;
	sd_event_source *output;
	int out_fd;
	char out[OUTPUT_MAX];
	size_t outlen;
	bool killed;
	char what[300];			/* "doveadm ... -h b1", for errors */
	sd_event_source *timer;		/* kills it after the timeout */
	run_end_fn *end;		/* NULL: nobody waits any more */
	void *end_arg;
	sd_event_source *reaped;	/* frees it from the loop */
};

struct kick {
	struct kicker *k;
	struct kick *next;
	char ip[INET6_ADDRSTRLEN];
	char hosts[KICK_HOSTS_MAX + 1][256];
	size_t nhosts;			/* with ip, when no host string is it */
	size_t step;			/* next run: conf * nhosts + host */
	int64_t deadline;
	sd_event_source *timer;
	sd_event_source *starter;
	struct run *run;		/* running */
	bool waiting_version;
	int error;
	char err[512];
	kick_done_fn *done;
	void *arg;
};

struct kicker {
	sd_event *event;
	char **confs;
	size_t nconfs;
	int timeout_ms;
	char path[PATH_MAX];		/* PATH for the children */
	enum version version;
	struct run *detect;		/* dovecot --version, running */
	char detect_err[256];
	struct kick *kicks;
	size_t nkicks;
	struct run *runs;		/* every child not yet reaped */
};

/* ------------------------------------------------------------------ */
/* Children */

/* An executable in PATH, as execvp would find it, found before fork. */
static int
find_program(const struct kicker *k, const char *name, char *out,
    size_t outlen)
{
	char dirs[PATH_MAX], *dir, *save = NULL;

	str_copy(dirs, k->path, sizeof(dirs));
	for (dir = strtok_r(dirs, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		if (dir[0] != '/')
			continue;
		if ((size_t)snprintf(out, outlen, "%s/%s", dir, name) >= outlen)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static void __attribute__((noreturn))
exec_child(const char *path, char *const argv[], char *const envp[],
    int null_fd, int out_fd)
{
	sigset_t none;

	/* A group of its own: what it starts dies with it at the deadline. */
	(void)setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(null_fd, STDIN_FILENO) < 0 ||
	    dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0)
		_exit(126);
	close_range(3, ~0U, 0);
	if (chdir("/") < 0)
		_exit(126);
	execve(path, argv, envp);
	_exit(127);
}

static void
run_read(struct run *run)
{
	char buf[1024];
	ssize_t n;
	size_t take;

	while (run->out_fd >= 0) {
		n = read(run->out_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			run->output = sd_event_source_disable_unref(
			    run->output);
			close(run->out_fd);
			run->out_fd = -1;
			return;
		}
		/* Kept up to the bound, the rest read and dropped. */
		take = (size_t)n < sizeof(run->out) - 1 - run->outlen ?
		    (size_t)n : sizeof(run->out) - 1 - run->outlen;
		memcpy(run->out + run->outlen, buf, take);
		run->outlen += take;
		run->out[run->outlen] = '\0';
	}
}

static int
on_output(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	(void)s;
	(void)fd;
	(void)revents;
	run_read(arg);
	return 0;
}

static void
run_free(struct run *run)
{
	struct run **pp;

	for (pp = &run->k->runs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == run) {
			*pp = run->next;
			break;
		}
	sd_event_source_disable_unref(run->child);
	sd_event_source_disable_unref(run->output);
	sd_event_source_disable_unref(run->timer);
	sd_event_source_disable_unref(run->reaped);
	if (run->out_fd >= 0)
		close(run->out_fd);
	free(run);
}

static int
on_reaped(sd_event_source *s, void *arg)
{
	(void)s;
	run_free(arg);
	return 0;
}

static int
on_child(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct run *run = arg;
	int status = si->si_code == CLD_EXITED ? si->si_status : -1;

	(void)s;
	/* What it wrote before it ended is in the pipe. */
	if (run->out_fd >= 0 && fcntl(run->out_fd, F_SETFL, O_NONBLOCK) == 0)
		run_read(run);
	run->pid = 0;
	run->timer = sd_event_source_disable_unref(run->timer);
	if (run->end != NULL)
		run->end(run, run->killed ? -1 : status, run->end_arg);
	/* Freed from the loop: this callback's source is the run's. */
	if (run->reaped == NULL && sd_event_add_defer(run->k->event,
	    &run->reaped, on_reaped, run) < 0)
		log_warnx("kick: cannot free a finished doveadm run");
	return 0;
}

static int
on_run_timeout(sd_event_source *s, uint64_t usec, void *arg)
{
	struct run *run = arg;

	(void)s;
	(void)usec;
	if (run->pid > 0) {
		run->killed = true;
		kill(-run->pid, SIGKILL);
		(void)sd_event_source_send_child_signal(run->child, SIGKILL,
		    NULL, 0);
	}
	return 0;
}

/*
 * argv[0] is found in PATH; what names the run in errors; it is killed
 * after the kicker's timeout. NULL with errno (err says why).
 */
static struct run *
run_start(struct kicker *k, char *const argv[], const char *what,
    run_end_fn *end, void *arg, char *err, size_t errlen)
{
	char path[PATH_MAX];
	char env_path[PATH_MAX + 8];
	char *const envp[] = { env_path, NULL };
	struct run *run;
	int pipefd[2], null_fd, r;

	if (find_program(k, argv[0], path, sizeof(path)) < 0) {
		err_set(err, errlen, -ENOENT, "%s is not in PATH (%s): is "
		    "Dovecot (dovecot-core) installed?", argv[0], k->path);
		errno = ENOENT;
		return NULL;
	}
	snprintf(env_path, sizeof(env_path), "PATH=%s", k->path);
	if ((run = calloc(1, sizeof(*run))) == NULL) {
		err_set(err, errlen, -ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	run->k = k;
	run->out_fd = -1;
	run->end = end;
	run->end_arg = arg;
	str_copy(run->what, what, sizeof(run->what));
	if ((null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		free(run);
		err_set(err, errlen, r, "/dev/null: %s", strerror(-r));
		errno = -r;
		return NULL;
	}
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		close(null_fd);
		free(run);
		err_set(err, errlen, r, "pipe: %s", strerror(-r));
		errno = -r;
		return NULL;
	}
	run->pid = fork();
	if (run->pid == 0)
		exec_child(path, argv, envp, null_fd, pipefd[1]);
	r = run->pid < 0 ? -errno : 0;
	close(null_fd);
	close(pipefd[1]);
	run->out_fd = pipefd[0];
	run->next = k->runs;
	k->runs = run;
	if (r == 0 && (r = sd_event_add_child(k->event, &run->child, run->pid,
	    WEXITED, on_child, run)) < 0) {
		kill(run->pid, SIGKILL);
		while (waitpid(run->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (r == 0)
		r = sd_event_add_io(k->event, &run->output, run->out_fd,
		    EPOLLIN, on_output, run);
	if (r == 0)
		r = sd_event_add_time_relative(k->event, &run->timer,
		    CLOCK_MONOTONIC, (uint64_t)k->timeout_ms * 1000, 1000,
		    on_run_timeout, run);
	if (r < 0) {
		if (run->child != NULL) {
			/* Watched: on_child reaps it; nobody waits. */
			run->killed = true;
			run->end = NULL;
			kill(-run->pid, SIGKILL);
			kill(run->pid, SIGKILL);
		} else
			run_free(run);
		err_set(err, errlen, r, "%s: %s", argv[0], strerror(-r));
		errno = -r;
		return NULL;
	}
	return run;
}

/* Nobody waits for it any more: killed, reaped later. */
static void
run_drop(struct run *run)
{
	if (run == NULL)
		return;
	run->end = NULL;
	if (run->pid > 0) {
		run->killed = true;
		kill(-run->pid, SIGKILL);
		(void)sd_event_source_send_child_signal(run->child, SIGKILL,
		    NULL, 0);
	}
}

/* The first line of a run's output, printable. */
static void
first_line(const struct run *run, char *out, size_t outlen)
{
	size_t n = strcspn(run->out, "\n");

	while (n > 0 && (run->out[n - 1] == '\r' || run->out[n - 1] == ' '))
		n--;
	str_sanitize_r(run->out, n, out, outlen);
}

/* ------------------------------------------------------------------ */
/* The version */

static void kick_step(struct kick *kick);
static void kick_finish(struct kick *kick);

static int
parse_version(const char *out, enum version *v)
{
	long major, minor;
	char *end;

	major = strtol(out, &end, 10);
	if (end == out || *end != '.')
		return -EINVAL;
	minor = strtol(end + 1, &end, 10);
	if (major < 2 || (major == 2 && minor < 3))
		return -ENOTSUP;
	*v = major == 2 && minor == 3 ? V_23 : V_24;
	return 0;
}

static void
detect_end(struct run *run, int status, void *arg)
{
	struct kicker *k = arg;
	struct kick *kick, *next;
	char line[128];
	int r = 0;

	k->detect = NULL;
	first_line(run, line, sizeof(line));
	if (status < 0)
		snprintf(k->detect_err, sizeof(k->detect_err), "dovecot "
		    "--version did not end in %d ms", k->timeout_ms);
	else if (status != 0)
		snprintf(k->detect_err, sizeof(k->detect_err), "dovecot "
		    "--version: exit status %d: %s", status, line);
	else if ((r = parse_version(line, &k->version)) < 0)
		snprintf(k->detect_err, sizeof(k->detect_err), "dovecot "
		    "--version: %s '%s'", r == -ENOTSUP ? "older than 2.3:" :
		    "no version in", line);
	else
		log_info("kick: Dovecot %s: sessions are kicked with doveadm "
		    "%s", line, k->version == V_23 ? "proxy kick -h HOST" :
		    "kick -h IP");
	for (kick = k->kicks; kick != NULL; kick = next) {
		next = kick->next;
		if (!kick->waiting_version)
			continue;
		kick->waiting_version = false;
		if (k->version == V_UNKNOWN) {
			kick->error = -EIO;
			str_copy(kick->err, k->detect_err, sizeof(kick->err));
			kick_finish(kick);
		} else
			kick_step(kick);
	}
}

/* 0: known; 1: being asked (the kick waits); -errno with err. */
static int
need_version(struct kick *kick)
{
	struct kicker *k = kick->k;
	char *const argv[] = { "dovecot", "--version", NULL };

	if (k->version != V_UNKNOWN)
		return 0;
	kick->waiting_version = true;
	if (k->detect != NULL)
		return 1;
	k->detect = run_start(k, argv, "dovecot --version", detect_end, k,
	    kick->err, sizeof(kick->err));
	if (k->detect == NULL) {
		kick->waiting_version = false;
		return -errno;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* Kicks */

static void
kick_unlink(struct kick *kick)
{
	struct kick **pp;

	for (pp = &kick->k->kicks; *pp != NULL; pp = &(*pp)->next)
		if (*pp == kick) {
			*pp = kick->next;
			kick->k->nkicks--;
			return;
		}
}

static void
kick_free(struct kick *kick)
{
	kick_unlink(kick);
	run_drop(kick->run);
	sd_event_source_disable_unref(kick->timer);
	sd_event_source_disable_unref(kick->starter);
	free(kick);
}

static void
kick_finish(struct kick *kick)
{
	kick_done_fn *done = kick->done;
	void *arg = kick->arg;
	char err[sizeof(kick->err)];
	int error = kick->error;

	str_copy(err, kick->err, sizeof(err));
	kick_free(kick);
	if (done != NULL)
		done(error, err, arg);
}

static void
run_end(struct run *run, int status, void *arg)
{
	struct kick *kick = arg;
	char line[160];

	kick->run = NULL;
	first_line(run, line, sizeof(line));
	if (status == 0 || status == DOVEADM_EX_NOTFOUND)
		log_debug("kick %s: %s: %s", kick->ip, run->what,
		    line[0] != '\0' ? line : "done");
	else if (kick->error == 0) {
		/* The first failure says why; the other runs still run. */
		kick->error = -EIO;
		if (status < 0)
			snprintf(kick->err, sizeof(kick->err), "%s: killed "
			    "after %d ms", run->what, kick->k->timeout_ms);
		else
			snprintf(kick->err, sizeof(kick->err), "%s: exit "
			    "status %d: %s", run->what, status,
			    line[0] != '\0' ? line : "no output");
	}
	kick_step(kick);
}

/* Start the kick's next doveadm, or end it. */
static void
kick_step(struct kick *kick)
{
	struct kicker *k = kick->k;
	char *argv[ARGV_MAX];
	char what[300];
	const char *conf, *host = NULL;
	size_t total;
	int r;

	/* No proxy beside: nothing to kick. */
	if (k->nconfs == 0) {
		kick_finish(kick);
		return;
	}
	if ((r = need_version(kick)) != 0) {
		if (r < 0) {
			kick->error = r;
			kick_finish(kick);
		}
		return;
	}
	total = k->version == V_23 ? k->nconfs * kick->nhosts : k->nconfs;
	if (kick->step >= total) {
		kick_finish(kick);
		return;
	}
	if (k->version == V_23) {
		conf = k->confs[kick->step / kick->nhosts];
		host = kick->hosts[kick->step % kick->nhosts];
		argv[0] = "doveadm";
		argv[1] = "-c";
		argv[2] = (char *)conf;
		argv[3] = "proxy";
		argv[4] = "kick";
		argv[5] = "-h";
		argv[6] = (char *)host;
		argv[7] = NULL;
	} else {
		conf = k->confs[kick->step];
		argv[0] = "doveadm";
		argv[1] = "-c";
		argv[2] = (char *)conf;
		argv[3] = "kick";
		argv[4] = "-h";
		argv[5] = kick->ip;
		argv[6] = NULL;
	}
	kick->step++;
	snprintf(what, sizeof(what), "doveadm -c %s %s -h %s", conf,
	    k->version == V_23 ? "proxy kick" : "kick",
	    k->version == V_23 ? host : kick->ip);
	if ((kick->run = run_start(k, argv, what, run_end, kick, kick->err,
	    sizeof(kick->err))) == NULL) {
		kick->error = -errno;
		kick_finish(kick);
	}
}

static int
on_start(sd_event_source *s, void *arg)
{
	(void)s;
	kick_step(arg);
	return 0;
}

static int
on_deadline(sd_event_source *s, uint64_t usec, void *arg)
{
	struct kick *kick = arg;

	(void)s;
	(void)usec;
	kick->error = -ETIMEDOUT;
	snprintf(kick->err, sizeof(kick->err), "%s did not end in time",
	    kick->run != NULL ? kick->run->what : kick->k->detect != NULL ?
	    "dovecot --version" : "doveadm");
	kick_finish(kick);
	return 0;
}

struct kick *
kick_start(struct kicker *k, const char *ip, const char *const *hosts,
    size_t nhosts, int64_t deadline, kick_done_fn *done, void *arg)
{
	struct kick *kick;
	size_t i, j;
	bool has_ip = false;
	int r;

	if (ip == NULL || ip[0] == '\0' || ip[0] == '-' ||
	    nhosts > KICK_HOSTS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if ((kick = calloc(1, sizeof(*kick))) == NULL)
		return NULL;
	kick->k = k;
	str_copy(kick->ip, ip, sizeof(kick->ip));
	for (i = 0; i < nhosts; i++) {
		/* Never an option to doveadm, never twice. */
		if (hosts[i] == NULL || hosts[i][0] == '\0' ||
		    hosts[i][0] == '-' || strlen(hosts[i]) >= 256)
			continue;
		for (j = 0; j < kick->nhosts; j++)
			if (strcmp(kick->hosts[j], hosts[i]) == 0)
				break;
		if (j < kick->nhosts)
			continue;
		str_copy(kick->hosts[kick->nhosts++], hosts[i], 256);
		has_ip = has_ip || strcmp(hosts[i], ip) == 0;
	}
	/* A host string may be the address itself. */
	if (!has_ip)
		str_copy(kick->hosts[kick->nhosts++], ip, 256);
	kick->deadline = deadline;
	kick->done = done;
	kick->arg = arg;
	kick->next = k->kicks;
	k->kicks = kick;
	k->nkicks++;
	if ((r = sd_event_add_time(k->event, &kick->timer, CLOCK_MONOTONIC,
	    (uint64_t)(deadline > 0 ? deadline : 1) * 1000, 1000, on_deadline,
	    kick)) < 0 ||
	    (r = sd_event_add_defer(k->event, &kick->starter, on_start,
	    kick)) < 0) {
		kick->done = NULL;
		kick_free(kick);
		errno = -r;
		return NULL;
	}
	return kick;
}

void
kick_cancel(struct kick *kick)
{
	if (kick == NULL)
		return;
	kick->done = NULL;
	kick_free(kick);
}

size_t
kicker_pending(const struct kicker *k)
{
	return k->nkicks;
}

size_t
kicker_proxies(const struct kicker *k)
{
	return k->nconfs;
}

const char *
kicker_version(const struct kicker *k)
{
	switch (k->version) {
	case V_23: return "2.3";
	case V_24: return "2.4";
	case V_UNKNOWN: break;
	}
	return "";
}

int
kicker_new(sd_event *event, const char *const *confs, size_t nconfs,
    int timeout_ms, struct kicker **out, char *err, size_t errlen)
{
	const char *path = getenv("PATH");
	struct kicker *k;
	size_t i;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (nconfs > 0 && (k->confs = calloc(nconfs, sizeof(char *))) ==
	    NULL)) {
		free(k);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	k->event = event;
	k->timeout_ms = timeout_ms;
	str_copy(k->path, path != NULL && path[0] != '\0' ? path :
	    DEFAULT_PATH, sizeof(k->path));
	for (i = 0; i < nconfs; i++) {
		if (confs[i] == NULL || confs[i][0] != '/' ||
		    (k->confs[i] = strdup(confs[i])) == NULL) {
			k->nconfs = i;
			kicker_free(k);
			return err_set(err, errlen, -EINVAL, "--proxy needs an "
			    "absolute path to a Dovecot configuration file");
		}
	}
	k->nconfs = nconfs;
	*out = k;
	return 0;
}

void
kicker_free(struct kicker *k)
{
	struct run *run;
	size_t i;

	if (k == NULL)
		return;
	while (k->kicks != NULL)
		kick_cancel(k->kicks);
	while ((run = k->runs) != NULL) {
		if (run->pid > 0) {
			kill(-run->pid, SIGKILL);
			kill(run->pid, SIGKILL);
			while (waitpid(run->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		run_free(run);
	}
	for (i = 0; i < k->nconfs; i++)
		free(k->confs[i]);
	free(k->confs);
	free(k);
}
