/*
 * Check processes: forked one per backend, watched through sd-event's
 * child sources (pidfds), each killed at its own deadline. They report on
 * one shared pipe in records of one fixed size (at most PIPE_BUF, so
 * never interleaved); a process's records are all read before its end is
 * told, so none is taken for missing.
 */
#ifndef POOLMOND_SUPERVISE_H
#define POOLMOND_SUPERVISE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

/* Grace on top of a check process's own budget before it is killed. */
#define CHILD_KILL_GRACE_MS	1000

enum child_end {
	CHILD_EXITED,		/* code: its exit status */
	CHILD_KILLED,		/* at its deadline, by the supervisor */
	CHILD_SIGNALED,		/* code: a signal not the supervisor's */
};

struct supervisor_hooks {
	/* A record read from the pipe, as a check process wrote it. */
	void (*record)(void *arg, const void *record);
	/* The check process of backend has ended, its reports read. */
	void (*ended)(void *arg, size_t backend, enum child_end how,
	    int code);
	/* A slot is free again: more check processes may start. */
	void (*idle)(void *arg);
	void *arg;
};

/* What a check process runs once set up, its reports going to fd 3. */
typedef void child_body_fn(void *ctx, int report_fd, int64_t hard_deadline);

struct supervisor;

/* At most max check processes at once, records of record_size bytes.
 * 0 or -errno. */
int supervisor_new(sd_event *event, size_t max, size_t record_size,
    const struct supervisor_hooks *hooks, struct supervisor **out);
/* Kill and reap every check process, then free. NULL is fine. */
void supervisor_free(struct supervisor *s);
/*
 * Fork a check process for backend running body(ctx, ...), killed after
 * budget_ms plus CHILD_KILL_GRACE_MS. -EBUSY when max are running, else
 * -errno of fork or of watching it (then it is killed).
 */
int supervisor_spawn(struct supervisor *s, size_t backend, int64_t budget_ms,
    child_body_fn *body, void *ctx, pid_t *pid);
size_t supervisor_running(const struct supervisor *s);
/* Forked since start. */
uint64_t supervisor_forked(const struct supervisor *s);

#endif
