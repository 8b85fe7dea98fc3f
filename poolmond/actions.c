/*
 * Actions after a scan. policy.c decides what each backend needs; this
 * file asks the router whether it can act now (a director's ring synced:
 * commands sent to an unsynced ring hang for 30 s; a database that takes
 * writes), then asks it to take a backend down and flush it, to flush it,
 * or to bring it up (router.h: an enum, not a protocol), and records
 * ownership in the state file: each down as an intent before it is sent.
 * Commands go one at a time, all within one --timeout per scan; anything
 * but OK is logged and retried at the next scan.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"

#include "fleet.h"
#include "hooks.h"
#include "log.h"
#include "metrics.h"
#include "owner.h"
#include "util.h"

/* The journal's fields of a line about host (log.h). */
#define EV(h, e, r) \
	(&(struct log_fields){ .host = (h), .event = (e), .reason = (r) })

/*
 * The end of an action's log line in a fleet: the verdicts that justified
 * it, " (N of M monitors)"; "" alone.
 */
static const char *
votes_of(const struct backend *b, char *buf, size_t len)
{
	if (!b->fleet_judged)
		return "";
	snprintf(buf, len, " (%u of %u monitors)", b->fleet_votes,
	    b->fleet_voters);
	return buf;
}

/* For log lines: the failure reason, never NULL. */
static const char *
reason_of(const struct backend *b)
{
	return b->reason != NULL ? b->reason : "failed";
}

/* An action (or, in dry-run, what would be one): the change hook's. */
static void
changed(struct actions *a, const char *event, const char *ip,
    const char *reason, const char *result, bool dry_run)
{
	const struct backend *b = pool_find(a->pool, ip);
	const struct pool_event ev = { .event = event, .host = ip,
	    .reason = reason, .result = result, .dry_run = dry_run };

	event_emit(&a->events, &ev);
	hooks_run(a->hooks, event, ip, b != NULL ? b->dh.tag : "", reason,
	    dry_run);
}

/*
 * Test hook only: with POOLMON_TEST_CRASH_AT=after-intent, after-ok or
 * before-confirm in its environment, poolmond kills itself there, as a
 * kill -9 (watchdog, OOM killer) would, so that tests can check nothing
 * is lost at that point of a batch. Never set in production.
 */
static void
crash_point(const char *where)
{
	const char *at = getenv("POOLMON_TEST_CRASH_AT");

	if (at != NULL && strcmp(at, where) == 0) {
		log_warnx("test hook: POOLMON_TEST_CRASH_AT=%s: killed", where);
		raise(SIGKILL);
	}
}

/* The metric and event names of what a command did. */
static enum metrics_action
metric_of(enum router_cmd cmd)
{
	switch (cmd) {
	case ROUTER_DOWN:
	case ROUTER_DOWN_FLUSH:
		return METRICS_ACTION_DOWN;
	case ROUTER_FLUSH:
		return METRICS_ACTION_FLUSH;
	case ROUTER_UP:
		break;
	}
	return METRICS_ACTION_UP;
}

static const char *
event_of(enum router_cmd cmd)
{
	switch (metric_of(cmd)) {
	case METRICS_ACTION_DOWN: return "down";
	case METRICS_ACTION_FLUSH: return "flush";
	default: return "up";
	}
}

/* What went wrong, in a line: a router's error, or its reply. */
static const char *
failure_of(const struct router_result *res)
{
	if (res->error < 0)
		return res->err;
	return res->reply == ROUTER_REPLY_OTHER && res->line != NULL ?
	    res->line : router_reply_str(res->reply);
}

/* How a command ended: true only for OK; logs every other outcome, and
 * counts each (poolmon_actions_total). */
static bool
cmd_ok(struct actions *a, enum router_cmd cmd, const char *ip,
    const struct router_result *res)
{
	bool ok = res->error == 0 && res->reply == ROUTER_REPLY_OK;
	const char *what = res->what != NULL ? res->what :
	    router_cmd_str(cmd);
	struct pool_event ev = { .host = ip, .event = event_of(cmd) };

	if (cmd == ROUTER_FLUSH)
		metrics_count_action(a->metrics, METRICS_ACTION_FLUSH,
		    ok && res->flushed);
	else
		metrics_count_action(a->metrics, metric_of(cmd), ok);
	if (ok && cmd == ROUTER_DOWN_FLUSH)
		metrics_count_action(a->metrics, METRICS_ACTION_FLUSH,
		    res->flushed);
	if (!ok) {
		/* What went wrong, for poolmonctl watch; OKs say it later. */
		ev.result = failure_of(res);
		event_emit(&a->events, &ev);
	}
	if (res->error < 0 && res->unreachable)
		log_warnx("%s not sent: %s unreachable: %s; retrying at the "
		    "next scan", what, router_kind_str(router_kind(a->router)),
		    res->err);
	else if (res->error < 0)
		log_warnx("%s %s: %s; retrying at the next scan", what, ip,
		    res->err);
	else if (res->reply == ROUTER_REPLY_CONFLICT)
		log_warnx("%s %s: %s%s%s: left alone", what, ip,
		    router_reply_str(res->reply), res->line != NULL ? ": " : "",
		    res->line != NULL ? res->line : "");
	else if (res->reply == ROUTER_REPLY_OTHER)
		log_warnx("%s %s: %s replied '%s'; retrying at the next scan",
		    what, ip, router_kind_str(router_kind(a->router)),
		    res->line != NULL ? res->line : "");
	else if (!ok)
		log_warnx("%s %s: %s; retrying at the next scan", what, ip,
		    router_reply_str(res->reply));
	return ok;
}

