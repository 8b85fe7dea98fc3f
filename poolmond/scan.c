/*
 * The scan engine. At each interval (start to start) it reads HOST-LIST
 * into the pool, starts one check process per backend with at most
 * --max-children alive (supervise.c), stores their reports and, when
 * every backend is done, applies the actions and tells whoever listens.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "log.h"
#include "owner.h"
#include "poolmond.h"
#include "resolver.h"
#include "supervise.h"
#include "util.h"

/*
 * Check processes forked in one turn of the event loop: a fork costs a
 * millisecond or more, and poolmonctl, reports and director replies are
 * served between batches rather than after hundreds of forks.
 */
#define START_BATCH		16
/*
 * Addresses a recheck may queue; beyond, the recheck is of every backend,
 * which covers them: clients asking faster than scans run cannot grow it.
 */
#define RECHECK_QUEUE_MAX	4096
/* Warnings about checks poolmond itself could not make, per minute. */
#define UNKNOWN_WARN_BURST	10
#define UNKNOWN_WARN_WINDOW_MS	60000

static int
arm_timer(sd_event_source *timer, int64_t at_ms)
{
	int r;

	if (at_ms < 0)
		return sd_event_source_set_enabled(timer, SD_EVENT_OFF);
	r = sd_event_source_set_time(timer, (uint64_t)at_ms * 1000);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
}

static void
director_outage(struct poolmond *d, const char *what, const char *why)
{
	if (!d->director_down)
		log_warnx("director %s: %s %s; poolmond keeps trying every "
		    "scan", d->cfg.director_socket, what, why);
	d->director_down = true;
	d->ring_unknown = true;
	str_copy(d->director_error, why, sizeof(d->director_error));
}

static int
merge_host_list(struct poolmond *d, struct director_host_list *list)
{
	char dup_ip[INET6_ADDRSTRLEN];
	size_t dups;
	int r;

	r = pool_merge(&d->pool, list, &dups, dup_ip, sizeof(dup_ip));
	if (r < 0) {
		log_warnx("HOST-LIST: %s; keeping the last host list",
		    strerror(-r));
		return r;
	}
	if (dups > 0)
		log_warnx("HOST-LIST names %s (and maybe others) more than "
		    "once: %zu duplicate entr%s ignored, the first kept",
		    dup_ip, dups, dups == 1 ? "y" : "ies");
	owner_derive_all(&d->pool, &d->state, d->cfg.adopt_down,
	    d->list_asked_ms);
	return 0;
}

/*
 * The host list is asked for at each scan's start and the scan goes on
 * when it comes (scan_listed), on the event loop: a director that stalls
 * never blocks poolmonctl or the watchdog.
 */
static int
host_list_result(struct poolmond *d, const struct director_result *res)
{
	if (res->error < 0) {
		director_outage(d, res->unreachable ? "unreachable:" :
		    "HOST-LIST failed:", res->err);
		return res->error;
	}
	if (d->director_down)
		log_info("director %s reachable again",
		    d->cfg.director_socket);
	d->director_down = false;
	d->director_error[0] = '\0';
	return merge_host_list(d, res->list);
}

/* A check poolmond could not make: said, within bounds, and counted. */
static void
note_unknown(struct poolmond *d, const struct backend *b)
{
	unsigned int suppressed;

	const char *why = b->reason != NULL ? b->reason : "unknown";
	const struct log_fields f = { .host = b->dh.ip, .event = "unknown",
	    .reason = why };

	d->checks_unknown++;
	if (!ratelimit_allow(&d->unknown_warnings, now_ms(), &suppressed))
		return;
	log_warnx_f(&f, "%s not checked: %s; poolmond's own fault, not the "
	    "backend's: no action%s", b->dh.ip, why, suppressed > 0 ?
	    " (more such lines were not logged)" : "");
}

/* A backend's health changed: for poolmonctl watch. */
static void
note_verdict(struct poolmond *d, const struct backend *b)
{
	static const char *const names[] = {
		[HEALTH_UNCHECKED] = "unchecked", [HEALTH_OK] = "ok",
		[HEALTH_FAILED] = "failed", [HEALTH_UNKNOWN] = "unknown",
	};
	const struct pool_event ev = { .event = "verdict", .host = b->dh.ip,
	    .detail = names[b->health], .reason = b->health == HEALTH_OK ?
	    NULL : b->reason };

	pool_event_emit(d, &ev);
}

