/*
 * Director actions after a scan. policy.c decides what each backend needs;
 * this file asks the director whether its ring is synced (commands sent to
 * an unsynced ring hang for 30 s), then sends HOST-DOWN and, once that is
 * OK, HOST-FLUSH, or HOST-UP, and records ownership in the state file.
 * Anything but OK is logged and retried at the next scan.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "owner.h"
#include "poolmond.h"
#include "util.h"

struct action_ctx {
	struct poolmond *d;
	struct director_conn dc;
	bool connected;
	bool failed;		/* director unusable for the rest of the scan */
	bool state_changed;
};

/* For log lines: the failure reason, never NULL. */
static const char *
reason_of(const struct backend *b)
{
	return b->reason != NULL ? b->reason : "failed";
}

static bool
ensure_connected(struct action_ctx *ctx, const char *what)
{
	if (ctx->failed)
		return false;
	if (ctx->connected)
		return true;
	if (director_connect(&ctx->dc, ctx->d->cfg.director_socket) < 0) {
		log_warnx("%s not sent: director unreachable: %s; retrying "
		    "at the next scan", what, ctx->dc.err);
		ctx->failed = true;
		return false;
	}
	ctx->connected = true;
	return true;
}

/* Send one host command; true only for OK. Logs every other outcome. */
static bool
send_host_cmd(struct action_ctx *ctx, const char *cmd, const char *ip)
{
	enum director_reply reply;
	char line[160];
	int r;

	if (!ensure_connected(ctx, cmd))
		return false;
	r = director_host_cmd(&ctx->dc, cmd, ip, &reply, line, sizeof(line));
	if (r < 0) {
		/* EOF, timeout or garbage: this connection is done. */
		log_warnx("%s %s: %s; retrying at the next scan", cmd, ip,
		    ctx->dc.err);
		director_close(&ctx->dc);
		ctx->connected = false;
		return false;
	}
	if (reply == DIRECTOR_REPLY_OK)
		return true;
	if (reply == DIRECTOR_REPLY_OTHER) {
		log_warnx("%s %s: director replied '%s'; retrying at the "
		    "next scan", cmd, ip, line);
		/* Not understood: more may follow, which the next command
		 * would take for its reply. A fresh connection for it. */
		director_close(&ctx->dc);
		ctx->connected = false;
	} else
		log_warnx("%s %s: %s; retrying at the next scan", cmd, ip,
		    director_reply_str(reply));
	return false;
}

/* Every host command, sent and counted (poolmon_actions_total). */
static bool
host_cmd(struct action_ctx *ctx, const char *cmd, const char *ip)
{
	bool ok = send_host_cmd(ctx, cmd, ip);

	metrics_count_action(&ctx->d->metrics, cmd, ok);
	return ok;
}

static void
set_owner(struct action_ctx *ctx, struct backend *b, enum owner owner)
{
	struct state *st = &ctx->d->state;

	if (b->owner == owner)
		return;
	b->owner = owner;
	if (owner == OWNER_POOLMOND)
		(void)state_set(st, b->dh.ip, OWNER_POOLMOND, NULL);
	else if (owner != OWNER_HOLD)
		(void)state_remove(st, b->dh.ip);
	ctx->state_changed = true;
}

static void
flush(struct action_ctx *ctx, struct backend *b)
{
	if (host_cmd(ctx, "HOST-FLUSH", b->dh.ip)) {
		b->flush_pending = false;
		log_info("%s flushed", b->dh.ip);
	}
}

static void
take_down(struct action_ctx *ctx, struct backend *b)
{
	if (ctx->d->cfg.dry_run) {
		log_info("dry-run: would mark %s down: %s", b->dh.ip,
		    reason_of(b));
		return;
	}
	/* Owned and owing a flush before HOST-DOWN is sent: a reply lost to
	 * a ring-sync timeout may still have been applied. */
	b->flush_pending = true;
	set_owner(ctx, b, OWNER_POOLMOND);
	if (!host_cmd(ctx, "HOST-DOWN", b->dh.ip))
		return;
	log_info("%s down: %s", b->dh.ip, reason_of(b));
	b->dh.up = false;
	flush(ctx, b);
}

