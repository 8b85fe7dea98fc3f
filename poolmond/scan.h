/*
 * The scan engine: at each interval it reads HOST-LIST into the pool,
 * has every backend checked by a check process of its own, and hands the
 * results to the actions. It works on what main gives it (the pool, the
 * state, the director client...) and keeps only the scan's own state.
 */
#ifndef POOLMOND_SCAN_H
#define POOLMOND_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "check.h"
#include "config.h"
#include "router.h"
#include "pool.h"
#include "pool_event.h"
#include "sandbox.h"
#include "state.h"
#include "util.h"

struct actions;
struct fleet;
struct resolver;
struct supervisor;

struct scan_hooks {
	/* A scan has finished (scanned) or could not start. */
	void (*done)(void *arg, bool scanned);
	void *arg;
};

struct scan {
	/* What the scan works with, main's (set before scan_init()). */
	const struct config *cfg;
	/* Not const: the spawn server updates its copy (scan_credentials). */
	struct check_env *env;
	const struct sandbox *sandbox;
	sd_event *event;
	struct pool *pool;
	struct state *state;
	struct router *router;
	struct router_view *view;
	struct resolver *resolver;	/* PTR names; NULL: not wanted */
	struct actions *actions;
	struct fleet *fleet;		/* NULL: alone */
	struct scan_hooks hooks;
	struct event_sink events;

	/* Its own. */
	struct supervisor *sup;		/* check processes (supervise.c) */
	sd_event_source *timer;
	sd_event_source *start_source;	/* more check processes to fork */
	sd_event_source *judge_source;	/* results to judge, once a turn */
	sd_event_source *spread_timer;	/* the next check's offset */
	bool scanning;
	bool listing;			/* HOST-LIST asked; the scan waits */
	bool stopping;
	uint32_t scan_id;
	size_t next_to_start;
	size_t started;			/* of the selected, forked so far */
	int64_t spread_ms;		/* the checks spread over it */
	bool finishing;			/* every result in, actions last */
	size_t passed;			/* of the finished, healthy */
	size_t selected;		/* backends in this scan */
	size_t finished;
	size_t awaiting_names;		/* backends waiting for their PTR */
	/* A requested scan (recheck): all backends, or only these. */
	bool recheck_pending;
	char **recheck_ips;
	size_t nrecheck_ips;
	bool is_recheck;		/* this one: requested, not the interval's */
	int64_t started_ms;		/* monotonic */
	int64_t list_asked_ms;		/* wall clock: HOST-LIST asked */
	int64_t interval_started;	/* start of the last interval scan */
	int64_t next_scan_at;		/* monotonic ms */
	bool tls_unsaved;		/* a STARTTLS offer not yet saved */
	/* What status shows. */
	uint64_t scans_completed;
	uint64_t checks_unknown;	/* poolmond's own fault */
	struct ratelimit unknown_warnings;
	int64_t last_scan_ms;
	time_t last_scan_end;
};

int scan_init(struct scan *s);
void scan_shutdown(struct scan *s);
/*
 * Scan now (or right after the scan in progress): every backend when
 * nips is 0, else only those addresses. -ENOMEM.
 */
int scan_request(struct scan *s, const char *const *ips, size_t nips);
/* Judge the pool again at the end of this turn of the loop (a peer's
 * verdicts came). */
void scan_judge_soon(struct scan *s);
/* The resolver's ready hook (arg: the scan): backends waiting for their
 * names may start. */
void scan_names_ready(void *arg);
/* The credentials in s->env changed (reload): the spawn server's copy
 * follows. */
void scan_credentials(struct scan *s);
/* Check processes forked since start (status). */
uint64_t scan_children_forked(const struct scan *s);

#endif