static void
log_ports(const struct poolmond *d, const struct backend *b)
{
	size_t i;

	for (i = 0; i < d->cfg.nports; i++) {
		const struct port_state *res = &b->ports[i];
		const struct portspec *p = &d->cfg.ports[i];
		const char *what = res->status == CHECK_OK ? "ok" :
		    res->reason != NULL ? res->reason : "failed";
		char port[24];
		struct log_fields f = { .host = b->dh.ip, .event = "check",
		    .port = port, .reason = res->status != CHECK_OK ? what :
		    NULL };

		snprintf(port, sizeof(port), "%s:%u",
		    mail_proto_name(p->proto, p->tls), p->port);
		log_debug_f(&f, "%s %s %s (%u ms, %u %s)", b->dh.ip, port,
		    what, res->latency_ms, res->tries,
		    res->tries == 1 ? "try" : "tries");
		if (res->status == CHECK_OK && res->warning &&
		    res->reason != NULL) {
			f.reason = res->reason;
			log_warnx_f(&f, "%s %s %s", b->dh.ip, port,
			    res->reason);
		}
	}
}

/* Ports without a report get missing_status and why_missing. */
static void
finish_backend(struct poolmond *d, size_t idx, const char *why_missing,
    enum check_status missing_status)
{
	struct backend *b = &d->pool.backends[idx];
	enum health was;
	size_t i;

	for (i = 0; i < d->cfg.nports; i++) {
		if (!(b->reported & (1u << i))) {
			struct check_result missing = { .status =
			    missing_status };

			str_copy(missing.reason, why_missing,
			    sizeof(missing.reason));
			(void)port_state_set(&b->ports[i], &missing);
		}
	}
	log_ports(d, b);
	was = b->health;
	backend_judge(b, d->cfg.ports, d->cfg.nports);
	if (b->health == HEALTH_UNKNOWN)
		note_unknown(d, b);
	if (b->health != was)
		note_verdict(d, b);
	b->last_check = time(NULL);
	b->pid = 0;
	d->finished++;
}

struct child_ctx {
	const struct sandbox *sandbox;
	struct check_job job;
};

/* In the check process. */
static void
check_body(void *arg, int report_fd, int64_t hard_deadline)
{
	const struct child_ctx *ctx = arg;

	/* Hostile input ahead: an unprivileged user under seccomp. */
	sandbox_enter(ctx->sandbox);
	child_run(&ctx->job, report_fd, hard_deadline);
}

static int
start_child(struct poolmond *d, size_t idx, const char *ptr_name)
{
	struct backend *b = &d->pool.backends[idx];
	struct child_ctx ctx = {
		.sandbox = &d->sandbox,
		.job = {
			.env = &d->env, .ports = d->cfg.ports,
			.nports = d->cfg.nports, .ip = b->dh.ip,
			.ptr_name = ptr_name, .tls_seen = b->tls_seen,
			.scan_id = d->scan_id, .backend = (uint32_t)idx,
		},
	};
	char why[CHECK_REASON_MAX];
	pid_t pid;
	int r;

	r = supervisor_spawn(d->sup, idx, child_budget_ms(&d->env),
	    check_body, &ctx, &pid);
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot fork a check process: %s",
		    strerror(-r));
		finish_backend(d, idx, why, CHECK_ECHILD);
		return r;
	}
	b->pid = pid;
	return 0;
}

static void scan_finish(struct poolmond *d);

/* ---- PTR names (resolver.h): the hooks of the scan ---- */

/*
 * Whether b's check process may be forked now, with its PTR name (NULL:
 * verify the address): once its lookup has answered or met its deadline.
 */
static bool
name_ready(struct poolmond *d, const struct backend *b,
    const char **ptr_name)
{
	*ptr_name = NULL;
	return d->resolver == NULL ||
	    resolver_name(d->resolver, b->dh.ip, ptr_name) == 1;
}

