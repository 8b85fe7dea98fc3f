/*
 * Check process supervision on sd-event. Each check process has a child
 * source (a pidfd: no waitpid(-1) sweep, no search for whose pid it was)
 * and a deadline timer of its own. A slot is recycled from a deferred
 * event, never inside its own child source's callback, which sd-event
 * still uses to reap the process once the callback returns.
 */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define REPORT_PIPE_SIZE	(1024 * 1024)

enum slot_state {
	SLOT_FREE,
	SLOT_RUNNING,
	SLOT_ENDED,		/* told, its sources not yet released */
};

struct child_slot {
	struct supervisor *sup;
	sd_event_source *child;
	sd_event_source *deadline;
	size_t backend;
	pid_t pid;
	enum slot_state state;
	bool killed;		/* SIGKILL sent at the deadline */
};

struct supervisor {
	sd_event *event;
	struct supervisor_hooks hooks;
	struct child_slot *slots;
	size_t *free_slots;	/* a stack of indices into slots */
	size_t nfree, max;
	size_t record_size;
	unsigned char *record;	/* one record read */
	int pipe[2];		/* reports: children write, we read */
	sd_event_source *pipe_source;
	sd_event_source *recycle;
	uint64_t forked;
};

static void
drain_reports(struct supervisor *s)
{
	ssize_t r;

	for (;;) {
		r = read(s->pipe[0], s->record, s->record_size);
		if (r == (ssize_t)s->record_size) {
			s->hooks.record(s->hooks.arg, s->record);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0)
			log_warnx("short check report (%zd bytes)", r);
		return;
	}
}

static int
on_reports(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	(void)src;
	(void)fd;
	(void)revents;
	drain_reports(arg);
	return 0;
}

static int
on_child(sd_event_source *src, const siginfo_t *si, void *arg)
{
	struct child_slot *slot = arg;
	struct supervisor *s = slot->sup;
	enum child_end how = CHILD_EXITED;

	(void)src;
	/* It wrote its reports before it ended: every one is in the pipe. */
	drain_reports(s);
	if (slot->killed)
		how = CHILD_KILLED;
	else if (si->si_code != CLD_EXITED)
		how = CHILD_SIGNALED;
	slot->state = SLOT_ENDED;
	slot->deadline = sd_event_source_disable_unref(slot->deadline);
	s->hooks.ended(s->hooks.arg, slot->backend, how, si->si_status);
	(void)sd_event_source_set_enabled(s->recycle, SD_EVENT_ONESHOT);
	return 0;
}

static int
on_deadline(sd_event_source *src, uint64_t usec, void *arg)
{
	struct child_slot *slot = arg;
	int r;

	(void)src;
	(void)usec;
	log_debug("check process %ld past its deadline, killing it",
	    (long)slot->pid);
	slot->killed = true;
	r = sd_event_source_send_child_signal(slot->child, SIGKILL, NULL, 0);
	if (r < 0 && r != -ESRCH)
		log_warnx("cannot kill check process %ld: %s",
		    (long)slot->pid, strerror(-r));
	return 0;
}

static void
release_slot(struct supervisor *s, struct child_slot *slot)
{
	slot->child = sd_event_source_disable_unref(slot->child);
	slot->deadline = sd_event_source_disable_unref(slot->deadline);
	slot->state = SLOT_FREE;
	slot->pid = 0;
	s->free_slots[s->nfree++] = (size_t)(slot - s->slots);
}

static int
on_recycle(sd_event_source *src, void *arg)
{
	struct supervisor *s = arg;
	size_t i;

	(void)src;
	for (i = 0; i < s->max; i++)
		if (s->slots[i].state == SLOT_ENDED)
			release_slot(s, &s->slots[i]);
	s->hooks.idle(s->hooks.arg);
	return 0;
}