enum gate {
	GATE_OPEN,
	GATE_CLOSED,		/* ring not synced, database read-only */
	GATE_FAILED,		/* unreachable, or the question failed */
};

/*
 * The gate, asked before acting: a director whose ring is not synced
 * makes commands wait up to 30 s, a database that takes no writes takes
 * none of ours. Every action waits until it opens again.
 */
static const char *
gate_name(const struct actions *a)
{
	if (a->view->gate_unknown || a->view->down)
		return "unknown";
	if (router_kind(a->router) == ROUTER_DIRECTOR)
		return a->view->can_act ? "synced" : "not synced";
	return a->view->act_state[0] != '\0' ? a->view->act_state :
	    a->view->can_act ? "read-write" : "read-only";
}

static enum gate gate_update(struct actions *a,
    const struct router_result *res);

/* The gate, and its changes for poolmonctl watch. */
static enum gate
gate(struct actions *a, const struct router_result *res)
{
	char before[64];
	enum gate g;
	struct pool_event ev = { .event = "ring",
	    .reason = res->error < 0 ? res->err : res->act_state };

	str_copy(before, gate_name(a), sizeof(before));
	g = gate_update(a, res);
	ev.detail = gate_name(a);
	if (strcmp(before, ev.detail) != 0)
		event_emit(&a->events, &ev);
	return g;
}

static enum gate
gate_update(struct actions *a, const struct router_result *res)
{
	const char *what = res->what != NULL ? res->what : "the gate";
	bool director = router_kind(a->router) == ROUTER_DIRECTOR;

	if (res->error < 0 && res->unreachable) {
		log_warnx("%s not sent: %s unreachable: %s; retrying at the "
		    "next scan", what, router_kind_str(router_kind(a->router)),
		    res->err);
		a->view->gate_unknown = true;
		return GATE_FAILED;
	}
	if (res->error < 0) {
		log_warnx("%s: %s; deferring actions to the next scan", what,
		    res->err);
		a->view->gate_unknown = true;
		return GATE_FAILED;
	}
	a->view->can_act = res->can_act;
	a->view->gate_unknown = false;
	str_copy(a->view->act_state, res->act_state != NULL ?
	    res->act_state : "", sizeof(a->view->act_state));
	if (a->fleet != NULL && res->nmembers > 0)
		fleet_set_ring(a->fleet, res->members, res->nmembers);
	if (!res->can_act) {
		if (!a->view->gate_closed_noted && director)
			log_warnx("director ring not synced (%s): deferring "
			    "actions until it is", a->view->act_state);
		else if (!a->view->gate_closed_noted)
			log_warnx("%s %s cannot act now (%s): deferring "
			    "actions until it can",
			    router_kind_str(router_kind(a->router)),
			    a->router->target, a->view->act_state);
		a->view->gate_closed_noted = true;
		return GATE_CLOSED;
	}
	if (a->view->gate_closed_noted && director)
		log_info("director ring synced again: acting on the pool");
	else if (a->view->gate_closed_noted)
		log_info("%s %s can act again (%s): acting on the pool",
		    router_kind_str(router_kind(a->router)),
		    a->router->target, a->view->act_state);
	a->view->gate_closed_noted = false;
	return GATE_OPEN;
}

/*
 * A command this scan still owes b: not one that failed this scan (tried
 * again at the next), nor one dry-run has said it would send.
 */
static bool
owed(const struct actions *a, const struct backend *b)
{
	return b->action != ACTION_NONE && b->skip_scan != a->scan_id;
}

static bool
any_action(const struct actions *a)
{
	size_t i;

	for (i = 0; i < a->pool->n; i++)
		if (owed(a, &a->pool->backends[i]))
			return true;
	return false;
}

/* The guard coming on or going off, for poolmonctl watch. */
static void
note_guard(struct actions *a)
{
	bool on = a->outcome.all_failed || a->outcome.guard_active;
	struct pool_event ev = { .event = "guard", .detail = on ? "on" : "off",
	    .dry_run = a->cfg->dry_run };

	if (on == a->guard_on)
		return;
	a->guard_on = on;
	if (on)
		ev.reason = a->outcome.all_failed ? "every backend failed" :
		    "--max-down reached";
	event_emit(&a->events, &ev);
}