/* Every lookup of the scan starts with it, not as each turn comes. */
static void
ask_names(struct poolmond *d)
{
	const char *name;
	size_t i;

	d->awaiting_names = 0;
	for (i = 0; d->resolver != NULL && i < d->pool.n; i++) {
		d->pool.backends[i].awaiting_name = false;
		if (backend_in_scan(&d->pool.backends[i], d->scan_id))
			(void)resolver_name(d->resolver,
			    d->pool.backends[i].dh.ip, &name);
	}
}

void
scan_names_ready(void *arg)
{
	struct poolmond *d = arg;

	/* Forked from the loop, not from within the resolver. */
	if (d->scanning && d->awaiting_names > 0)
		(void)sd_event_source_set_enabled(d->start_source,
		    SD_EVENT_ONESHOT);
}

/*
 * The next backend of the scan to fork and its PTR name: first one whose
 * name came while it waited, then the next in order; one whose lookup is
 * in flight waits, and the others go ahead. -1: none to fork now.
 */
static int
next_to_fork(struct poolmond *d, size_t *idx, const char **ptr_name)
{
	struct backend *b;
	size_t i;

	for (i = 0; d->awaiting_names > 0 && i < d->pool.n; i++) {
		b = &d->pool.backends[i];
		if (b->awaiting_name && name_ready(d, b, ptr_name)) {
			b->awaiting_name = false;
			d->awaiting_names--;
			*idx = i;
			return 0;
		}
	}
	while (d->next_to_start < d->pool.n) {
		i = d->next_to_start++;
		b = &d->pool.backends[i];
		if (!backend_in_scan(b, d->scan_id))
			continue;
		if (name_ready(d, b, ptr_name)) {
			*idx = i;
			return 0;
		}
		b->awaiting_name = true;
		d->awaiting_names++;
	}
	return -1;
}

/* ---- end of the PTR name hooks ---- */

static void
start_children(struct poolmond *d)
{
	size_t idx, started = 0;
	const char *ptr_name;

	while (supervisor_running(d->sup) < (size_t)d->cfg.max_children &&
	    (d->next_to_start < d->pool.n || d->awaiting_names > 0)) {
		if (started == START_BATCH) {
			/* The rest after the events pending now. */
			(void)sd_event_source_set_enabled(d->start_source,
			    SD_EVENT_ONESHOT);
			break;
		}
		if (next_to_fork(d, &idx, &ptr_name) < 0)
			break;
		if (start_child(d, idx, ptr_name) == 0)
			started++;
	}
	if (d->scanning && d->finished == d->selected)
		scan_finish(d);
}

static int
on_start_more(sd_event_source *s, void *arg)
{
	struct poolmond *d = arg;

	(void)s;
	if (!d->stopping)
		start_children(d);
	return 0;
}

static void
schedule_next_scan(struct poolmond *d)
{
	int64_t now = now_ms();

	/* A recheck does not move the interval's schedule. */
	if (!d->scan_is_recheck) {
		d->next_scan_at = d->interval_started +
		    (int64_t)d->cfg.interval_s * 1000;
		if (d->next_scan_at < now) {
			log_warnx("scan took %lld ms, longer than the %d s "
			    "interval; starting the next one at once",
			    (long long)(now - d->interval_started),
			    d->cfg.interval_s);
			d->next_scan_at = now;
		}
	}
	/* A recheck asked for meanwhile runs at once; the interval's next
	 * scan keeps its time all the same. */
	arm_timer(d->scan_timer, d->recheck_pending ||
	    d->next_scan_at < now ? now : d->next_scan_at);
}

static void
tell_scan_done(struct poolmond *d, bool scanned)
{
	/* The fleet hears after every scan, and while the director is
	 * away too: a monitor that cannot act is still alive. */
	if (d->fleet != NULL)
		fleet_scan_done(d->fleet, d->scans_completed,
		    !d->director_down && !d->ring_unknown && d->ring_synced);
	if (d->scan_done != NULL)
		d->scan_done(d, scanned);
}

static void
note_scan(struct poolmond *d, const struct pool_counts *c, int64_t took)
{
	char summary[128];
	const struct pool_event ev = { .event = "scan", .detail = summary };

	snprintf(summary, sizeof(summary), "%zu backends, %zu failed, %zu "
	    "unknown, %lld ms", d->selected, c->failed, c->unknown,
	    (long long)took);
	pool_event_emit(d, &ev);
}