int
supervisor_new(sd_event *event, size_t max, size_t record_size,
    const struct supervisor_hooks *hooks, struct supervisor **out)
{
	struct supervisor *s;
	size_t i;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->event = event;
	s->hooks = *hooks;
	s->max = max;
	s->record_size = record_size;
	s->pipe[0] = s->pipe[1] = -1;
	r = -EINVAL;
	if (record_size == 0 || record_size > PIPE_BUF)
		goto fail;
	s->slots = calloc(max, sizeof(*s->slots));
	s->free_slots = calloc(max, sizeof(*s->free_slots));
	s->record = malloc(record_size);
	r = -ENOMEM;
	if (s->slots == NULL || s->free_slots == NULL || s->record == NULL)
		goto fail;
	for (i = 0; i < max; i++) {
		s->slots[i].sup = s;
		s->free_slots[s->nfree++] = max - 1 - i;
	}
	if (pipe2(s->pipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	/* Only our end is non-blocking: a check process waits for room. */
	if (fcntl(s->pipe[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	(void)fcntl(s->pipe[0], F_SETPIPE_SZ, REPORT_PIPE_SIZE);
	if ((r = sd_event_add_io(event, &s->pipe_source, s->pipe[0], EPOLLIN,
	    on_reports, s)) < 0 ||
	    (r = sd_event_add_defer(event, &s->recycle, on_recycle, s)) < 0 ||
	    (r = sd_event_source_set_enabled(s->recycle, SD_EVENT_OFF)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	supervisor_free(s);
	return r;
}

void
supervisor_free(struct supervisor *s)
{
	size_t i;
	int status;

	if (s == NULL)
		return;
	for (i = 0; i < s->max && s->slots != NULL; i++) {
		struct child_slot *slot = &s->slots[i];

		/* Not reaped yet: its source's callback has not run. */
		if (slot->state == SLOT_RUNNING) {
			kill(slot->pid, SIGKILL);
			while (waitpid(slot->pid, &status, 0) < 0 &&
			    errno == EINTR)
				;
		}
		sd_event_source_disable_unref(slot->child);
		sd_event_source_disable_unref(slot->deadline);
	}
	sd_event_source_disable_unref(s->pipe_source);
	sd_event_source_disable_unref(s->recycle);
	if (s->pipe[0] >= 0)
		close(s->pipe[0]);
	if (s->pipe[1] >= 0)
		close(s->pipe[1]);
	free(s->slots);
	free(s->free_slots);
	free(s->record);
	free(s);
}

/* In the check process: drop everything of the daemon's but the pipe. */
static void
child_setup(int report_fd, pid_t parent)
{
	static const int reset[] = { SIGINT, SIGTERM, SIGQUIT, SIGCHLD,
	    SIGALRM };
	sigset_t none;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reset); i++)
		signal(reset[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* A reload meant for the daemon (killall -HUP poolmond, systemctl
	 * kill -s HUP) must not kill a check and fail a healthy backend. */
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Die with the daemon rather than outlive it, even if it died
	 * before this line. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if (report_fd != 3 && dup2(report_fd, 3) < 0)
		_exit(1);
	/* No pidfile lock, control or director socket, no other child's
	 * pidfd in a check process. */
	close_range(4, ~0U, 0);
}

static int
watch(struct supervisor *s, struct child_slot *slot, int64_t deadline_ms)
{
	int r;

	r = sd_event_add_child(s->event, &slot->child, slot->pid, WEXITED,
	    on_child, slot);
	if (r < 0)
		return r;
	return sd_event_add_time(s->event, &slot->deadline, CLOCK_MONOTONIC,
	    (uint64_t)deadline_ms * 1000, 1000, on_deadline, slot);
}

int
supervisor_spawn(struct supervisor *s, size_t backend, int64_t budget_ms,
    child_body_fn *body, void *ctx, pid_t *pid)
{
	struct child_slot *slot;
	int64_t start = now_ms();
	pid_t parent = getpid();
	int r, status;

	if (s->nfree == 0)
		return -EBUSY;
	slot = &s->slots[s->free_slots[s->nfree - 1]];
	slot->pid = fork();
	if (slot->pid < 0)
		return -errno;
	if (slot->pid == 0) {
		child_setup(s->pipe[1], parent);
		body(ctx, 3, start + budget_ms);
		_exit(0);
	}
	s->nfree--;
	s->forked++;
	slot->backend = backend;
	slot->killed = false;
	slot->state = SLOT_RUNNING;
	if ((r = watch(s, slot, start + budget_ms + CHILD_KILL_GRACE_MS)) < 0) {
		/* Unwatched, it would never be reaped nor killed. */
		kill(slot->pid, SIGKILL);
		while (waitpid(slot->pid, &status, 0) < 0 && errno == EINTR)
			;
		release_slot(s, slot);
		return r;
	}
	*pid = slot->pid;
	return 0;
}

size_t
supervisor_running(const struct supervisor *s)
{
	return s->max - s->nfree;
}

uint64_t
supervisor_forked(const struct supervisor *s)
{
	return s->forked;
}