static void
log_guard(struct actions *a)
{
	char spared[1024];
	size_t i, off = 0;

	spared[0] = '\0';
	for (i = 0; i < a->pool->n; i++)
		if (a->pool->backends[i].spared)
			changed(a, "spared", a->pool->backends[i].dh.ip,
			    reason_of(&a->pool->backends[i]), NULL,
			    a->cfg->dry_run);
	for (i = 0; i < a->pool->n && off < sizeof(spared); i++) {
		int n;

		if (!a->pool->backends[i].spared)
			continue;
		n = snprintf(spared + off, sizeof(spared) - off, "%s%s",
		    off > 0 ? " " : "", a->pool->backends[i].dh.ip);
		if (n > 0)
			off += (size_t)n;
	}
	if (a->outcome.all_failed)
		log_warnx_f(EV(NULL, "spared", NULL), "every backend failed "
		    "this scan: assuming a fault "
		    "on poolmond's side (network, DNS, credentials); taking "
		    "none down: %s", spared);
	else if (a->outcome.guard_active)
		log_warnx_f(EV(NULL, "spared", NULL), "pool guard: "
		    "--max-down=%d%% reached; sparing %zu "
		    "failed hosts: %s", a->cfg->max_down_pct, a->outcome.spared,
		    spared);
	note_guard(a);
}

/* ------------------------------------------------------------------ */
/* A scan's batch: one command at a time, on the event loop */

struct action_batch {
	struct actions *a;
	int64_t deadline;	/* monotonic ms, for the whole batch */
	size_t next;		/* the backend acted on */
	enum router_cmd cmd;	/* in flight, while sending */
	bool sending;
	bool state_changed;
};

static void batch_next(struct action_batch *ab);

static void
set_owner(struct action_batch *ab, struct backend *b, enum owner owner)
{
	struct state *st = ab->a->state;

	if (b->owner == owner)
		return;
	b->owner = owner;
	if (owner == OWNER_POOLMOND)
		(void)state_set(st, b->dh.ip, OWNER_POOLMOND, NULL);
	else if (owner != OWNER_HOLD)
		(void)state_remove(st, b->dh.ip);
	ab->state_changed = true;
}

/*
 * The intents could not be written: no down goes without its intent
 * on disk (after a crash the host would be the operator's for good). The
 * hosts stay as they were and the next scan tries again.
 */
static void
intents_lost(struct action_batch *ab, const bool *was_owned, int err)
{
	struct actions *a = ab->a;
	struct state_entry *e;
	struct backend *b;
	size_t i;

	for (i = 0; i < a->pool->n; i++) {
		b = &a->pool->backends[i];
		if (b->action != ACTION_DOWN)
			continue;
		b->action = ACTION_NONE;
		b->flush_pending = false;
		if (!was_owned[i]) {
			b->owner = OWNER_NONE;
			(void)state_remove(a->state, b->dh.ip);
		} else if ((e = state_find(a->state, b->dh.ip)) != NULL)
			e->pending = false;
		log_warnx_f(EV(b->dh.ip, "down", reason_of(b)), "%s down not "
		    "sent: its intent cannot be written to the state file %s "
		    "(%s); retrying at the next scan", b->dh.ip,
		    a->state->path, strerror(-err));
		changed(a, "down", b->dh.ip, reason_of(b), "not sent: state "
		    "file not writable", false);
	}
	ab->state_changed = false;
}

/*
 * Every down of the batch becomes an intent, written once before
 * any is sent: a kill in the middle of the batch loses no host that
 * poolmond took down. scan.c resolves an intent left behind. False when
 * they could not be written: then nothing is sent.
 */
static bool
record_intents(struct action_batch *ab)
{
	struct actions *a = ab->a;
	struct state_entry *e;
	struct backend *b;
	bool any = false, *was_owned;
	size_t i;
	int r;

	if (a->cfg->dry_run)
		return true;
	if ((was_owned = calloc(a->pool->n + 1, sizeof(*was_owned))) == NULL) {
		/* Nothing recorded yet: nothing may be sent. */
		for (i = 0; i < a->pool->n; i++)
			if (a->pool->backends[i].action == ACTION_DOWN)
				a->pool->backends[i].action = ACTION_NONE;
		log_warnx("out of memory: no backend taken down this scan");
		return false;
	}
	for (i = 0; i < a->pool->n; i++) {
		b = &a->pool->backends[i];
		if (b->action != ACTION_DOWN)
			continue;
		was_owned[i] = b->owner == OWNER_POOLMOND;
		/* Owing a flush before the down is sent: a reply lost to a
		 * ring-sync timeout may still have been applied. */
		b->flush_pending = true;
		set_owner(ab, b, OWNER_POOLMOND);
		if ((e = state_find(a->state, b->dh.ip)) != NULL &&
		    e->owner == OWNER_POOLMOND) {
			e->pending = true;
			any = true;
		}
	}
	r = any ? owner_state_save(a->state) : 0;
	if (r < 0)
		intents_lost(ab, was_owned, r);
	free(was_owned);
	if (!any || r < 0)
		return r == 0;
	ab->state_changed = false;
	/* The fleet learns whose the host is before its directors show it
	 * down, and never takes it for the operator's. */
	if (a->fleet != NULL)
		fleet_records_changed(a->fleet);
	crash_point("after-intent");
	return true;
}

/* The down's OK: the intent is confirmed, written at the batch's end. */
static void
confirm_intent(struct action_batch *ab, const struct backend *b)
{
	struct state_entry *e = state_find(ab->a->state, b->dh.ip);

	if (e != NULL && e->owner == OWNER_POOLMOND && e->pending) {
		e->pending = false;
		ab->state_changed = true;
	}
}