/* The scan's actions are done: the scan is. */
static void
scan_acted(struct poolmond *d)
{
	struct pool_counts c;
	int64_t took;

	d->scanning = false;
	if (d->tls_unsaved && owner_state_save(&d->state) == 0)
		d->tls_unsaved = false;
	pool_count(&d->pool, &c);
	took = now_ms() - d->scan_started;
	d->scans_completed++;
	d->last_scan_ms = took;
	d->last_scan_end = time(NULL);
	log_debug("scan complete: %zu backends, %zu failed, %zu unknown, "
	    "%lld ms", d->selected, c.failed, c.unknown, (long long)took);
	note_scan(d, &c, took);
	tell_scan_done(d, true);
	if (!d->stopping)
		schedule_next_scan(d);
}

static void
scan_finish(struct poolmond *d)
{
	/* Once a scan: its actions may still be on their way. */
	if (d->batch == NULL)
		actions_apply(d, scan_acted);
}

static void
clear_recheck(struct poolmond *d)
{
	size_t i;

	for (i = 0; i < d->nrecheck_ips; i++)
		free(d->recheck_ips[i]);
	free(d->recheck_ips);
	d->recheck_ips = NULL;
	d->nrecheck_ips = 0;
	d->recheck_pending = false;
}

/* Mark the backends of scan d->scan_id: all, or a recheck request's. */
static void
select_backends(struct poolmond *d)
{
	struct backend *b;
	size_t i;

	if (d->nrecheck_ips == 0) {
		for (i = 0; i < d->pool.n; i++)
			d->pool.backends[i].scanned_in = d->scan_id;
		d->selected = d->pool.n;
		return;
	}
	d->selected = 0;
	for (i = 0; i < d->nrecheck_ips; i++) {
		if ((b = pool_find(&d->pool, d->recheck_ips[i])) != NULL &&
		    !backend_in_scan(b, d->scan_id)) {
			b->scanned_in = d->scan_id;
			d->selected++;
		}
	}
}

static void
scan_abort(struct poolmond *d)
{
	clear_recheck(d);
	schedule_next_scan(d);
	tell_scan_done(d, false);
}

static void
scan_listed(const struct director_result *res, void *arg)
{
	struct poolmond *d = arg;

	d->listing = false;
	if (d->stopping)
		return;
	if (host_list_result(d, res) < 0) {
		scan_abort(d);
		return;
	}
	/* Reachable again: status need not wait for an action to know.
	 * A fleet asks every scan: its peers hear whether this monitor can
	 * act, and --fleet-peer=ring follows the ring's members. */
	if (d->ring_unknown || d->fleet != NULL)
		actions_ring_refresh(d);
	d->scan_id++;
	select_backends(d);
	ask_names(d);
	clear_recheck(d);
	d->scanning = true;
	d->next_to_start = 0;
	d->finished = 0;
	log_debug("scan %u: %zu of %zu backends", d->scan_id, d->selected,
	    d->pool.n);
	start_children(d);
}

static void
scan_start(struct poolmond *d)
{
	int r;

	if (d->scanning || d->listing || d->stopping)
		return;
	d->scan_started = now_ms();
	d->list_asked_ms = wall_ms();
	d->scan_is_recheck = d->recheck_pending;
	if (!d->scan_is_recheck)
		d->interval_started = d->scan_started;
	if ((r = director_host_list_async(d->director, 0, scan_listed,
	    d)) < 0) {
		director_outage(d, "HOST-LIST failed:", strerror(-r));
		scan_abort(d);
		return;
	}
	d->listing = true;
}

static int
on_scan_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	(void)s;
	(void)usec;
	scan_start(arg);
	return 0;
}

/* What a login check learnt of the backend's TLS. */
static void
note_tls(struct poolmond *d, struct backend *b, const struct check_result *res)
{
	if (res->tls_offered && !b->tls_seen) {
		b->tls_seen = true;
		/* Remembered across restarts (saved at the scan's end):
		 * checked before every login from now on. */
		if (state_tls_mark(&d->state, b->dh.ip) > 0)
			d->tls_unsaved = true;
	}
	if (res->cleartext_login && !b->cleartext_noted) {
		log_warnx_f(&(struct log_fields){ .host = b->dh.ip,
		    .event = "cleartext" }, "%s offers no STARTTLS/STLS: the "
		    "check's credentials went in clear (--require-tls "
		    "refuses that)", b->dh.ip);
		b->cleartext_noted = true;
	}
}

