/*
 * The scan engine. At each interval (start to start) it reads the pool
 * from the router, starts one check process per backend with at most
 * --max-children alive (supervise.c), spread over the interval (each
 * backend at its own offset, as HAProxy's spread-checks), stores their
 * reports, and has each backend judged and acted on as its result
 * arrives (batched per turn of the event loop): detection does not wait
 * for the rest of the pool. When every backend is done it tells whoever
 * listens.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

#include "child.h"

#include "actions.h"
#include "fleet.h"
#include "lean.h"
#include "log.h"
#include "owner.h"
#include "ptr.h"
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
 * The share of the interval a scan's checks are spread over: the rest is
 * left for the last ones to end before the next scan.
 */
#define SPREAD_PERCENT		80
/*
 * How late a spread check may start: those due within it start in one
 * wake-up of the daemon and of the spawn server, not one each (at 200
 * backends and -i 10, two or three at a time: the daemon's CPU a check
 * a quarter less, docs/performance.md). At most a tenth of the spread,
 * so that a short interval keeps its spread.
 */
#define SPREAD_SLACK_MS		100
/*
 * Addresses a recheck may queue; beyond, the recheck is of every backend,
 * which covers them: clients asking faster than scans run cannot grow it.
 */
#define RECHECK_QUEUE_MAX	4096
/* Warnings about checks poolmond itself could not make, per minute. */
#define UNKNOWN_WARN_BURST	10
#define UNKNOWN_WARN_WINDOW_MS	60000

/* The spread timer's accuracy (sd-event coalesces within it), in us. */
static uint64_t
spread_slack_us(int64_t spread_ms)
{
	int64_t slack = spread_ms / 10;

	if (slack > SPREAD_SLACK_MS)
		slack = SPREAD_SLACK_MS;
	return (uint64_t)(slack > 1 ? slack : 1) * 1000;
}

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
router_outage(struct scan *s, const char *what, const char *why)
{
	/* The warning comes once an outage; each try is said in debug. */
	log_debug("no host list at this scan: %s", why);
	if (!s->view->down)
		log_warnx("%s %s: %s %s; poolmond keeps trying every scan",
		    router_kind_str(router_kind(s->router)), s->router->target,
		    what, why);
	s->view->down = true;
	s->view->gate_unknown = true;
	str_copy(s->view->error, why, sizeof(s->view->error));
}

static int
merge_host_list(struct scan *s, struct router_host_list *list)
{
	char dup_ip[INET6_ADDRSTRLEN];
	size_t dups;
	int r;

	r = pool_merge(s->pool, list, s->started_ms, &dups, dup_ip,
	    sizeof(dup_ip));
	if (r < 0) {
		log_warnx("host list: %s; keeping the last one",
		    strerror(-r));
		return r;
	}
	if (dups > 0)
		log_warnx("the host list names %s (and maybe others) more "
		    "than once: %zu duplicate entr%s ignored, the first kept",
		    dup_ip, dups, dups == 1 ? "y" : "ies");
	owner_derive_all(s->pool, s->state, s->cfg->adopt_down,
	    s->list_asked_ms);
	return 0;
}

/*
 * The host list is asked for at each scan's start and the scan goes on
 * when it comes (scan_listed), on the event loop: a director that stalls
 * never blocks poolmonctl or the watchdog.
 */
static int
host_list_result(struct scan *s, const struct router_result *res)
{
	char what[64];

	if (res->error < 0) {
		snprintf(what, sizeof(what), "%s failed:", res->what != NULL ?
		    res->what : "listing");
		router_outage(s, res->unreachable ? "unreachable:" : what,
		    res->err);
		return res->error;
	}
	if (s->view->down)
		log_info("%s %s reachable again",
		    router_kind_str(router_kind(s->router)), s->router->target);
	s->view->down = false;
	s->view->error[0] = '\0';
	return merge_host_list(s, res->list);
}

