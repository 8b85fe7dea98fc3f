/*
 * Director actions after a scan. policy.c decides what each backend needs;
 * this file asks the director whether its ring is synced (commands sent to
 * an unsynced ring hang for 30 s), then sends HOST-DOWN and, once that is
 * OK, HOST-FLUSH, or HOST-UP, and records ownership in the state file:
 * each HOST-DOWN as an intent before it is sent. Commands go one at a time
 * through the asynchronous director client, all within one --timeout per
 * scan; anything but OK is logged and retried at the next scan.
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

/* How a host command ended: true only for OK; logs every other outcome,
 * and counts each (poolmon_actions_total). */
static bool
cmd_ok(struct actions *a, const char *cmd, const char *ip,
    const struct director_result *res)
{
	bool ok = res->error == 0 && res->reply == DIRECTOR_REPLY_OK;
	struct pool_event ev = { .host = ip, .event =
	    strcmp(cmd, "HOST-DOWN") == 0 ? "down" :
	    strcmp(cmd, "HOST-UP") == 0 ? "up" : "flush" };

	metrics_count_action(a->metrics, cmd, ok);
	if (!ok) {
		/* What went wrong, for poolmonctl watch; OKs say it later. */
		ev.result = res->error < 0 ? res->err :
		    res->reply == DIRECTOR_REPLY_OTHER ? res->line :
		    director_reply_str(res->reply);
		event_emit(&a->events, &ev);
	}
	if (res->error < 0 && res->unreachable)
		log_warnx("%s not sent: director unreachable: %s; retrying "
		    "at the next scan", cmd, res->err);
	else if (res->error < 0)
		log_warnx("%s %s: %s; retrying at the next scan", cmd, ip,
		    res->err);
	else if (res->reply == DIRECTOR_REPLY_OTHER)
		log_warnx("%s %s: director replied '%s'; retrying at the "
		    "next scan", cmd, ip, res->line);
	else if (res->reply != DIRECTOR_REPLY_OK)
		log_warnx("%s %s: %s; retrying at the next scan", cmd, ip,
		    director_reply_str(res->reply));
	return ok;
}

enum gate {
	GATE_SYNCED,
	GATE_UNSYNCED,
	GATE_FAILED,		/* unreachable, or DIRECTOR-LIST failed */
};

/*
 * The ring-sync gate, from a DIRECTOR-LIST: commands to a director whose
 * ring is not synced wait up to 30 s. Every action waits until it is
 * synced again.
 */
static const char *
ring_name(const struct actions *a)
{
	if (a->view->ring_unknown || a->view->down)
		return "unknown";
	return a->view->ring_synced ? "synced" : "not synced";
}

static enum gate ring_gate_update(struct actions *a,
    const struct director_result *res);

/* The ring-sync gate, and its changes for poolmonctl watch. */
static enum gate
ring_gate(struct actions *a, const struct director_result *res)
{
	const char *before = ring_name(a);
	enum gate g = ring_gate_update(a, res);
	const struct pool_event ev = { .event = "ring",
	    .detail = ring_name(a), .reason = res->error < 0 ? res->err :
	    res->ring_state };

	if (strcmp(before, ev.detail) != 0)
		event_emit(&a->events, &ev);
	return g;
}

static enum gate
ring_gate_update(struct actions *a, const struct director_result *res)
{
	if (res->error < 0 && res->unreachable) {
		log_warnx("DIRECTOR-LIST not sent: director unreachable: %s; "
		    "retrying at the next scan", res->err);
		a->view->ring_unknown = true;
		return GATE_FAILED;
	}
	if (res->error < 0) {
		log_warnx("DIRECTOR-LIST: %s; deferring actions to the next "
		    "scan", res->err);
		a->view->ring_unknown = true;
		return GATE_FAILED;
	}
	a->view->ring_synced = res->synced;
	a->view->ring_unknown = false;
	if (a->fleet != NULL)
		fleet_set_ring(a->fleet, res->members, res->nmembers);
	if (!res->synced) {
		if (!a->view->ring_unsynced_noted)
			log_warnx("director ring not synced (%s): deferring "
			    "actions until it is", res->ring_state);
		a->view->ring_unsynced_noted = true;
		return GATE_UNSYNCED;
	}
	if (a->view->ring_unsynced_noted)
		log_info("director ring synced again: acting on the pool");
	a->view->ring_unsynced_noted = false;
	return GATE_SYNCED;
}