static void batch_start(struct actions *a);

/*
 * A batch's end: the confirmations written; then the next batch, for
 * what was decided meanwhile, or, with none, whoever waits for the
 * actions to be done.
 */
static void
batch_end(struct action_batch *ab)
{
	struct actions *a = ab->a;
	actions_done_fn *idle = a->idle;

	if (ab->state_changed) {
		crash_point("before-confirm");
		(void)owner_state_save(a->state);
	}
	a->batch = NULL;
	free(ab);
	/* What came while it was on its way is judged now. */
	if (a->judge_pending)
		actions_judge(a, a->scan_id, a->downs_held);
	else
		batch_start(a);
	if (a->batch != NULL || idle == NULL)
		return;
	a->idle = NULL;
	idle(a->idle_arg);
}

/* A held host's flush, as its hold asked. */
static bool
hold_flushes(const struct actions *a, const struct backend *b)
{
	const struct state_entry *e = state_find(a->state, b->dh.ip);

	return e != NULL && e->owner == OWNER_HOLD && e->hold.flush;
}

/*
 * The command b needs, into *cmd: false for none (nothing to do, or
 * dry-run, which says what it would have done).
 */
static bool
next_command(struct action_batch *ab, struct backend *b,
    enum router_cmd *cmd)
{
	struct actions *a = ab->a;
	bool dry = a->cfg->dry_run;
	char votes[48];

	/* Said once a scan, as a scan's decision. */
	if (dry)
		b->skip_scan = a->scan_id;
	switch (b->action) {
	case ACTION_DOWN:
		*cmd = ROUTER_DOWN_FLUSH;
		if (!dry)
			return true;
		log_info_f(EV(b->dh.ip, "down", reason_of(b)),
		    "dry-run: would mark %s down: %s%s", b->dh.ip,
		    reason_of(b), votes_of(b, votes, sizeof(votes)));
		changed(a, "down", b->dh.ip, reason_of(b), NULL, true);
		return false;
	case ACTION_FLUSH:
		*cmd = ROUTER_FLUSH;
		return !dry;
	case ACTION_UP:
		*cmd = ROUTER_UP;
		if (!dry)
			return true;
		log_info_f(EV(b->dh.ip, "up", NULL),
		    "dry-run: would mark %s up: all %zu checks passed%s%s",
		    b->dh.ip, a->cfg->nports, b->owner == OWNER_POOLMOND ? "" :
		    " (--adopt-down)", votes_of(b, votes, sizeof(votes)));
		changed(a, "up", b->dh.ip, NULL, NULL, true);
		return false;
	case ACTION_HOLD_DOWN:
		*cmd = hold_flushes(a, b) ? ROUTER_DOWN_FLUSH : ROUTER_DOWN;
		if (!dry)
			return true;
		log_info_f(EV(b->dh.ip, "hold", NULL),
		    "dry-run: would mark held %s down again", b->dh.ip);
		changed(a, "hold", b->dh.ip, NULL, NULL, true);
		return false;
	case ACTION_NONE:
		break;
	}
	return false;
}

/* The batch's --timeout is spent: the rest waits for the next scan. */
static void
defer_rest(struct action_batch *ab)
{
	struct actions *a = ab->a;
	size_t i, n = 0;

	for (i = ab->next; i < a->pool->n; i++)
		if (a->pool->backends[i].action != ACTION_NONE)
			n++;
	log_warnx("%s: %zu actions not done within the --timeout of %d s; "
	    "deferred to the next scan",
	    router_kind_str(router_kind(a->router)), n, a->cfg->timeout_s);
	ab->next = a->pool->n;
	/* A router that stalls costs one --timeout a scan, not one a
	 * batch. */
	a->gate_failed_scan = a->scan_id;
}

/* A flush done, or still owed (the down stands; retried next scan). */
static void
flush_result(struct actions *a, const char *ip, struct backend *b,
    const struct router_result *res)
{
	if (res->flushed) {
		if (b != NULL)
			b->flush_pending = false;
		log_info_f(EV(ip, "flush", NULL), "%s flushed", ip);
		changed(a, "flush", ip, NULL, "ok", false);
		return;
	}
	if (b != NULL) {
		b->flush_pending = true;
		/* Owed: tried again at the next scan, not at once. */
		b->skip_scan = a->scan_id;
	}
	log_warnx_f(EV(ip, "flush", res->flush_err), "%s down, but not "
	    "flushed: %s; retrying at the next scan", ip, res->flush_err !=
	    NULL ? res->flush_err : "failed");
	changed(a, "flush", ip, NULL, res->flush_err != NULL ?
	    res->flush_err : "failed", false);
}

/*
 * A host brought up while a hold came (from poolmonctl, or a peer): the
 * hold wins, and the host goes down again at once. True: send that.
 */
static bool
up_but_held(struct actions *a, struct backend *b)
{
	log_info_f(EV(b->dh.ip, "hold", NULL), "%s was brought up as a hold "
	    "came: down again", b->dh.ip);
	b->flush_pending = false;
	b->action = ACTION_HOLD_DOWN;
	changed(a, "up", b->dh.ip, NULL, "ok", false);
	return true;
}