/* A check poolmond could not make: said, within bounds, and counted. */
static void
note_unknown(struct scan *s, const struct backend *b)
{
	unsigned int suppressed;

	const char *why = b->reason != NULL ? b->reason : "unknown";
	const struct log_fields f = { .host = b->dh.ip, .event = "unknown",
	    .reason = why };

	s->checks_unknown++;
	if (!ratelimit_allow(&s->unknown_warnings, now_ms(), &suppressed))
		return;
	log_warnx_f(&f, "%s not checked: %s; poolmond's own fault, not the "
	    "backend's: no action%s", b->dh.ip, why, suppressed > 0 ?
	    " (more such lines were not logged)" : "");
}

/* A backend's health changed: for poolmonctl watch. */
static void
note_verdict(struct scan *s, const struct backend *b)
{
	static const char *const names[] = {
		[HEALTH_UNCHECKED] = "unchecked", [HEALTH_OK] = "ok",
		[HEALTH_FAILED] = "failed", [HEALTH_UNKNOWN] = "unknown",
	};
	const struct pool_event ev = { .event = "verdict", .host = b->dh.ip,
	    .detail = names[b->health], .reason = b->health == HEALTH_OK ?
	    NULL : b->reason };

	event_emit(&s->events, &ev);
}

static void
log_ports(const struct scan *s, const struct backend *b)
{
	size_t i;

	for (i = 0; i < s->cfg->nports; i++) {
		const struct port_state *res = &b->ports[i];
		const struct portspec *p = &s->cfg->ports[i];
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
finish_backend(struct scan *s, size_t idx, const char *why_missing,
    enum check_status missing_status)
{
	struct backend *b = &s->pool->backends[idx];
	enum health was;
	size_t i;

	for (i = 0; i < s->cfg->nports; i++) {
		if (!(b->reported & (1u << i))) {
			struct check_result missing = { .status =
			    missing_status };

			str_copy(missing.reason, why_missing,
			    sizeof(missing.reason));
			(void)port_state_set(&b->ports[i], &missing);
		}
	}
	log_ports(s, b);
	was = b->health;
	backend_judge(b, s->cfg->ports, s->cfg->nports);
	if (b->health == HEALTH_UNKNOWN)
		note_unknown(s, b);
	if (b->health != was)
		note_verdict(s, b);
	b->last_check = time(NULL);
	b->pid = 0;
	s->finished++;
	if (b->health == HEALTH_OK)
		s->passed++;
	/* Judged at the end of this turn of the loop, with whatever else
	 * ended in it. */
	b->fresh = true;
	b->result_scan = s->scan_id;
	(void)sd_event_source_set_enabled(s->judge_source, SD_EVENT_ONESHOT);
}

/*
 * What a check process is asked to check, as the spawn server gets it:
 * the rest (ports, check environment, sandbox) it has from the daemon it
 * was forked from.
 */
struct check_request {
	uint32_t scan_id;
	uint32_t backend;
	bool tls_seen;
	bool has_ptr_name;
	char ip[INET6_ADDRSTRLEN];
	char ptr_name[PTR_NAME_MAX];
};

/* In the spawn server, once: the sandbox every check process inherits. */
static void
server_enter(void *arg)
{
	const struct scan *s = arg;

	/* As the daemon does once started (lean.h): forked before that. */
	(void)lean_release_tables();
	/* Hostile input ahead, in its children: an unprivileged user under
	 * seccomp. */
	sandbox_enter(s->sandbox);
}

/* In a check process, forked by the spawn server. */
static void
check_body(void *arg, const void *data, size_t len, int report_fd,
    int64_t hard_deadline)
{
	const struct scan *s = arg;
	struct check_request req;
	struct check_job job;

	if (len != sizeof(req))
		_exit(1);
	memcpy(&req, data, sizeof(req));
	req.ip[sizeof(req.ip) - 1] = '\0';
	req.ptr_name[sizeof(req.ptr_name) - 1] = '\0';
	sandbox_check_process(s->sandbox);
	job = (struct check_job){
		.env = s->env, .ports = s->cfg->ports,
		.nports = s->cfg->nports, .ip = req.ip,
		.ptr_name = req.has_ptr_name ? req.ptr_name : NULL,
		.tls_seen = req.tls_seen, .scan_id = req.scan_id,
		.backend = req.backend,
	};
	child_run(&job, report_fd, hard_deadline);
}

/*
 * In the spawn server: the daemon's new credentials (scan_credentials),
 * "USER\0PASSWORD\0".
 */
static void
server_update(void *arg, const void *data, size_t len)
{
	struct scan *s = arg;
	const char *user = data, *pass;
	size_t ulen;

	if (len == 0 || ((const char *)data)[len - 1] != '\0' ||
	    (ulen = strlen(user)) + 1 >= len)
		return;
	pass = user + ulen + 1;
	credentials_clear(&s->env->creds);
	s->env->creds.username = strdup(user);
	s->env->creds.password = strdup(pass);
	if (s->env->creds.username == NULL || s->env->creds.password == NULL)
		credentials_clear(&s->env->creds);
}

void
scan_credentials(struct scan *s)
{
	const struct credentials *c = &s->env->creds;
	char buf[SPAWN_DATA_MAX];
	size_t ulen, plen;

	if (s->sup == NULL || c->username == NULL || c->password == NULL)
		return;
	ulen = strlen(c->username) + 1;
	plen = strlen(c->password) + 1;
	/* Never too long (CREDFILE_MAX is smaller); if it were, the
	 * server would be started again, from the daemon as it is now. */
	if (ulen + plen <= sizeof(buf)) {
		memcpy(buf, c->username, ulen);
		memcpy(buf + ulen, c->password, plen);
	}
	supervisor_update(s->sup, buf, ulen + plen);
	explicit_bzero(buf, sizeof(buf));
}

/* Called only when supervisor_can_spawn(): any error ends the check. */
static int
start_child(struct scan *s, size_t idx, const char *ptr_name)
{
	struct backend *b = &s->pool->backends[idx];
	struct check_request req;
	char why[CHECK_REASON_MAX];
	int r;

	memset(&req, 0, sizeof(req));
	req.scan_id = s->scan_id;
	req.backend = (uint32_t)idx;
	req.tls_seen = b->tls_seen;
	str_copy(req.ip, b->dh.ip, sizeof(req.ip));
	if (ptr_name != NULL) {
		req.has_ptr_name = true;
		str_copy(req.ptr_name, ptr_name, sizeof(req.ptr_name));
	}
	r = supervisor_spawn(s->sup, idx, child_budget_ms(s->env), &req,
	    sizeof(req));
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot fork a check process: %s",
		    strerror(-r));
		finish_backend(s, idx, why, CHECK_ECHILD);
		return r;
	}
	/* Asked for: its reports count from now, its pid comes later. */
	b->pid = -1;
	return 0;
}

