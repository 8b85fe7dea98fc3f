/*
 * main's wiring: the modules that show the daemon (control.c,
 * control_reply.c, metrics*.c, notify.c) never see struct poolmond; they
 * get a context of what they read and hooks for what they ask, made here.
 */
#include "wiring.h"

#include "fleet.h"
#include "notify.h"
#include "supervise.h"

static void
summarize_fleet(const struct fleet *f, struct daemon_summary *s)
{
	struct fleet_peer_view v;
	size_t i;

	s->fleet = true;
	s->fleet_quorum = fleet_quorum(f);
	s->fleet_isolated = fleet_isolated(f);
	for (i = 0; i < fleet_npeers(f); i++) {
		fleet_peer(f, i, &v);
		s->fleet_peers_live += v.live;
		s->fleet_peers_trusted += v.live && v.trusted;
	}
}

void
wire_summary(void *arg, struct daemon_summary *s)
{
	const struct poolmond *d = arg;

	s->started = d->started;
	if (d->router != NULL) {
		s->router_kind = router_kind_str(router_kind(d->router));
		s->router_target = d->router->target;
	}
	s->act_state = d->view.act_state;
	s->director_reachable = !d->view.down;
	s->director_error = d->view.error;
	s->ring_known = !d->view.gate_unknown;
	s->ring_synced = d->view.can_act;
	s->dry_run = d->cfg.dry_run;
	s->scanning = d->scan.scanning;
	s->scan_id = d->scan.scan_id;
	s->scans_completed = d->scan.scans_completed;
	if (d->scan.sup != NULL) {
		s->has_children_forked = true;
		s->children_forked = scan_children_forked(&d->scan);
	}
	s->checks_unknown = d->scan.checks_unknown;
	s->last_scan_end = d->scan.last_scan_end;
	s->last_scan_ms = d->scan.last_scan_ms;
	s->guard_active = d->actions.outcome.guard_active;
	s->all_failed = d->actions.outcome.all_failed;
	if (d->fleet != NULL)
		summarize_fleet(d->fleet, s);
}

void
wire_notify_ready(struct poolmond *d)
{
	struct daemon_summary s;
	const struct summary_source src = { wire_summary, d };

	summary_read(&src, &s);
	notify_ready(&d->pool, &s);
}

void
wire_notify_status(struct poolmond *d)
{
	struct daemon_summary s;
	const struct summary_source src = { wire_summary, d };

	summary_read(&src, &s);
	notify_status(&d->pool, &s);
}

void
wire_metrics_ctx(struct poolmond *d, struct metrics_ctx *ctx)
{
	*ctx = (struct metrics_ctx){
		.cfg = &d->cfg,
		.pool = &d->pool,
		.counters = &d->metrics,
		.summary = { wire_summary, d },
	};
}

static int
ask_scan(void *arg, const char *const *ips, size_t nips)
{
	struct poolmond *d = arg;

	return scan_request(&d->scan, ips, nips);
}

static int
ask_hold(void *arg, const char *ip, const char *reason, uid_t uid,
    bool flush, control_hold_done_fn *done, void *done_arg, char *err,
    size_t errlen)
{
	struct poolmond *d = arg;

	return actions_hold(&d->actions, ip, reason, uid, flush, done,
	    done_arg, err, errlen);
}

static void
ask_forget(void *arg, const void *done_arg)
{
	struct poolmond *d = arg;

	actions_forget(&d->actions, done_arg);
}

static int
ask_release(void *arg, const char *ip, char *err, size_t errlen)
{
	struct poolmond *d = arg;

	return actions_release(&d->actions, ip, err, errlen);
}

/* cfg.dry_run is the run-time switch: the actions read it. */
static void
ask_dry_run(void *arg, bool on)
{
	struct poolmond *d = arg;

	if (d->cfg.dry_run == on)
		return;
	d->cfg.dry_run = on;
	wire_notify_status(d);
}

void
wire_control_ctx(struct poolmond *d, wire_reload_fn *reload,
    struct control_ctx *ctx)
{
	*ctx = (struct control_ctx){
		.cfg = &d->cfg,
		.pool = &d->pool,
		.state = &d->state,
		.fleet = d->fleet,
		.summary = { wire_summary, d },
		.arg = d,
		.request_scan = ask_scan,
		.hold = ask_hold,
		.forget = ask_forget,
		.release = ask_release,
		.set_dry_run = ask_dry_run,
		.reload = reload,
	};
	wire_metrics_ctx(d, &ctx->metrics);
}

/* A scan finished, or could not start: systemd's STATUS=, rechecks. */
static void
on_scan_done(void *arg, bool scanned)
{
	struct poolmond *d = arg;

	wire_notify_status(d);
	control_scan_done(d->control, scanned);
}

static void
on_event(void *arg, const struct pool_event *ev)
{
	struct poolmond *d = arg;

	control_event(d->control, ev);
}

void
wire_engine(struct poolmond *d)
{
	const struct event_sink events = { on_event, d };

	d->actions.cfg = &d->cfg;
	d->actions.pool = &d->pool;
	d->actions.state = &d->state;
	d->actions.router = d->router;
	d->actions.view = &d->view;
	d->actions.fleet = d->fleet;
	d->actions.hooks = d->hooks;
	d->actions.metrics = &d->metrics;
	d->actions.events = events;
	d->scan.cfg = &d->cfg;
	d->scan.env = &d->env;
	d->scan.sandbox = &d->sandbox;
	d->scan.event = d->event;
	d->scan.pool = &d->pool;
	d->scan.state = &d->state;
	d->scan.router = d->router;
	d->scan.view = &d->view;
	d->scan.resolver = d->resolver;
	d->scan.actions = &d->actions;
	d->scan.fleet = d->fleet;
	d->scan.hooks = (struct scan_hooks){ on_scan_done, d };
	d->scan.events = events;
}