/* After OK: the backend's new state. True: b needs another command. */
static bool
command_done(struct action_batch *ab, struct backend *b,
    const struct router_result *res)
{
	struct actions *a = ab->a;
	char votes[48];

	switch (b->action) {
	case ACTION_DOWN:
		crash_point("after-ok");
		log_info_f(EV(b->dh.ip, "down", reason_of(b)), "%s down: %s%s",
		    b->dh.ip, reason_of(b), votes_of(b, votes,
		    sizeof(votes)));
		changed(a, "down", b->dh.ip, reason_of(b), "ok", false);
		pool_commanded(b, false);
		confirm_intent(ab, b);
		flush_result(a, b->dh.ip, b, res);
		return false;
	case ACTION_FLUSH:
		flush_result(a, b->dh.ip, b, res);
		return false;
	case ACTION_UP:
		pool_commanded(b, true);
		/* Its record is what counts now, not the one decided on. */
		if (b->owner == OWNER_HOLD)
			return up_but_held(a, b);
		log_info_f(EV(b->dh.ip, "up", NULL),
		    "%s up: all %zu checks passed%s%s", b->dh.ip,
		    a->cfg->nports, b->owner == OWNER_POOLMOND ? "" :
		    " (--adopt-down)", votes_of(b, votes, sizeof(votes)));
		changed(a, "up", b->dh.ip, NULL, "ok", false);
		b->flush_pending = false;
		set_owner(ab, b, OWNER_NONE);
		return false;
	case ACTION_HOLD_DOWN:
		log_info_f(EV(b->dh.ip, "hold", NULL),
		    "%s is held for maintenance but was up: down again",
		    b->dh.ip);
		changed(a, "down", b->dh.ip, "held for maintenance", "ok", false);
		pool_commanded(b, false);
		if (ab->cmd == ROUTER_DOWN_FLUSH)
			flush_result(a, b->dh.ip, b, res);
		return false;
	case ACTION_NONE:
		break;
	}
	return false;
}

static void holds_after_batch(struct actions *a, const char *ip, bool down,
    bool flushed);

/* A command that takes its host down (and maybe flushes it). */
static bool
takes_down(enum router_cmd cmd)
{
	return cmd == ROUTER_DOWN || cmd == ROUTER_DOWN_FLUSH;
}

static void
batch_cmd_done(const struct router_result *res, void *arg)
{
	struct action_batch *ab = arg;
	struct backend *b = &ab->a->pool->backends[ab->next];
	bool downing = takes_down(ab->cmd);

	ab->sending = false;
	if (!cmd_ok(ab->a, ab->cmd, b->dh.ip, res)) {
		/* Tried again at the next scan, not at once. */
		b->skip_scan = ab->a->scan_id;
		b->action = ACTION_NONE;
		/* Unreachable, or stalled past its deadline: so is it for
		 * every other command now, until the next scan. */
		if (res->unreachable || res->error == -ETIMEDOUT) {
			ab->a->gate_failed_scan = ab->a->scan_id;
			ab->next = ab->a->pool->n;
		} else
			ab->next++;
	} else if (!command_done(ab, b, res)) {
		/* Done: owed nothing until judged again. */
		b->action = ACTION_NONE;
		ab->next++;
	}
	/* Holds that waited for this down go on, before the next command. */
	if (downing)
		holds_after_batch(ab->a, b->dh.ip, !b->dh.up, ab->cmd ==
		    ROUTER_DOWN_FLUSH && res->flushed);
	batch_next(ab);
}

/*
 * Decided again right before it is sent: a hold that came since the
 * scan's decision (from poolmonctl, or a peer) wins over it. A held
 * host's "down again" is dropped when the hold's own commands are on
 * their way (its down is its monitor's to send), have taken the host
 * down since, or the hold was released since.
 */
static bool hold_in_flight(const struct actions *a, const char *ip);

static bool
overtaken_by_hold(struct actions *a, struct backend *b)
{
	if (b->action == ACTION_HOLD_DOWN) {
		if (!hold_in_flight(a, b->dh.ip) && b->dh.up &&
		    b->owner == OWNER_HOLD)
			return false;
		b->action = ACTION_NONE;
		return true;
	}
	if (b->owner != OWNER_HOLD || b->action == ACTION_NONE)
		return false;
	log_info_f(EV(b->dh.ip, "hold", NULL), "%s is held now: its %s is "
	    "not sent", b->dh.ip, action_str(b->action));
	b->action = ACTION_NONE;
	return true;
}

static void
batch_next(struct action_batch *ab)
{
	struct actions *a = ab->a;
	struct backend *b;
	enum router_cmd cmd;
	int r;

	for (; ab->next < a->pool->n; ab->next++) {
		b = &a->pool->backends[ab->next];
		if (!owed(a, b) || overtaken_by_hold(a, b) ||
		    !next_command(ab, b, &cmd))
			continue;
		if (now_ms() >= ab->deadline) {
			defer_rest(ab);
			break;
		}
		r = router_command(a->router, cmd, b->dh.ip, ab->deadline,
		    batch_cmd_done, ab);
		if (r == 0) {
			ab->cmd = cmd;
			ab->sending = true;
			return;
		}
		log_warnx("%s %s: %s; retrying at the next scan",
		    router_cmd_str(cmd), b->dh.ip, strerror(-r));
	}
	batch_end(ab);
}

