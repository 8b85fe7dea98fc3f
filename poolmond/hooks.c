/*
 * Change hooks on the event loop: each run is a child process with a child
 * source, a deadline timer and a pipe its output comes through, logged a
 * line at a time. Nothing here waits: a hook that hangs is killed at its
 * deadline, one that floods its output is cut at a bound.
 */
#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define HOOK_FIELD_MAX		512
#define HOOK_OUTPUT_MAX		4096	/* logged of one run's output */
#define HOOK_LINE_MAX		256
#define HOOK_DRAIN_MAX		65536	/* read at its end: a pipe's worth */

struct hook_event {
	char event[16];
	char host[64];
	char tag[128];
	char reason[HOOK_FIELD_MAX];
	bool dry_run;
};

struct hook_run {
	struct hooks *h;
	pid_t pid;			/* 0: slot free */
	int out_fd;
	sd_event_source *child;
	sd_event_source *deadline;
	sd_event_source *output;
	struct hook_event ev;
	char line[HOOK_LINE_MAX];
	size_t linelen;
	size_t logged;			/* bytes of output logged */
	bool killed;
	bool ended;			/* reaped, slot to be recycled */
};

struct hooks {
	sd_event *event;
	const char *program;
	const struct sandbox *sb;
	int timeout_ms;
	struct hook_run runs[HOOKS_MAX_RUNNING];
	struct hook_event *queue;	/* ring of HOOKS_QUEUE_MAX */
	size_t qhead, qlen;
	sd_event_source *recycle;
	struct ratelimit drops;
};

static void start_queued(struct hooks *h);

static void
log_line(struct hook_run *run)
{
	if (run->linelen == 0)
		return;
	run->line[run->linelen] = '\0';
	if (run->logged < HOOK_OUTPUT_MAX) {
		char shown[HOOK_LINE_MAX];

		str_sanitize_r(run->line, run->linelen, shown, sizeof(shown));
		log_info_f(&(struct log_fields){ .host = run->ev.host,
		    .event = run->ev.event }, "hook %s %s: %s", run->ev.event,
		    run->ev.host, shown);
	}
	run->logged += run->linelen;
	run->linelen = 0;
}

static void
take_output(struct hook_run *run, const char *buf, ssize_t n)
{
	ssize_t i;

	for (i = 0; i < n; i++) {
		if (buf[i] == '\n' || run->linelen == HOOK_LINE_MAX - 1)
			log_line(run);
		if (buf[i] != '\n')
			run->line[run->linelen++] = buf[i];
	}
}

/*
 * The hook's exit can be dispatched before its last output: what the pipe
 * still holds is read first (non-blocking, at most a pipe's worth), or it
 * would be lost.
 */
static void
close_output(struct hook_run *run)
{
	char buf[1024];
	ssize_t n;
	size_t drained = 0;

	while (run->out_fd >= 0 && drained < HOOK_DRAIN_MAX &&
	    (n = read(run->out_fd, buf, sizeof(buf))) > 0) {
		take_output(run, buf, n);
		drained += (size_t)n;
	}
	log_line(run);
	run->output = sd_event_source_disable_unref(run->output);
	if (run->out_fd >= 0)
		close(run->out_fd);
	run->out_fd = -1;
}

static int
on_output(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct hook_run *run = arg;
	char buf[1024];
	ssize_t n;

	(void)s;
	(void)revents;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		close_output(run);
		return 0;
	}
	take_output(run, buf, n);
	return 0;
}

static int
on_deadline(sd_event_source *s, uint64_t usec, void *arg)
{
	struct hook_run *run = arg;

	(void)s;
	(void)usec;
	run->killed = true;
	/* The hook's process group, then the hook (it may have left it). */
	(void)kill(-run->pid, SIGKILL);
	(void)sd_event_source_send_child_signal(run->child, SIGKILL, NULL, 0);
	return 0;
}

static int
on_child(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct hook_run *run = arg;
	const struct log_fields f = { .host = run->ev.host,
	    .event = run->ev.event };

	(void)s;
	if (run->killed)
		log_warnx_f(&f, "hook %s %s: killed after %d ms",
		    run->ev.event, run->ev.host, run->h->timeout_ms);
	else if (si->si_code != CLD_EXITED)
		log_warnx_f(&f, "hook %s %s: died of signal %d",
		    run->ev.event, run->ev.host, si->si_status);
	else if (si->si_status != 0)
		log_warnx_f(&f, "hook %s %s: exit status %d", run->ev.event,
		    run->ev.host, si->si_status);
	if (run->logged > HOOK_OUTPUT_MAX)
		log_warnx_f(&f, "hook %s %s: %zu bytes of output, the first "
		    "%d logged", run->ev.event, run->ev.host, run->logged,
		    HOOK_OUTPUT_MAX);
	run->deadline = sd_event_source_disable_unref(run->deadline);
	run->ended = true;
	(void)sd_event_source_set_enabled(run->h->recycle, SD_EVENT_ONESHOT);
	return 0;
}

/* The child's source is released here, never in its own callback. */
static int
on_recycle(sd_event_source *s, void *arg)
{
	struct hooks *h = arg;
	size_t i;

	(void)s;
	for (i = 0; i < HOOKS_MAX_RUNNING; i++) {
		struct hook_run *run = &h->runs[i];

		if (!run->ended)
			continue;
		close_output(run);
		run->child = sd_event_source_disable_unref(run->child);
		run->pid = 0;
		run->ended = false;
	}
	start_queued(h);
	return 0;
}