static void
on_child_started(void *arg, size_t idx, pid_t pid)
{
	struct scan *s = arg;

	if (!s->stopping && idx < s->pool->n)
		s->pool->backends[idx].pid = pid;
}

/*
 * Whether the next backend of the scan is due: the k-th of n starts at
 * k/n of the spread (0 for a recheck and the first scan: at once). Not
 * due: the spread timer is set for it.
 */
static bool
due(struct scan *s)
{
	int64_t at;

	if (s->spread_ms == 0 || s->selected == 0)
		return true;
	at = s->started_ms + s->spread_ms * (int64_t)s->started /
	    (int64_t)s->selected;
	if (now_ms() >= at)
		return true;
	(void)arm_timer(s->spread_timer, at);
	return false;
}

static void scan_finish(struct scan *s);

/* ---- PTR names (resolver.h): the hooks of the scan ---- */

/*
 * Whether b's check process may be forked now, with its PTR name (NULL:
 * verify the address): once its lookup has answered or met its deadline.
 */
static bool
name_ready(struct scan *s, const struct backend *b,
    const char **ptr_name)
{
	*ptr_name = NULL;
	return s->resolver == NULL ||
	    resolver_name(s->resolver, b->dh.ip, ptr_name) == 1;
}

/* Every lookup of the scan starts with it, not as each turn comes. */
static void
ask_names(struct scan *s)
{
	const char *name;
	size_t i;

	s->awaiting_names = 0;
	for (i = 0; s->resolver != NULL && i < s->pool->n; i++) {
		s->pool->backends[i].awaiting_name = false;
		if (backend_in_scan(&s->pool->backends[i], s->scan_id))
			(void)resolver_name(s->resolver,
			    s->pool->backends[i].dh.ip, &name);
	}
}