static bool
any_action(const struct actions *a)
{
	size_t i;

	for (i = 0; i < a->pool->n; i++)
		if (a->pool->backends[i].action != ACTION_NONE)
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

enum batch_step {
	STEP_FIRST,		/* the action's own command */
	STEP_FLUSH,		/* HOST-FLUSH after its HOST-DOWN's OK */
	STEP_NEXT,		/* this backend is done: on to the next */
};

struct action_batch {
	struct actions *a;
	actions_done_fn *done;
	void *done_arg;
	int64_t deadline;	/* monotonic ms, for the whole batch */
	size_t next;		/* the backend acted on */
	enum batch_step step;
	const char *cmd;	/* in flight */
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
 * The intents could not be written: no HOST-DOWN goes without its intent
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
 * Every HOST-DOWN of the batch becomes an intent, written once before
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
		log_warnx("out of memory: no HOST-DOWN this scan");
		return false;
	}
	for (i = 0; i < a->pool->n; i++) {
		b = &a->pool->backends[i];
		if (b->action != ACTION_DOWN)
			continue;
		was_owned[i] = b->owner == OWNER_POOLMOND;
		/* Owing a flush before HOST-DOWN is sent: a reply lost to a
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

/* HOST-DOWN's OK: the intent is confirmed, written at the batch's end. */
static void
confirm_intent(struct action_batch *ab, const struct backend *b)
{
	struct state_entry *e = state_find(ab->a->state, b->dh.ip);

	if (e != NULL && e->owner == OWNER_POOLMOND && e->pending) {
		e->pending = false;
		ab->state_changed = true;
	}
}

static void
batch_end(struct action_batch *ab)
{
	struct actions *a = ab->a;
	actions_done_fn *done = ab->done;
	void *done_arg = ab->done_arg;

	if (ab->state_changed) {
		crash_point("before-confirm");
		(void)owner_state_save(a->state);
	}
	a->batch = NULL;
	free(ab);
	done(done_arg);
}

/* The command b needs next, or NULL (nothing, or dry-run: logged). */
static const char *
next_command(struct action_batch *ab, struct backend *b)
{
	struct actions *a = ab->a;
	bool dry = a->cfg->dry_run;
	char votes[48];

	if (ab->step == STEP_FLUSH)
		return "HOST-FLUSH";
	switch (b->action) {
	case ACTION_DOWN:
		if (!dry)
			return "HOST-DOWN";
		log_info_f(EV(b->dh.ip, "down", reason_of(b)),
		    "dry-run: would mark %s down: %s%s", b->dh.ip,
		    reason_of(b), votes_of(b, votes, sizeof(votes)));
		changed(a, "down", b->dh.ip, reason_of(b), NULL, true);
		return NULL;
	case ACTION_FLUSH:
		return dry ? NULL : "HOST-FLUSH";
	case ACTION_UP:
		if (!dry)
			return "HOST-UP";
		log_info_f(EV(b->dh.ip, "up", NULL),
		    "dry-run: would mark %s up: all %zu checks passed%s%s",
		    b->dh.ip, a->cfg->nports, b->owner == OWNER_POOLMOND ? "" :
		    " (--adopt-down)", votes_of(b, votes, sizeof(votes)));
		changed(a, "up", b->dh.ip, NULL, NULL, true);
		return NULL;
	case ACTION_HOLD_DOWN:
		if (!dry)
			return "HOST-DOWN";
		log_info_f(EV(b->dh.ip, "hold", NULL),
		    "dry-run: would mark held %s down again", b->dh.ip);
		changed(a, "hold", b->dh.ip, NULL, NULL, true);
		return NULL;
	case ACTION_NONE:
		break;
	}
	return NULL;
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
	log_warnx("director: %zu actions not done within the --timeout of "
	    "%d s; deferred to the next scan", n, a->cfg->timeout_s);
	ab->next = a->pool->n;
}

/*
 * A host brought up while a hold came (from poolmonctl, or a peer): the
 * hold wins, and the host goes down again at once. STEP_FIRST.
 */
static enum batch_step
up_but_held(struct actions *a, struct backend *b)
{
	log_info_f(EV(b->dh.ip, "hold", NULL), "%s was brought up as a hold "
	    "came: down again", b->dh.ip);
	b->flush_pending = false;
	b->action = ACTION_HOLD_DOWN;
	changed(a, "up", b->dh.ip, NULL, "ok", false);
	return STEP_FIRST;
}

/* After OK: the backend's new state, and the batch's next step for it. */
static enum batch_step
command_done(struct action_batch *ab, struct backend *b)
{
	struct actions *a = ab->a;
	const struct state_entry *e;
	char votes[48];

	if (ab->step == STEP_FLUSH || b->action == ACTION_FLUSH) {
		b->flush_pending = false;
		log_info_f(EV(b->dh.ip, "flush", NULL), "%s flushed",
		    b->dh.ip);
		changed(a, "flush", b->dh.ip, NULL, "ok", false);
		return STEP_NEXT;
	}
	switch (b->action) {
	case ACTION_DOWN:
		crash_point("after-ok");
		log_info_f(EV(b->dh.ip, "down", reason_of(b)), "%s down: %s%s",
		    b->dh.ip, reason_of(b), votes_of(b, votes,
		    sizeof(votes)));
		changed(a, "down", b->dh.ip, reason_of(b), "ok", false);
		b->dh.up = false;
		confirm_intent(ab, b);
		return STEP_FLUSH;
	case ACTION_UP:
		b->dh.up = true;
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
		return STEP_NEXT;
	case ACTION_HOLD_DOWN:
		log_info_f(EV(b->dh.ip, "hold", NULL),
		    "%s is held for maintenance but was up: down again",
		    b->dh.ip);
		changed(a, "down", b->dh.ip, "held for maintenance", "ok", false);
		b->dh.up = false;
		e = state_find(a->state, b->dh.ip);
		return e != NULL && e->hold.flush ? STEP_FLUSH : STEP_NEXT;
	case ACTION_FLUSH:
	case ACTION_NONE:
		break;
	}
	return STEP_NEXT;
}

static void
batch_cmd_done(const struct director_result *res, void *arg)
{
	struct action_batch *ab = arg;
	struct backend *b = &ab->a->pool->backends[ab->next];

	if (!cmd_ok(ab->a, ab->cmd, b->dh.ip, res)) {
		/* Unreachable: so is it for every other command now. */
		ab->next = res->unreachable ? ab->a->pool->n : ab->next + 1;
		ab->step = STEP_FIRST;
	} else if ((ab->step = command_done(ab, b)) == STEP_NEXT) {
		ab->next++;
		ab->step = STEP_FIRST;
	}
	batch_next(ab);
}

/*
 * Decided again right before it is sent: a hold that came since the
 * scan's decision (from poolmonctl, or a peer) wins over it. The hold's
 * own HOST-DOWN is its monitor's to send.
 */
static bool
overtaken_by_hold(struct backend *b)
{
	if (b->owner != OWNER_HOLD || b->action == ACTION_HOLD_DOWN ||
	    b->action == ACTION_NONE)
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
	const char *cmd;
	int r;

	for (; ab->next < a->pool->n; ab->next++, ab->step = STEP_FIRST) {
		b = &a->pool->backends[ab->next];
		if (ab->step == STEP_FIRST && overtaken_by_hold(b))
			continue;
		if ((cmd = next_command(ab, b)) == NULL)
			continue;
		if (now_ms() >= ab->deadline) {
			defer_rest(ab);
			break;
		}
		r = director_host_cmd_async(a->director, cmd, b->dh.ip,
		    ab->deadline, batch_cmd_done, ab);
		if (r == 0) {
			ab->cmd = cmd;
			return;
		}
		log_warnx("%s %s: %s; retrying at the next scan", cmd,
		    b->dh.ip, strerror(-r));
	}
	batch_end(ab);
}

static void
batch_gate_done(const struct director_result *res, void *arg)
{
	struct action_batch *ab = arg;

	if (ring_gate(ab->a, res) != GATE_SYNCED) {
		batch_end(ab);
		return;
	}
	/* Without their intents, no HOST-DOWN: the rest goes on. */
	(void)record_intents(ab);
	batch_next(ab);
}

static void
ring_refreshed(const struct director_result *res, void *arg)
{
	(void)ring_gate(arg, res);
}

void
actions_ring_refresh(struct actions *a)
{
	int r = director_ring_state_async(a->director, 0, ring_refreshed, a);

	if (r < 0)
		log_warnx("DIRECTOR-LIST not sent: %s", strerror(-r));
}

bool
actions_busy(const struct actions *a)
{
	return a->batch != NULL;
}

void
actions_apply(struct actions *a, uint32_t scan_id, bool full_scan,
    actions_done_fn *done, void *arg)
{
	struct action_batch *ab;
	size_t i;

	for (i = 0; i < a->pool->n; i++)
		if (backend_in_scan(&a->pool->backends[i], scan_id))
			policy_count(&a->pool->backends[i]);
	/* In a fleet: the fleet's verdicts, and which backends are ours. */
	if (a->fleet != NULL)
		(void)fleet_judge(a->fleet);
	policy_decide(&a->policy, a->pool->backends, a->pool->n, scan_id,
	    full_scan, &a->outcome);
	log_guard(a);
	if (!any_action(a)) {
		done(arg);
		return;
	}
	if ((ab = calloc(1, sizeof(*ab))) == NULL) {
		log_warnx("out of memory: no director actions this scan");
		done(arg);
		return;
	}
	ab->a = a;
	ab->done = done;
	ab->done_arg = arg;
	/* One deadline for the whole batch: a director that stalls costs
	 * one --timeout a scan, whatever the number of actions. */
	ab->deadline = now_ms() + (int64_t)a->cfg->timeout_s * 1000;
	a->batch = ab;
	if (director_ring_state_async(a->director, ab->deadline,
	    batch_gate_done, ab) < 0) {
		log_warnx("DIRECTOR-LIST not sent: out of memory; retrying at "
		    "the next scan");
		batch_end(ab);
	}
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
	int64_t deadline;	/* monotonic ms, for all its commands */
	const char *cmd;	/* in flight */
	actions_hold_fn *done;	/* NULL: nobody waits for the answer */
	void *arg;
};

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

static void hold_cmd_done(const struct director_result *res, void *arg);

static void
hold_send(struct hold_op *op, const char *cmd)
{
	int r;

	op->cmd = cmd;
	r = director_host_cmd_async(op->a->director, cmd, op->ip,
	    op->deadline, hold_cmd_done, op);
	if (r < 0)
		hold_finish(op, r, "hold recorded, but %s was not sent: %s",
		    cmd, strerror(-r));
}

/* The held host is down: flush it if asked. */
static void
hold_is_down(struct hold_op *op)
{
	struct backend *b = pool_find(op->a->pool, op->ip);

	if (b != NULL)
		b->dh.up = false;
	if (op->flush)
		hold_send(op, "HOST-FLUSH");
	else
		hold_finish(op, 0, "%s", "");
}

static void
hold_cmd_done(const struct director_result *res, void *arg)
{
	struct hold_op *op = arg;
	bool ok = cmd_ok(op->a, op->cmd, op->ip, res);

	if (strcmp(op->cmd, "HOST-DOWN") == 0) {
		if (ok)
			hold_is_down(op);
		else
			hold_finish(op, -EIO, "hold recorded, but HOST-DOWN "
			    "failed (see the log): retried at the next scan");
	} else if (!ok)
		hold_finish(op, -EIO, "held down, but HOST-FLUSH failed (see "
		    "the log)");
	else {
		log_info_f(EV(op->ip, "flush", NULL), "%s flushed",
		    op->ip);
		changed(op->a, "flush", op->ip, NULL, "ok", false);
		hold_finish(op, 0, "%s", "");
	}
}

static void
hold_gate_done(const struct director_result *res, void *arg)
{
	struct hold_op *op = arg;
	struct backend *b;
	enum gate gate = ring_gate(op->a, res);

	if (gate != GATE_SYNCED) {
		hold_finish(op, -EAGAIN, "hold recorded, but the director is "
		    "%s: poolmond marks it down at a later scan",
		    gate == GATE_FAILED ? "unreachable" : "not synced");
		return;
	}
	if ((b = pool_find(op->a->pool, op->ip)) != NULL && b->dh.up)
		hold_send(op, "HOST-DOWN");
	else
		hold_is_down(op);
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
		    "director's host list", ip);
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
	if (director_ring_state_async(a->director, op->deadline,
	    hold_gate_done, op) < 0) {
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
		    "director's host list", ip);
	if (a->cfg->dry_run)
		return err_set(err, errlen, -EPERM, "poolmond is in dry-run: "
		    "it changes nothing, so it releases nothing ('poolmonctl "
		    "dry-run off' first)");
	if (e == NULL && (b == NULL || b->owner != OWNER_OPERATOR))
		return err_set(err, errlen, -EINVAL, "%s is neither held nor "
		    "down by the operator: nothing to release", ip);
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