static void
hold_down(struct action_ctx *ctx, struct backend *b)
{
	struct state_entry *e = state_find(&ctx->d->state, b->dh.ip);

	if (ctx->d->cfg.dry_run) {
		log_info("dry-run: would mark held %s down again", b->dh.ip);
		return;
	}
	if (!host_cmd(ctx, "HOST-DOWN", b->dh.ip))
		return;
	log_info("%s is held for maintenance but was up: down again",
	    b->dh.ip);
	b->dh.up = false;
	if (e != NULL && e->hold.flush)
		flush(ctx, b);
}

static void
bring_up(struct action_ctx *ctx, struct backend *b)
{
	const char *why = b->owner == OWNER_POOLMOND ? "" :
	    " (--adopt-down)";

	if (ctx->d->cfg.dry_run) {
		log_info("dry-run: would mark %s up: all %zu checks passed%s",
		    b->dh.ip, ctx->d->cfg.nports, why);
		return;
	}
	if (!host_cmd(ctx, "HOST-UP", b->dh.ip))
		return;
	log_info("%s up: all %zu checks passed%s", b->dh.ip,
	    ctx->d->cfg.nports, why);
	b->dh.up = true;
	b->flush_pending = false;
	set_owner(ctx, b, OWNER_NONE);
}

static bool
any_action(const struct poolmond *d)
{
	size_t i;

	for (i = 0; i < d->pool.n; i++)
		if (d->pool.backends[i].action != ACTION_NONE)
			return true;
	return false;
}

/*
 * The ring-sync gate: commands to a director whose ring is not synced
 * wait up to 30 s. Defer every action until it is synced again.
 */
static bool
ring_gate(struct action_ctx *ctx)
{
	struct poolmond *d = ctx->d;
	char state[64];
	bool synced;

	if (!ensure_connected(ctx, "DIRECTOR-LIST"))
		return false;
	if (director_ring_synced(&ctx->dc, &synced, state,
	    sizeof(state)) < 0) {
		log_warnx("DIRECTOR-LIST: %s; deferring actions to the next "
		    "scan", ctx->dc.err);
		director_close(&ctx->dc);
		ctx->connected = false;
		ctx->failed = true;
		d->ring_unknown = true;
		return false;
	}
	d->ring_synced = synced;
	d->ring_unknown = false;
	if (!synced) {
		if (!d->ring_unsynced_noted)
			log_warnx("director ring not synced (%s): deferring "
			    "actions until it is", state);
		d->ring_unsynced_noted = true;
		return false;
	}
	if (d->ring_unsynced_noted)
		log_info("director ring synced again: acting on the pool");
	d->ring_unsynced_noted = false;
	return true;
}

static void
log_guard(struct poolmond *d)
{
	char spared[1024];
	size_t i, off = 0;

	spared[0] = '\0';
	for (i = 0; i < d->pool.n && off < sizeof(spared); i++) {
		int n;

		if (!d->pool.backends[i].spared)
			continue;
		n = snprintf(spared + off, sizeof(spared) - off, "%s%s",
		    off > 0 ? " " : "", d->pool.backends[i].dh.ip);
		if (n > 0)
			off += (size_t)n;
	}
	if (d->outcome.all_failed)
		log_warnx("every backend failed this scan: assuming a fault "
		    "on poolmond's side (network, DNS, credentials); taking "
		    "none down: %s", spared);
	else if (d->outcome.guard_active)
		log_warnx("pool guard: --max-down=%d%% reached; sparing %zu "
		    "failed hosts: %s", d->cfg.max_down_pct, d->outcome.spared,
		    spared);
}

static void
apply(struct action_ctx *ctx, struct backend *b)
{
	switch (b->action) {
	case ACTION_DOWN: take_down(ctx, b); break;
	case ACTION_FLUSH:
		if (!ctx->d->cfg.dry_run)
			flush(ctx, b);
		break;
	case ACTION_UP: bring_up(ctx, b); break;
	case ACTION_HOLD_DOWN: hold_down(ctx, b); break;
	case ACTION_NONE: break;
	}
}

void
actions_apply(struct poolmond *d)
{
	struct action_ctx ctx = { .d = d };
	size_t i;

	for (i = 0; i < d->pool.n; i++)
		if (backend_in_scan(&d->pool.backends[i], d->scan_id))
			policy_count(&d->pool.backends[i]);
	policy_decide(&d->policy, d->pool.backends, d->pool.n, d->scan_id,
	    d->selected == d->pool.n, &d->outcome);
	log_guard(d);
	if (!any_action(d))
		return;
	director_conn_init(&ctx.dc, d->cfg.timeout_s * 1000);
	if (ring_gate(&ctx)) {
		for (i = 0; i < d->pool.n; i++)
			apply(&ctx, &d->pool.backends[i]);
	}
	director_close(&ctx.dc);
	if (ctx.state_changed)
		(void)owner_state_save(&d->state);
}