void
scan_names_ready(void *arg)
{
	struct scan *s = arg;

	/* Forked from the loop, not from within the resolver. */
	if (s->scanning && s->awaiting_names > 0)
		(void)sd_event_source_set_enabled(s->start_source,
		    SD_EVENT_ONESHOT);
}

/*
 * The next backend of the scan to fork and its PTR name: first one whose
 * name came while it waited, then the next in order; one whose lookup is
 * in flight waits, and the others go ahead. -1: none to fork now.
 */
static int
next_to_fork(struct scan *s, size_t *idx, const char **ptr_name)
{
	struct backend *b;
	size_t i;

	for (i = 0; s->awaiting_names > 0 && i < s->pool->n; i++) {
		b = &s->pool->backends[i];
		if (b->awaiting_name && name_ready(s, b, ptr_name)) {
			b->awaiting_name = false;
			s->awaiting_names--;
			*idx = i;
			return 0;
		}
	}
	while (s->next_to_start < s->pool->n) {
		i = s->next_to_start;
		b = &s->pool->backends[i];
		if (!backend_in_scan(b, s->scan_id)) {
			s->next_to_start++;
			continue;
		}
		if (!due(s))
			return -1;
		s->next_to_start++;
		s->started++;
		if (name_ready(s, b, ptr_name)) {
			*idx = i;
			return 0;
		}
		b->awaiting_name = true;
		s->awaiting_names++;
	}
	return -1;
}

/* ---- end of the PTR name hooks ---- */


static void
start_children(struct scan *s)
{
	size_t idx, started = 0;
	const char *ptr_name;

	while ((s->next_to_start < s->pool->n || s->awaiting_names > 0) &&
	    supervisor_can_spawn(s->sup)) {
		if (started == START_BATCH) {
			/* The rest after the events pending now. */
			(void)sd_event_source_set_enabled(s->start_source,
			    SD_EVENT_ONESHOT);
			break;
		}
		if (next_to_fork(s, &idx, &ptr_name) < 0)
			break;
		if (start_child(s, idx, ptr_name) == 0)
			started++;
	}
	if (s->scanning && s->finished == s->selected)
		scan_finish(s);
}

static int
on_start_more(sd_event_source *src, void *arg)
{
	struct scan *s = arg;

	(void)src;
	if (!s->stopping)
		start_children(s);
	return 0;
}

static int
on_spread_timer(sd_event_source *src, uint64_t usec, void *arg)
{
	struct scan *s = arg;

	(void)src;
	(void)usec;
	if (!s->stopping && s->scanning)
		start_children(s);
	return 0;
}