static void __attribute__((noreturn))
exec_hook(const struct hooks *h, const struct hook_event *ev, int out_fd)
{
	char *const argv[] = { (char *)h->program, NULL };
	sigset_t none;
	int null_fd;

	/* A group of its own: what it starts dies with it at the deadline. */
	(void)setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
	    dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0)
		_exit(126);
	close_range(3, ~0U, 0);
	if (h->sb->switch_ids)
		sandbox_drop_ids(h->sb);
	if (clearenv() != 0 ||
	    setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1) < 0 ||
	    setenv("POOLMON_EVENT", ev->event, 1) < 0 ||
	    setenv("POOLMON_HOST", ev->host, 1) < 0 ||
	    setenv("POOLMON_TAG", ev->tag, 1) < 0 ||
	    setenv("POOLMON_REASON", ev->reason, 1) < 0 ||
	    setenv("POOLMON_DRY_RUN", ev->dry_run ? "1" : "0", 1) < 0)
		_exit(126);
	if (chdir("/") < 0)
		_exit(126);
	execv(h->program, argv);
	_exit(127);
}

static int
start_run(struct hooks *h, struct hook_run *run, const struct hook_event *ev)
{
	int pipefd[2], r;

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	memset(run, 0, sizeof(*run));
	run->h = h;
	run->ev = *ev;
	run->out_fd = pipefd[0];
	run->pid = fork();
	if (run->pid < 0) {
		r = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		run->pid = 0;
		return r;
	}
	if (run->pid == 0)
		exec_hook(h, ev, pipefd[1]);
	close(pipefd[1]);
	if ((r = sd_event_add_child(h->event, &run->child, run->pid, WEXITED,
	    on_child, run)) < 0 ||
	    (r = sd_event_add_time_relative(h->event, &run->deadline,
	    CLOCK_MONOTONIC, (uint64_t)h->timeout_ms * 1000, 1000,
	    on_deadline, run)) < 0 ||
	    (r = sd_event_add_io(h->event, &run->output, run->out_fd,
	    EPOLLIN, on_output, run)) < 0) {
		kill(run->pid, SIGKILL);
		/* Watched: on_child reaps it and frees the slot. */
		if (run->child != NULL)
			return r;
		while (waitpid(run->pid, NULL, 0) < 0 && errno == EINTR)
			;
		run->deadline = sd_event_source_disable_unref(run->deadline);
		close_output(run);
		run->pid = 0;
		return r;
	}
	return 0;
}

static struct hook_run *
free_run(struct hooks *h)
{
	size_t i;

	for (i = 0; i < HOOKS_MAX_RUNNING; i++)
		if (h->runs[i].pid == 0)
			return &h->runs[i];
	return NULL;
}

static void
start_queued(struct hooks *h)
{
	struct hook_run *run;
	int r;

	while (h->qlen > 0 && (run = free_run(h)) != NULL) {
		const struct hook_event *ev = &h->queue[h->qhead];

		h->qhead = (h->qhead + 1) % HOOKS_QUEUE_MAX;
		h->qlen--;
		if ((r = start_run(h, run, ev)) < 0)
			log_warnx("hook %s %s not run: %s", ev->event, ev->host,
			    strerror(-r));
	}
}

int
hooks_new(sd_event *event, const char *program, const struct sandbox *sb,
    int timeout_ms, struct hooks **out)
{
	struct hooks *h;
	size_t i;
	int r;

	*out = NULL;
	if (program == NULL)
		return 0;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->queue = calloc(HOOKS_QUEUE_MAX, sizeof(*h->queue))) == NULL) {
		free(h);
		return -ENOMEM;
	}
	h->event = event;
	h->program = program;
	h->sb = sb;
	h->timeout_ms = timeout_ms;
	h->drops = (struct ratelimit){ .interval_ms = 60000, .burst = 10 };
	for (i = 0; i < HOOKS_MAX_RUNNING; i++)
		h->runs[i].out_fd = -1;
	if ((r = sd_event_add_defer(event, &h->recycle, on_recycle, h)) < 0 ||
	    (r = sd_event_source_set_enabled(h->recycle, SD_EVENT_OFF)) < 0) {
		hooks_free(h);
		return r;
	}
	*out = h;
	return 0;
}

void
hooks_free(struct hooks *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < HOOKS_MAX_RUNNING; i++) {
		struct hook_run *run = &h->runs[i];

		if (run->pid > 0 && !run->ended) {
			kill(-run->pid, SIGKILL);
			kill(run->pid, SIGKILL);
			while (waitpid(run->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		close_output(run);
		sd_event_source_disable_unref(run->child);
		sd_event_source_disable_unref(run->deadline);
	}
	sd_event_source_disable_unref(h->recycle);
	free(h->queue);
	free(h);
}

void
hooks_run(struct hooks *h, const char *event, const char *host,
    const char *tag, const char *reason, bool dry_run)
{
	struct hook_event *ev;
	unsigned int suppressed;

	if (h == NULL)
		return;
	if (h->qlen == HOOKS_QUEUE_MAX) {
		if (ratelimit_allow(&h->drops, now_ms(), &suppressed))
			log_warnx("hook %s %s dropped: %d hooks already wait",
			    event, host != NULL ? host : "", HOOKS_QUEUE_MAX);
		return;
	}
	ev = &h->queue[(h->qhead + h->qlen) % HOOKS_QUEUE_MAX];
	memset(ev, 0, sizeof(*ev));
	str_copy(ev->event, event, sizeof(ev->event));
	str_copy(ev->host, host != NULL ? host : "", sizeof(ev->host));
	str_copy(ev->tag, tag != NULL ? tag : "", sizeof(ev->tag));
	str_copy(ev->reason, reason != NULL ? reason : "", sizeof(ev->reason));
	ev->dry_run = dry_run;
	h->qlen++;
	start_queued(h);
}