static int __attribute__((format(printf, 4, 5)))
set_err(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

static int
save_state(struct poolmond *d, char *err, size_t errlen)
{
	int r = owner_state_save(&d->state);

	if (r < 0)
		return set_err(r, err, errlen, "cannot write the state file "
		    "%s: %s", d->state.path, strerror(-r));
	return 0;
}

int
actions_hold(struct poolmond *d, const char *ip, const char *reason,
    uid_t uid, bool do_flush, char *err, size_t errlen)
{
	struct action_ctx ctx = { .d = d };
	struct hold_info hold = { .uid = uid, .since = time(NULL),
	    .flush = do_flush };
	struct backend *b = pool_find(&d->pool, ip);
	int r;

	if (b == NULL)
		return set_err(-ENOENT, err, errlen, "%s is not in the "
		    "director's host list", ip);
	str_copy(hold.reason, reason != NULL ? reason : "",
	    sizeof(hold.reason));
	if ((r = state_set(&d->state, b->dh.ip, OWNER_HOLD, &hold)) < 0)
		return set_err(r, err, errlen, "cannot record the hold: %s",
		    strerror(-r));
	b->owner = OWNER_HOLD;
	b->flush_pending = false;
	log_info("%s held for maintenance by uid %lu%s%s%s", b->dh.ip,
	    (unsigned long)uid, hold.reason[0] != '\0' ? " (" : "",
	    hold.reason, hold.reason[0] != '\0' ? ")" : "");
	if ((r = save_state(d, err, errlen)) < 0)
		return r;
	if (d->cfg.dry_run) {
		log_info("dry-run: would mark held %s down%s", b->dh.ip,
		    do_flush ? " and flush it" : "");
		return set_err(0, err, errlen, "hold recorded; dry-run: "
		    "HOST-DOWN not sent");
	}
	director_conn_init(&ctx.dc, d->cfg.timeout_s * 1000);
	r = 0;
	if (!ring_gate(&ctx))
		r = set_err(-EAGAIN, err, errlen, "hold recorded, but the "
		    "director is %s: poolmond marks it down at a later scan",
		    ctx.failed ? "unreachable" : "not synced");
	else if (b->dh.up && !host_cmd(&ctx, "HOST-DOWN", b->dh.ip))
		r = set_err(-EIO, err, errlen, "hold recorded, but HOST-DOWN "
		    "failed (see the log): retried at the next scan");
	else {
		b->dh.up = false;
		if (do_flush && !host_cmd(&ctx, "HOST-FLUSH", b->dh.ip))
			r = set_err(-EIO, err, errlen, "held down, but "
			    "HOST-FLUSH failed (see the log)");
		else if (do_flush)
			log_info("%s flushed", b->dh.ip);
	}
	director_close(&ctx.dc);
	return r;
}

int
actions_release(struct poolmond *d, const char *ip, char *err,
    size_t errlen)
{
	struct backend *b = pool_find(&d->pool, ip);
	struct state_entry *e = state_find(&d->state, ip);
	const char *was;
	int r;

	if (b == NULL && e == NULL)
		return set_err(-ENOENT, err, errlen, "%s is not in the "
		    "director's host list", ip);
	if (e == NULL && (b == NULL || b->owner != OWNER_OPERATOR))
		return set_err(-EINVAL, err, errlen, "%s is neither held nor "
		    "down by the operator: nothing to release", ip);
	was = e != NULL ? owner_str(e->owner) : "operator";
	if (e != NULL && e->owner == OWNER_POOLMOND)
		return set_err(0, err, errlen, "%s is already poolmond's",
		    ip);
	/* Handed over: poolmond brings it up once healthy (--rise). */
	if ((r = state_set(&d->state, ip, OWNER_POOLMOND, NULL)) < 0)
		return set_err(r, err, errlen, "cannot record the release: %s",
		    strerror(-r));
	if (b != NULL) {
		b->owner = OWNER_POOLMOND;
		b->operator_noted = false;
	}
	log_info("%s released (was %s): poolmond brings it up when healthy",
	    ip, was);
	if ((r = save_state(d, err, errlen)) < 0)
		return r;
	if (b != NULL)
		(void)scan_request(d, &ip, 1);
	return set_err(0, err, errlen, "released (was %s)", was);
}
