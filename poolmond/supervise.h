/*
 * Check processes: one per backend, forked on request by the spawn server
 * (spawn_server.h) as the daemon's own children, watched through sd-event's
 * child sources (pidfds), each killed at its own deadline. They report on
 * one shared pipe in records of one fixed size (at most PIPE_BUF, so
 * never interleaved); a process's records are all read before its end is
 * told, so none is taken for missing. The server's faults are poolmond's:
 * a check it could not start ends CHILD_UNSTARTED, and a lost server is
 * started again.
 */
#ifndef POOLMOND_SUPERVISE_H
#define POOLMOND_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "spawn_server.h"

/* Grace on top of a check process's own budget before it is killed. */
#define CHILD_KILL_GRACE_MS	1000

enum child_end {
	CHILD_EXITED,		/* code: its exit status */
	CHILD_KILLED,		/* at its deadline, by the supervisor */
	CHILD_STOPPED,		/* likewise, found stopped then (SIGSTOP,
				 * a tracer): not the backend's doing */
	CHILD_SIGNALED,		/* code: a signal not the supervisor's */
	CHILD_UNSTARTED,	/* code: fork's errno; 0: the spawn server
				 * was lost before it answered */
};

struct supervisor_hooks {
	/* A record read from the pipe, as a check process wrote it. */
	void (*record)(void *arg, const void *record);
	/* The check process of backend has ended, its reports read. */
	void (*ended)(void *arg, size_t backend, enum child_end how,
	    int code);
	/* The check process of backend runs, as pid. */
	void (*started)(void *arg, size_t backend, pid_t pid);
	/* A slot is free again: more check processes may start. */
	void (*idle)(void *arg);
	void *arg;
};

struct supervisor;

/*
 * At most max check processes at once, records of record_size bytes, the
 * spawn server forked now with server (copied). 0 or -errno.
 */
int supervisor_new(sd_event *event, size_t max, size_t record_size,
    const struct supervisor_hooks *hooks,
    const struct spawn_server_conf *server, struct supervisor **out);
/* Kill and reap every check process and the server, then free. NULL is
 * fine. */
void supervisor_free(struct supervisor *s);
/*
 * Whether supervisor_spawn() may be called now: a slot is free, the
 * server has room for a request, and if no server runs, one may be
 * started (at most once a second). When not, the idle hook runs once it
 * may (a slot freed, the server answered or may be started again).
 */
bool supervisor_can_spawn(struct supervisor *s);
/*
 * Have a check process forked for backend running the server's body on
 * job (len bytes, at most SPAWN_DATA_MAX), killed after budget_ms plus
 * CHILD_KILL_GRACE_MS; starts the spawn server if none runs. 0: asked
 * (started, then ended, follow; or ended with CHILD_UNSTARTED); -EBUSY
 * when it may not now; else -errno.
 */
int supervisor_spawn(struct supervisor *s, size_t backend, int64_t budget_ms,
    const void *job, size_t len);
/* The server's copy of what changed in the daemon (new credentials):
 * sent, or the server is started again, from the daemon as it is now. */
void supervisor_update(struct supervisor *s, const void *data, size_t len);
/* Check processes asked for and not yet ended. */
size_t supervisor_running(const struct supervisor *s);
/* Forked since start. */
uint64_t supervisor_forked(const struct supervisor *s);
/* The spawn server's pid, 0 when it is not running (status, tests). */
pid_t supervisor_server_pid(const struct supervisor *s);

#endif