static void
schedule_next_scan(struct scan *s)
{
	int64_t now = now_ms();

	/* A recheck does not move the interval's schedule. */
	if (!s->is_recheck) {
		s->next_scan_at = s->interval_started +
		    (int64_t)s->cfg->interval_s * 1000;
		if (s->next_scan_at < now) {
			log_warnx("scan took %lld ms, longer than the %d s "
			    "interval; starting the next one at once",
			    (long long)(now - s->interval_started),
			    s->cfg->interval_s);
			s->next_scan_at = now;
		}
	}
	/* A recheck asked for meanwhile runs at once; the interval's next
	 * scan keeps its time all the same. */
	arm_timer(s->timer, s->recheck_pending ||
	    s->next_scan_at < now ? now : s->next_scan_at);
}

static void
tell_scan_done(struct scan *s, bool scanned)
{
	/* The fleet hears after every scan, and while the director is
	 * away too: a monitor that cannot act is still alive. */
	if (s->fleet != NULL)
		fleet_scan_done(s->fleet, s->scans_completed,
		    !s->view->down && !s->view->gate_unknown && s->view->can_act);
	if (s->hooks.done != NULL)
		s->hooks.done(s->hooks.arg, scanned);
}

static void
note_scan(struct scan *s, const struct pool_counts *c, int64_t took)
{
	char summary[128];
	const struct pool_event ev = { .event = "scan", .detail = summary };

	snprintf(summary, sizeof(summary), "%zu backends, %zu failed, %zu "
	    "unknown, %lld ms", s->selected, c->failed, c->unknown,
	    (long long)took);
	event_emit(&s->events, &ev);
}

/* The scan's actions are done: the scan is. */
static void
scan_acted(void *arg)
{
	struct scan *s = arg;
	struct pool_counts c;
	int64_t took;

	s->scanning = false;
	if (s->tls_unsaved && owner_state_save(s->state) == 0)
		s->tls_unsaved = false;
	pool_count(s->pool, &c);
	took = now_ms() - s->started_ms;
	s->scans_completed++;
	s->last_scan_ms = took;
	s->last_scan_end = time(NULL);
	log_debug("scan complete: %zu backends, %zu failed, %zu unknown, "
	    "%lld ms", s->selected, c.failed, c.unknown, (long long)took);
	note_scan(s, &c, took);
	tell_scan_done(s, true);
	if (!s->stopping)
		schedule_next_scan(s);
}

static void
scan_finish(struct scan *s)
{
	/* Once a scan: its actions may still be on their way. */
	if (s->finishing)
		return;
	s->finishing = true;
	actions_scan_done(s->actions, s->scan_id, scan_acted, s);
}

/* Results of this turn of the loop: judged and acted on now. */
static int
on_judge(sd_event_source *src, void *arg)
{
	struct scan *s = arg;

	(void)src;
	if (s->stopping)
		return 0;
	actions_judge(s->actions, s->scan_id, s->scanning &&
	    s->passed == 0 && s->finished < s->selected);
	/* Peers hear of a verdict when it changes, not at the scan's end. */
	if (s->fleet != NULL)
		fleet_verdicts_changed(s->fleet);
	return 0;
}

void
scan_judge_soon(struct scan *s)
{
	if (s->judge_source != NULL && !s->stopping)
		(void)sd_event_source_set_enabled(s->judge_source,
		    SD_EVENT_ONESHOT);
}

static void
clear_recheck(struct scan *s)
{
	size_t i;

	for (i = 0; i < s->nrecheck_ips; i++)
		free(s->recheck_ips[i]);
	free(s->recheck_ips);
	s->recheck_ips = NULL;
	s->nrecheck_ips = 0;
	s->recheck_pending = false;
}

/* Mark the backends of scan s->scan_id: all, or a recheck request's. */
static void
select_backends(struct scan *s)
{
	struct backend *b;
	size_t i;

	if (s->nrecheck_ips == 0) {
		for (i = 0; i < s->pool->n; i++)
			s->pool->backends[i].scanned_in = s->scan_id;
		s->selected = s->pool->n;
		return;
	}
	s->selected = 0;
	for (i = 0; i < s->nrecheck_ips; i++) {
		if ((b = pool_find(s->pool, s->recheck_ips[i])) != NULL &&
		    !backend_in_scan(b, s->scan_id)) {
			b->scanned_in = s->scan_id;
			s->selected++;
		}
	}
}