static void
batch_gate_done(const struct router_result *res, void *arg)
{
	struct action_batch *ab = arg;

	if (gate(ab->a, res) != GATE_OPEN) {
		/* Asked again at the next scan, not at once. */
		ab->a->gate_failed_scan = ab->a->scan_id;
		batch_end(ab);
		return;
	}
	/* Without their intents, no down: the rest goes on. */
	(void)record_intents(ab);
	batch_next(ab);
}

static void
gate_refreshed(const struct router_result *res, void *arg)
{
	(void)gate(arg, res);
}

void
actions_gate_refresh(struct actions *a)
{
	int r = router_gate(a->router, 0, gate_refreshed, a);

	if (r < 0)
		log_warnx("%s: cannot ask whether it can act: %s",
		    router_kind_str(router_kind(a->router)), strerror(-r));
}

bool
actions_busy(const struct actions *a)
{
	return a->batch != NULL;
}

/*
 * Commands for what is decided and owed, one batch at a time: the gate,
 * the intents, then the commands under one deadline. Not while the gate
 * failed this scan: asked again at the next.
 */
static void
batch_start(struct actions *a)
{
	struct action_batch *ab;

	if (a->batch != NULL || a->gate_failed_scan == a->scan_id ||
	    !any_action(a))
		return;
	if ((ab = calloc(1, sizeof(*ab))) == NULL) {
		log_warnx("out of memory: no actions now; retrying at the "
		    "next scan");
		a->gate_failed_scan = a->scan_id;
		return;
	}
	ab->a = a;
	/* One deadline for the whole batch: a router that stalls costs one
	 * --timeout, whatever the number of actions. */
	ab->deadline = now_ms() + (int64_t)a->cfg->timeout_s * 1000;
	a->batch = ab;
	if (router_gate(a->router, ab->deadline, batch_gate_done, ab) < 0) {
		log_warnx("%s: cannot ask whether it can act: out of memory; "
		    "retrying at the next scan",
		    router_kind_str(router_kind(a->router)));
		a->gate_failed_scan = a->scan_id;
		a->batch = NULL;
		free(ab);
	}
}

/*
 * Alone, a backend goes down or up on a result of this scan, as it
 * arrives, not on the last scan's while its check is still to come (the
 * fleet's verdicts are their own: they change as peers' offers come).
 * Holds and owed flushes are not a result's.
 */
static void
keep_this_scans(struct actions *a)
{
	struct backend *b;
	size_t i;

	for (i = 0; i < a->pool->n; i++) {
		b = &a->pool->backends[i];
		if ((b->action == ACTION_DOWN || b->action == ACTION_UP) &&
		    !b->fleet_judged && b->result_scan != a->scan_id)
			b->action = ACTION_NONE;
	}
}

/*
 * Every result of the scan so far failed, and more are to come: perhaps
 * the fault is poolmond's own (its network, DNS, credentials), which the
 * scan's end will tell. Until a backend passes, no down goes out.
 */
static void
hold_downs(struct actions *a)
{
	size_t i;

	for (i = 0; i < a->pool->n; i++)
		if (a->pool->backends[i].action == ACTION_DOWN)
			a->pool->backends[i].action = ACTION_NONE;
}

void
actions_judge(struct actions *a, uint32_t scan_id, bool all_failed_so_far)
{
	struct backend *b;
	size_t i;

	a->scan_id = scan_id;
	/* Each new result counts once toward --fall/--rise. */
	for (i = 0; i < a->pool->n; i++) {
		b = &a->pool->backends[i];
		if (b->fresh) {
			policy_count(b);
			b->fresh = false;
		}
	}
	a->downs_held = all_failed_so_far;
	/* While a batch is on its way, its backends keep their actions:
	 * the next judgement comes when it ends. */
	if (a->batch != NULL) {
		a->judge_pending = true;
		return;
	}
	a->judge_pending = false;
	/* In a fleet: the fleet's verdicts, and which backends are ours. */
	if (a->fleet != NULL)
		(void)fleet_judge(a->fleet);
	policy_decide(&a->policy, a->pool->backends, a->pool->n, &a->outcome);
	keep_this_scans(a);
	if (all_failed_so_far)
		hold_downs(a);
	note_guard(a);
	batch_start(a);
}

void
actions_scan_done(struct actions *a, uint32_t scan_id,
    actions_done_fn *done, void *arg)
{
	actions_judge(a, scan_id, false);
	/* Said once a scan, not at every judgement. */
	log_guard(a);
	if (a->batch == NULL) {
		done(arg);
		return;
	}
	a->idle = done;
	a->idle_arg = arg;
}