static void
on_record(void *arg, const void *record)
{
	struct poolmond *d = arg;
	const struct check_report *rep = record;
	int r = pool_store_report(&d->pool, d->scan_id, rep);

	if (r == 0)
		note_tls(d, &d->pool.backends[rep->backend], &rep->result);
	else if (r == -EINVAL)
		log_warnx("ignoring a malformed check report");
	else if (r == -ENOMEM)
		log_warnx("out of memory for a check result");
}

static void
on_child_ended(void *arg, size_t idx, enum child_end how, int code)
{
	struct poolmond *d = arg;
	enum check_status st = CHECK_ECHILD;
	char why[96];

	if (d->stopping)
		return;
	switch (how) {
	case CHILD_KILLED:
		snprintf(why, sizeof(why), "check killed at its deadline "
		    "(%lld ms)", (long long)child_budget_ms(&d->env) +
		    CHILD_KILL_GRACE_MS);
		st = CHECK_EKILLED;
		break;
	case CHILD_SIGNALED:
		snprintf(why, sizeof(why), "check process died of signal %d "
		    "(%s)", code, sigabbrev_np(code) != NULL ?
		    sigabbrev_np(code) : "?");
		break;
	case CHILD_EXITED:
		snprintf(why, sizeof(why), "check process exited with "
		    "status %d without a result", code);
		break;
	}
	finish_backend(d, idx, why, st);
	if (d->scanning && d->finished == d->selected)
		scan_finish(d);
}

static void
on_children_idle(void *arg)
{
	struct poolmond *d = arg;

	if (!d->stopping && d->scanning)
		start_children(d);
}

int
scan_request(struct poolmond *d, const char *const *ips, size_t nips)
{
	size_t i;
	char **copy;

	/* A pending full recheck already covers any subset. */
	if (d->recheck_pending && d->nrecheck_ips == 0)
		return 0;
	if (nips == 0 || d->nrecheck_ips + nips > RECHECK_QUEUE_MAX)
		clear_recheck(d);
	else {
		copy = reallocarray(d->recheck_ips, d->nrecheck_ips + nips,
		    sizeof(*copy));
		if (copy == NULL)
			return -ENOMEM;
		d->recheck_ips = copy;
		for (i = 0; i < nips; i++) {
			if ((copy[d->nrecheck_ips] = strdup(ips[i])) == NULL)
				return -ENOMEM;
			d->nrecheck_ips++;
		}
	}
	d->recheck_pending = true;
	if (!d->scanning)
		arm_timer(d->scan_timer, now_ms());
	return 0;
}

int
scan_init(struct poolmond *d)
{
	const struct supervisor_hooks hooks = {
		.record = on_record, .ended = on_child_ended,
		.idle = on_children_idle, .arg = d,
	};
	int r;

	pool_init(&d->pool, d->cfg.nports);
	d->unknown_warnings = (struct ratelimit){
		.interval_ms = UNKNOWN_WARN_WINDOW_MS,
		.burst = UNKNOWN_WARN_BURST,
	};
	r = supervisor_new(d->event, (size_t)d->cfg.max_children,
	    sizeof(struct check_report), &hooks, &d->sup);
	if (r < 0)
		return r;
	r = sd_event_add_time(d->event, &d->scan_timer, CLOCK_MONOTONIC,
	    0, 1000, on_scan_timer, d);
	if (r < 0)
		return r;
	r = sd_event_add_defer(d->event, &d->start_source, on_start_more, d);
	if (r < 0 || (r = sd_event_source_set_enabled(d->start_source,
	    SD_EVENT_OFF)) < 0)
		return r;
	return arm_timer(d->scan_timer, now_ms());
}

void
scan_shutdown(struct poolmond *d)
{
	d->stopping = true;
	supervisor_free(d->sup);
	d->sup = NULL;
	d->scan_timer = sd_event_source_disable_unref(d->scan_timer);
	d->start_source = sd_event_source_disable_unref(d->start_source);
	pool_free(&d->pool);
	clear_recheck(d);
}