static void
scan_abort(struct scan *s)
{
	clear_recheck(s);
	schedule_next_scan(s);
	tell_scan_done(s, false);
}

static void
scan_listed(const struct router_result *res, void *arg)
{
	struct scan *s = arg;

	s->listing = false;
	if (s->stopping)
		return;
	if (host_list_result(s, res) < 0) {
		scan_abort(s);
		return;
	}
	/* Reachable again: status need not wait for an action to know.
	 * A fleet asks every scan: its peers hear whether this monitor can
	 * act, and --fleet-peer=ring follows the ring's members. */
	if (s->view->gate_unknown || s->fleet != NULL)
		actions_gate_refresh(s->actions);
	s->scan_id++;
	select_backends(s);
	ask_names(s);
	clear_recheck(s);
	s->scanning = true;
	s->finishing = false;
	s->next_to_start = 0;
	s->started = 0;
	s->finished = 0;
	s->passed = 0;
	/* The interval's scans spread their checks; a recheck is wanted
	 * now, and the first scan says at once what the pool is like. */
	s->spread_ms = s->is_recheck || s->scans_completed == 0 ? 0 :
	    (int64_t)s->cfg->interval_s * 1000 * SPREAD_PERCENT / 100;
	if (s->spread_ms > 0)
		(void)sd_event_source_set_time_accuracy(s->spread_timer,
		    spread_slack_us(s->spread_ms));
	log_debug("scan %u: %zu of %zu backends", s->scan_id, s->selected,
	    s->pool->n);
	start_children(s);
}

static void
scan_start(struct scan *s)
{
	int r;

	if (s->scanning || s->listing || s->stopping)
		return;
	s->started_ms = now_ms();
	s->list_asked_ms = wall_ms();
	s->is_recheck = s->recheck_pending;
	if (!s->is_recheck)
		s->interval_started = s->started_ms;
	if ((r = router_list(s->router, 0, scan_listed, s)) < 0) {
		router_outage(s, "listing failed:", strerror(-r));
		scan_abort(s);
		return;
	}
	s->listing = true;
}

static int
on_scan_timer(sd_event_source *src, uint64_t usec, void *arg)
{
	(void)src;
	(void)usec;
	scan_start(arg);
	return 0;
}