static int
save_state(struct actions *a, char *err, size_t errlen)
{
	int r = owner_state_save(a->state);

	if (r < 0)
		return err_set(err, errlen, r, "cannot write the state file "
		    "%s: %s", a->state->path, strerror(-r));
	return 0;
}


/* ------------------------------------------------------------------ */
/* Maintenance holds */

struct hold_op {
	struct hold_op *next;
	struct actions *a;
	char ip[INET6_ADDRSTRLEN];
	bool flush;
	bool after_batch;	/* waits for the batch's down of its host */
	int64_t deadline;	/* monotonic ms, for all its commands */
	enum router_cmd cmd;	/* in flight */
	actions_hold_fn *done;	/* NULL: nobody waits for the answer */
	void *arg;
};

static bool
hold_in_flight(const struct actions *a, const char *ip)
{
	const struct hold_op *op;

	for (op = a->holds; op != NULL; op = op->next)
		if (strcmp(op->ip, ip) == 0)
			return true;
	return false;
}

static void __attribute__((format(printf, 3, 4)))
hold_finish(struct hold_op *op, int r, const char *fmt, ...)
{
	struct hold_op **pp;
	char err[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, sizeof(err), fmt, ap);
	va_end(ap);
	for (pp = &op->a->holds; *pp != NULL; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	if (op->done != NULL)
		op->done(op->arg, r, err);
	free(op);
}

static void hold_cmd_done(const struct router_result *res, void *arg);

static void
hold_send(struct hold_op *op, enum router_cmd cmd)
{
	int r;

	op->cmd = cmd;
	r = router_command(op->a->router, cmd, op->ip, op->deadline,
	    hold_cmd_done, op);
	if (r < 0)
		hold_finish(op, r, "hold recorded, but the %s was not sent: "
		    "%s", router_cmd_str(cmd), strerror(-r));
}

static void
hold_cmd_done(const struct router_result *res, void *arg)
{
	struct hold_op *op = arg;
	struct backend *b = pool_find(op->a->pool, op->ip);
	bool ok = cmd_ok(op->a, op->cmd, op->ip, res);

	if (!ok) {
		hold_finish(op, -EIO, "hold recorded, but the %s failed (see "
		    "the log): retried at the next scan",
		    router_cmd_str(op->cmd));
		return;
	}
	if (b != NULL && op->cmd != ROUTER_FLUSH)
		pool_commanded(b, false);
	if (op->cmd == ROUTER_DOWN) {
		hold_finish(op, 0, "%s", "");
		return;
	}
	flush_result(op->a, op->ip, b, res);
	if (res->flushed)
		hold_finish(op, 0, "%s", "");
	else
		hold_finish(op, -EIO, "held down, but not flushed: %s",
		    res->flush_err != NULL ? res->flush_err : "failed");
}

/* The batch has b's HOST-DOWN on its way (and its flush, maybe). */
static bool
batch_downing(const struct actions *a, const struct backend *b)
{
	const struct action_batch *ab = a->batch;

	return ab != NULL && ab->sending && ab->next < a->pool->n &&
	    &a->pool->backends[ab->next] == b && takes_down(ab->cmd);
}

/*
 * The batch's down of ip ended: holds that waited for it are done, or
 * send what it did not do (the down, when it failed; the flush asked
 * for, when it made none).
 */
static void
holds_after_batch(struct actions *a, const char *ip, bool down, bool flushed)
{
	struct hold_op *op;

	for (;;) {
		for (op = a->holds; op != NULL; op = op->next)
			if (op->after_batch && strcmp(op->ip, ip) == 0)
				break;
		if (op == NULL)
			return;
		op->after_batch = false;
		if (!down)
			hold_send(op, op->flush ? ROUTER_DOWN_FLUSH :
			    ROUTER_DOWN);
		else if (op->flush && !flushed)
			hold_send(op, ROUTER_FLUSH);
		else
			hold_finish(op, 0, "%s", "");
	}
}

static void
hold_gate_done(const struct router_result *res, void *arg)
{
	struct hold_op *op = arg;
	struct backend *b;
	enum gate g = gate(op->a, res);

	if (g != GATE_OPEN) {
		hold_finish(op, -EAGAIN, "hold recorded, but the %s %s: "
		    "poolmond marks it down at a later scan",
		    router_kind_str(router_kind(op->a->router)),
		    g == GATE_FAILED ? "is unreachable" : "cannot act now");
		return;
	}
	/* The director may answer the gate before the batch's down of the
	 * same host has ended (its flush comes after): one down, not two. */
	if ((b = pool_find(op->a->pool, op->ip)) != NULL &&
	    batch_downing(op->a, b))
		op->after_batch = true;
	else if (b != NULL && b->dh.up)
		hold_send(op, op->flush ? ROUTER_DOWN_FLUSH : ROUTER_DOWN);
	else if (op->flush)
		hold_send(op, ROUTER_FLUSH);
	else
		hold_finish(op, 0, "%s", "");
}

int
actions_hold(struct actions *a, const char *ip, const char *reason,
    uid_t uid, bool do_flush, actions_hold_fn *done, void *arg, char *err,
    size_t errlen)
{
	struct hold_info hold = { .uid = uid, .since = time(NULL),
	    .flush = do_flush };
	struct backend *b = pool_find(a->pool, ip);
	struct hold_op *op;
	int r;

	if (b == NULL)
		return err_set(err, errlen, -ENOENT, "%s is not in the "
		    "%s's host list", ip,
		    router_kind_str(router_kind(a->router)));
	if (a->cfg->dry_run)
		return err_set(err, errlen, -EPERM, "poolmond is in dry-run: "
		    "it changes nothing, so it takes no hold ('poolmonctl "
		    "dry-run off' first)");
	str_copy(hold.reason, reason != NULL ? reason : "",
	    sizeof(hold.reason));
	if ((r = state_set(a->state, b->dh.ip, OWNER_HOLD, &hold)) < 0)
		return err_set(err, errlen, r, "cannot record the hold: %s",
		    strerror(-r));
	b->owner = OWNER_HOLD;
	b->flush_pending = false;
	log_info_f(EV(b->dh.ip, "hold", hold.reason),
	    "%s held for maintenance by uid %lu%s%s%s", b->dh.ip,
	    (unsigned long)uid, hold.reason[0] != '\0' ? " (" : "",
	    hold.reason, hold.reason[0] != '\0' ? ")" : "");
	changed(a, "hold", b->dh.ip, hold.reason, NULL, false);
	if ((r = save_state(a, err, errlen)) < 0)
		return r;
	/* Kept by the whole fleet, which hears of it at once. */
	if (a->fleet != NULL)
		fleet_records_changed(a->fleet);
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return err_set(err, errlen, -EAGAIN, "hold recorded, but out "
		    "of memory: poolmond marks it down at a later scan");
	/* Answered within one --timeout, queued commands included. */
	op->deadline = now_ms() + (int64_t)a->cfg->timeout_s * 1000;
	if (router_gate(a->router, op->deadline, hold_gate_done, op) < 0) {
		free(op);
		return err_set(err, errlen, -EAGAIN, "hold recorded, but out "
		    "of memory: poolmond marks it down at a later scan");
	}
	op->a = a;
	str_copy(op->ip, b->dh.ip, sizeof(op->ip));
	op->flush = do_flush;
	op->done = done;
	op->arg = arg;
	op->next = a->holds;
	a->holds = op;
	err[0] = '\0';
	return 1;
}

void
actions_forget(struct actions *a, const void *arg)
{
	struct hold_op *op;

	for (op = a->holds; op != NULL; op = op->next)
		if (op->arg == arg)
			op->done = NULL;
}

void
actions_shutdown(struct actions *a)
{
	struct hold_op *op;

	/* The OKs received: the intents they confirm are kept. */
	if (a->batch != NULL && a->batch->state_changed)
		(void)owner_state_save(a->state);
	free(a->batch);
	a->batch = NULL;
	while ((op = a->holds) != NULL) {
		a->holds = op->next;
		free(op);
	}
}

int
actions_release(struct actions *a, const char *ip, char *err,
    size_t errlen)
{
	struct backend *b = pool_find(a->pool, ip);
	struct state_entry *e = state_find(a->state, ip);
	const char *was;
	int r;

	if (b == NULL && e == NULL)
		return err_set(err, errlen, -ENOENT, "%s is not in the "
		    "%s's host list", ip,
		    router_kind_str(router_kind(a->router)));
	if (a->cfg->dry_run)
		return err_set(err, errlen, -EPERM, "poolmond is in dry-run: "
		    "it changes nothing, so it releases nothing ('poolmonctl "
		    "dry-run off' first)");
	if (e == NULL && (b == NULL || b->owner != OWNER_OPERATOR))
		return err_set(err, errlen, -EINVAL, "%s is neither held nor "
		    "down by the operator: nothing to release", ip);
	/* A state the router keeps as the operator's is never changed by
	 * poolmond: the operator hands it over in the router itself. */
	if (b != NULL && e == NULL && b->dh.mark == ROUTER_MARK_OTHER)
		return err_set(err, errlen, -EPERM, "%s's state %d is the "
		    "operator's, which poolmond never changes: set it to %d "
		    "to hand the backend to poolmond", ip, b->dh.state,
		    ROUTER_STATE_POOLMON);
	was = e != NULL ? owner_str(e->owner) : "operator";
	if (e != NULL && e->owner == OWNER_POOLMOND)
		return err_set(err, errlen, 0, "%s is already poolmond's",
		    ip);
	/* Handed over: poolmond brings it up once healthy (--rise). */
	if ((r = state_set(a->state, ip, OWNER_POOLMOND, NULL)) < 0)
		return err_set(err, errlen, r, "cannot record the release: %s",
		    strerror(-r));
	if (b != NULL) {
		b->owner = OWNER_POOLMOND;
		b->operator_noted = false;
	}
	log_info_f(EV(ip, "release", NULL),
	    "%s released (was %s): poolmond brings it up when healthy",
	    ip, was);
	changed(a, "release", ip, NULL, NULL, false);
	if ((r = save_state(a, err, errlen)) < 0)
		return r;
	if (a->fleet != NULL)
		fleet_records_changed(a->fleet);
	return err_set(err, errlen, 0, "released (was %s)", was);
}
