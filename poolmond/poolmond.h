/* The daemon's state: one struct, passed to every module. */
#ifndef POOLMOND_POOLMOND_H
#define POOLMOND_POOLMOND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "check.h"
#include "child.h"
#include "config.h"
#include "director.h"
#include "metrics.h"
#include "policy.h"
#include "pool.h"
#include "sandbox.h"
#include "state.h"
#include "util.h"

struct fleet;
struct supervisor;

/* What poolmonctl watch streams (control.c), as it happens. */
struct pool_event {
	const char *event;	/* verdict, down, up, flush, hold, ... */
	const char *host;	/* NULL: about the pool */
	const char *reason;
	const char *result;	/* a director command's: "ok" or its error */
	const char *detail;
	bool dry_run;
};

struct poolmond {
	struct config cfg;
	struct check_env env;
	struct sandbox sandbox;	/* of the check processes (sandbox.c) */
	sd_event *event;
	sd_event_source *scan_timer;
	sd_event_source *start_source;	/* more check processes to fork */
	int pidfile_fd;

	struct pool pool;		/* the director's hosts (pool.c) */
	struct supervisor *sup;		/* check processes (supervise.c) */
	struct hooks *hooks;		/* --on-change (hooks.c); NULL: none */

	/* The scan in progress. */
	bool scanning;
	uint32_t scan_id;
	size_t next_to_start;
	size_t selected;		/* backends in this scan */
	size_t finished;
	/* A requested scan (recheck): all backends, or only these. */
	bool recheck_pending;
	char **recheck_ips;
	size_t nrecheck_ips;
	int64_t scan_started;		/* monotonic ms */
	int64_t list_asked_ms;		/* wall clock: HOST-LIST asked */
	bool scan_is_recheck;		/* requested, not the interval's */
	int64_t interval_started;	/* start of the last interval scan */
	int64_t next_scan_at;		/* monotonic ms */
	/* Told when a scan has finished (scanned) or could not start. */
	void (*scan_done)(struct poolmond *d, bool scanned);
	/* Told of every event (poolmonctl watch); NULL: nobody listens. */
	void (*on_event)(struct poolmond *d, const struct pool_event *ev);
	struct resolver *resolver;	/* PTR names; NULL: not wanted */
	size_t awaiting_names;		/* backends waiting for theirs */

	/* Operator safety (policy.c, state.c). */
	struct policy policy;
	struct state state;
	struct policy_outcome outcome;	/* of the last scan */
	bool ring_synced;		/* as DIRECTOR-LIST last said */
	/* Not asked since the director was last unreachable. */
	bool ring_unknown;
	bool ring_unsynced_noted;	/* logged once per episode */
	bool tls_unsaved;		/* a STARTTLS offer not yet saved */
	bool guard_on;			/* as last told (poolmonctl watch) */

	/* The director's admin socket (director.c), and what waits on it. */
	struct director_client *director;
	bool listing;			/* HOST-LIST asked; the scan waits */
	struct action_batch *batch;	/* this scan's actions (actions.c) */
	struct hold_op *holds;		/* holds being applied (actions.c) */
	/* Director reachability, to log an outage once. */
	bool director_down;
	char director_error[256];

	time_t started;			/* wall clock, for status */
	uint64_t scans_completed;
	/* Checks whose result is unknown through poolmond's own fault. */
	uint64_t checks_unknown;
	struct ratelimit unknown_warnings;
	int64_t last_scan_ms;
	time_t last_scan_end;
	bool stopping;

	struct control *control;	/* poolmonctl's socket (control.c) */
	/* Prometheus metrics: counters, the HTTP server (metrics*.c). */
	struct metrics metrics;
	struct metrics_http *metrics_http;	/* NULL: not listening */
	struct fleet *fleet;		/* --fleet-*; NULL: alone */
};

static inline void
pool_event_emit(struct poolmond *d, const struct pool_event *ev)
{
	if (d->on_event != NULL)
		d->on_event(d, ev);
}

/* scan.c */
int scan_init(struct poolmond *d);
void scan_shutdown(struct poolmond *d);
/*
 * Scan now (or right after the scan in progress): every backend when
 * nips is 0, else only those addresses. -ENOMEM.
 */
int scan_request(struct poolmond *d, const char *const *ips, size_t nips);
/* The resolver's ready hook: backends waiting for their names may start. */
void scan_names_ready(void *d);


/* actions.c */
typedef void actions_done_fn(struct poolmond *d);
/* Decide and act on the scan's results; done runs once the director's
 * commands have finished (at most --timeout later). */
void actions_apply(struct poolmond *d, actions_done_fn *done);
/* The answer to a hold: r and err as actions_hold()'s. */
typedef void actions_hold_fn(void *arg, int r, const char *err);
/*
 * Maintenance hold: recorded, then HOST-DOWN (and HOST-FLUSH with flush)
 * at once; the host stays down whatever its health until released.
 * 1: recorded, the director's commands are on their way and done(arg)
 * tells how they ended; 0 (dry-run), or -errno, with err saying what was
 * and was not done.
 */
int actions_hold(struct poolmond *d, const char *ip, const char *reason,
    uid_t uid, bool flush, actions_hold_fn *done, void *arg, char *err,
    size_t errlen);
/* Ask DIRECTOR-LIST now, for status: the ring state is unknown since the
 * director was last unreachable. */
void actions_ring_refresh(struct poolmond *d);
/* Holds in progress for arg answer nobody (a client gone). */
void actions_forget(struct poolmond *d, const void *arg);
/* At exit, after the director client is gone: what was in progress. */
void actions_shutdown(struct poolmond *d);
/* Hand a held or operator-down host to poolmond, which brings it up once
 * healthy (the caller asks for its recheck). 0 (err holds a note) or
 * -errno with err set. */
int actions_release(struct poolmond *d, const char *ip, char *err,
    size_t errlen);
/* pidfile.c */
int pidfile_acquire(const char *path, pid_t *holder);
int pidfile_write_pid(int fd, pid_t pid);
void pidfile_release(const char *path, int fd);

#endif
