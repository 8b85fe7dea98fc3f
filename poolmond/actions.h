/*
 * Actions after a scan, and the operator's holds and releases: policy.c
 * decides, this module asks the router (router.h) to take backends down,
 * flush them or bring them up, and records ownership in the state. It
 * works on what main gives it.
 */
#ifndef POOLMOND_ACTIONS_H
#define POOLMOND_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "router.h"
#include "metrics.h"
#include "policy.h"
#include "pool.h"
#include "pool_event.h"
#include "state.h"

struct action_batch;
struct fleet;
struct hold_op;
struct hooks;

typedef void actions_done_fn(void *arg);

struct actions {
	/* What the actions work with, main's. */
	const struct config *cfg;	/* cfg->dry_run may change */
	struct pool *pool;
	struct state *state;
	struct router *router;
	struct router_view *view;
	struct fleet *fleet;		/* NULL: alone */
	struct hooks *hooks;		/* --on-change; NULL: none */
	struct metrics *metrics;
	struct event_sink events;
	struct policy policy;

	/* Its own. */
	struct policy_outcome outcome;	/* of the last judgement */
	bool guard_on;			/* as last told (poolmonctl watch) */
	uint32_t scan_id;		/* the scan judged last */
	uint32_t gate_failed_scan;	/* no batch again before the next */
	bool judge_pending;		/* a result came during a batch */
	bool downs_held;		/* every result so far failed */
	struct action_batch *batch;	/* on its way */
	actions_done_fn *idle;		/* told when the last batch ends */
	void *idle_arg;
	struct hold_op *holds;		/* holds being applied */
};

/*
 * New results came (their backends marked fresh) during scan scan_id:
 * count them (--fall/--rise), decide every backend on its latest result
 * (the guard included) and send what is owed, now: a backend is acted on
 * as its result arrives, not when the whole pool has been checked. A
 * command that fails, or a gate that is closed, is tried again at the
 * next scan. all_failed_so_far: every result of the scan so far failed
 * and more are to come: no backend is taken down until one passes (the
 * fault may be poolmond's; the scan's end decides).
 */
void actions_judge(struct actions *a, uint32_t scan_id,
    bool all_failed_so_far);
/*
 * Scan scan_id has every result: judged once more, the guard logged;
 * done(arg) runs once the commands on their way have finished (at most
 * --timeout later).
 */
void actions_scan_done(struct actions *a, uint32_t scan_id,
    actions_done_fn *done, void *arg);
/* A scan's actions are still on their way. */
bool actions_busy(const struct actions *a);
/* The answer to a hold: r and err as actions_hold()'s. */
typedef void actions_hold_fn(void *arg, int r, const char *err);
/*
 * Maintenance hold: recorded, then taken down (and flushed with flush)
 * at once; the host stays down whatever its health until released.
 * 1: recorded, the router's commands are on their way and done(arg)
 * tells how they ended; 0 (dry-run), or -errno, with err saying what was
 * and was not done.
 */
int actions_hold(struct actions *a, const char *ip, const char *reason,
    uid_t uid, bool flush, actions_hold_fn *done, void *arg, char *err,
    size_t errlen);
/* Ask the router's gate now: it is unknown since the router was last
 * unreachable, or a fleet follows a director's ring. */
void actions_gate_refresh(struct actions *a);
/* Holds in progress for arg answer nobody (a client gone). */
void actions_forget(struct actions *a, const void *arg);
/* At exit, after the router is gone: what was in progress. */
void actions_shutdown(struct actions *a);
/* Hand a held or operator-down host to poolmond, which brings it up once
 * healthy (the caller asks for its recheck). 0 (err holds a note) or
 * -errno with err set. */
int actions_release(struct actions *a, const char *ip, char *err,
    size_t errlen);

#endif