/* What a login check learnt of the backend's TLS. */
static void
note_tls(struct scan *s, struct backend *b, const struct check_result *res)
{
	if (res->tls_offered && !b->tls_seen) {
		b->tls_seen = true;
		/* Remembered across restarts (saved at the scan's end):
		 * checked before every login from now on. */
		if (state_tls_mark(s->state, b->dh.ip) > 0)
			s->tls_unsaved = true;
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
	struct scan *s = arg;
	const struct check_report *rep = record;
	int r = pool_store_report(s->pool, s->scan_id, rep);

	if (r == 0)
		note_tls(s, &s->pool->backends[rep->backend], &rep->result);
	else if (r == -EINVAL)
		log_warnx("ignoring a malformed check report");
	else if (r == -ENOMEM)
		log_warnx("out of memory for a check result");
}

static void
on_child_ended(void *arg, size_t idx, enum child_end how, int code)
{
	struct scan *s = arg;
	enum check_status st = CHECK_ECHILD;
	char why[96];

	if (s->stopping)
		return;
	switch (how) {
	case CHILD_KILLED:
		snprintf(why, sizeof(why), "check killed at its deadline "
		    "(%lld ms)", (long long)child_budget_ms(s->env) +
		    CHILD_KILL_GRACE_MS);
		st = CHECK_EKILLED;
		break;
	case CHILD_STOPPED:
		snprintf(why, sizeof(why), "check process stopped (a signal "
		    "or a tracer) past its deadline, killed");
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
	case CHILD_UNSTARTED:
		if (code != 0)
			snprintf(why, sizeof(why), "cannot fork a check "
			    "process: %s", strerror(code));
		else
			snprintf(why, sizeof(why), "cannot fork a check "
			    "process: the spawn server was lost");
		break;
	}
	finish_backend(s, idx, why, st);
	if (s->scanning && s->finished == s->selected)
		scan_finish(s);
}

static void
on_children_idle(void *arg)
{
	struct scan *s = arg;

	if (!s->stopping && s->scanning)
		start_children(s);
}

int
scan_request(struct scan *s, const char *const *ips, size_t nips)
{
	size_t i;
	char **copy;

	/* A pending full recheck already covers any subset. */
	if (s->recheck_pending && s->nrecheck_ips == 0)
		return 0;
	if (nips == 0 || s->nrecheck_ips + nips > RECHECK_QUEUE_MAX)
		clear_recheck(s);
	else {
		copy = reallocarray(s->recheck_ips, s->nrecheck_ips + nips,
		    sizeof(*copy));
		if (copy == NULL)
			return -ENOMEM;
		s->recheck_ips = copy;
		for (i = 0; i < nips; i++) {
			if ((copy[s->nrecheck_ips] = strdup(ips[i])) == NULL)
				return -ENOMEM;
			s->nrecheck_ips++;
		}
	}
	s->recheck_pending = true;
	if (!s->scanning)
		arm_timer(s->timer, now_ms());
	return 0;
}

int
scan_init(struct scan *s)
{
	const struct supervisor_hooks hooks = {
		.record = on_record, .ended = on_child_ended,
		.started = on_child_started, .idle = on_children_idle,
		.arg = s,
	};
	const struct spawn_server_conf server = {
		.enter = server_enter, .body = check_body,
		.update = server_update, .ctx = s,
	};
	int r;

	s->unknown_warnings = (struct ratelimit){
		.interval_ms = UNKNOWN_WARN_WINDOW_MS,
		.burst = UNKNOWN_WARN_BURST,
	};
	r = supervisor_new(s->event, (size_t)s->cfg->max_children,
	    sizeof(struct check_report), &hooks, &server, &s->sup);
	if (r < 0)
		return r;
	r = sd_event_add_time(s->event, &s->timer, CLOCK_MONOTONIC,
	    0, 1000, on_scan_timer, s);
	if (r < 0)
		return r;
	r = sd_event_add_defer(s->event, &s->start_source, on_start_more, s);
	if (r < 0 || (r = sd_event_source_set_enabled(s->start_source,
	    SD_EVENT_OFF)) < 0)
		return r;
	/* After the loop's other events: a turn's results judged at once. */
	r = sd_event_add_post(s->event, &s->judge_source, on_judge, s);
	if (r < 0 || (r = sd_event_source_set_enabled(s->judge_source,
	    SD_EVENT_OFF)) < 0)
		return r;
	r = sd_event_add_time(s->event, &s->spread_timer, CLOCK_MONOTONIC,
	    0, 1000, on_spread_timer, s);
	if (r < 0 || (r = sd_event_source_set_enabled(s->spread_timer,
	    SD_EVENT_OFF)) < 0)
		return r;
	return arm_timer(s->timer, now_ms());
}

uint64_t
scan_children_forked(const struct scan *s)
{
	return s->sup != NULL ? supervisor_forked(s->sup) : 0;
}

void
scan_shutdown(struct scan *s)
{
	s->stopping = true;
	supervisor_free(s->sup);
	s->sup = NULL;
	s->timer = sd_event_source_disable_unref(s->timer);
	s->start_source = sd_event_source_disable_unref(s->start_source);
	s->judge_source = sd_event_source_disable_unref(s->judge_source);
	s->spread_timer = sd_event_source_disable_unref(s->spread_timer);
	clear_recheck(s);
}
