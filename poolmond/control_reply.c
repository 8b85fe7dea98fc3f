/*
 * Reply messages of the control socket. A status or recheck reply lists
 * backends; with thousands of them it is split into parts of at most
 * CTL_PART_TARGET bytes, and each part is built and packed only when the
 * client has read the one before (ctl_stream_next), so a slow or large
 * reply costs the daemon one part's memory, not the whole table's.
 */
#include "control_reply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fleet_status.h"
#include "frame.h"
#include "util.h"
#include "version.h"

/* A backend's field tag and length inside its part, generously. */
#define CTL_EMBED_OVERHEAD	8
/* Backends built per part at most; parts end at CTL_PART_TARGET first. */
#define CTL_STREAM_BATCH	256

void
ctl_response_init(Poolmon__Response *resp, uint64_t id, bool success)
{
	poolmon__response__init(resp);
	resp->version = POOLMON__PROTOCOL__PROTOCOL_VERSION;
	resp->id = id;
	resp->success = success;
}

/* ------------------------------------------------------------------ */
/* Reply messages */

static Poolmon__Health
health_msg(enum health h)
{
	switch (h) {
	case HEALTH_OK: return POOLMON__HEALTH__HEALTH_OK;
	case HEALTH_FAILED: return POOLMON__HEALTH__HEALTH_FAILED;
	case HEALTH_UNKNOWN: return POOLMON__HEALTH__HEALTH_UNDETERMINED;
	case HEALTH_UNCHECKED: break;
	}
	return POOLMON__HEALTH__HEALTH_UNKNOWN;
}

static Poolmon__Owner
owner_msg(enum owner o)
{
	switch (o) {
	case OWNER_POOLMOND: return POOLMON__OWNER__OWNER_POOLMOND;
	case OWNER_OPERATOR: return POOLMON__OWNER__OWNER_OPERATOR;
	case OWNER_HOLD: return POOLMON__OWNER__OWNER_HOLD;
	case OWNER_NONE: break;
	}
	return POOLMON__OWNER__OWNER_NONE;
}

static void
fill_port_check(Poolmon__PortCheck *m, const struct portspec *p,
    const struct port_state *res, bool checked)
{
	poolmon__port_check__init(m);
	m->port = p->port;
	m->protocol = (char *)mail_proto_name(p->proto, false);
	SET(m, tls, p->tls);
	SET(m, checked, checked);
	if (!checked)
		return;
	SET(m, ok, res->status == CHECK_OK);
	m->status = (char *)check_status_str(res->status);
	if (res->reason != NULL)
		m->reason = res->reason;
	SET(m, latency_ms, res->latency_ms);
	SET(m, tries, res->tries);
	SET(m, warning, res->warning);
}

int
backend_set_alloc(struct backend_set *set, size_t cap, size_t nports)
{
	size_t m = cap > 0 ? cap : 1, c = m * (nports > 0 ? nports : 1);

	memset(set, 0, sizeof(*set));
	set->msg = calloc(m, sizeof(*set->msg));
	set->ptr = calloc(m, sizeof(*set->ptr));
	set->size = calloc(m, sizeof(*set->size));
	set->checks = calloc(c, sizeof(*set->checks));
	set->checkp = calloc(c, sizeof(*set->checkp));
	if (set->msg == NULL || set->ptr == NULL || set->size == NULL ||
	    set->checks == NULL || set->checkp == NULL) {
		backend_set_free(set);
		return -ENOMEM;
	}
	set->cap = m;
	return 0;
}

/* The last backend added goes again (it did not fit). */
static void
backend_set_drop_last(struct backend_set *set)
{
	fleet_status_free_backend(&set->msg[--set->n]);
}

void
backend_set_clear(struct backend_set *set)
{
	while (set->n > 0)
		backend_set_drop_last(set);
}

void
backend_set_free(struct backend_set *set)
{
	backend_set_clear(set);
	free(set->msg);
	free(set->ptr);
	free(set->size);
	free(set->checks);
	free(set->checkp);
	memset(set, 0, sizeof(*set));
}

/* Failed scans in a row while still up: failing, not yet down. */
static uint32_t
failing_count(const struct backend *b)
{
	if (!b->dh.up || b->health != HEALTH_FAILED || b->owner == OWNER_HOLD)
		return 0;
	return b->fail_count;
}

/* Healthy scans in a row while down and poolmond's to bring up. */
static uint32_t
rising_count(const struct config *cfg, const struct backend *b)
{
	if (b->dh.up || b->health != HEALTH_OK)
		return 0;
	if (b->owner != OWNER_POOLMOND &&
	    !(b->owner == OWNER_OPERATOR && cfg->adopt_down))
		return 0;
	return b->ok_count;
}

/* Whose the host's state is and why; a hold's details from the state. */
static void
fill_ownership(Poolmon__Backend *m, const struct control_ctx *ctx,
    const struct backend *b)
{
	const struct state_entry *e;

	m->owner = (char *)owner_str(b->owner);
	SET(m, ownership, owner_msg(b->owner));
	if (b->owner == OWNER_HOLD &&
	    (e = state_find(ctx->state, b->dh.ip)) != NULL &&
	    e->owner == OWNER_HOLD) {
		m->hold_reason = (char *)e->hold.reason;
		SET(m, hold_uid, (uint32_t)e->hold.uid);
		SET(m, hold_since, (int64_t)e->hold.since);
		SET(m, hold_flush, e->hold.flush);
	}
	SET(m, failing_count, failing_count(b));
	SET(m, rising_count, rising_count(ctx->cfg, b));
	SET(m, spared, b->spared);
}

int
backend_set_add(struct backend_set *set, const struct control_ctx *ctx,
    const struct backend *b)
{
	const struct config *cfg = ctx->cfg;
	size_t i, at = set->n * cfg->nports;
	Poolmon__Backend *m = &set->msg[set->n];

	poolmon__backend__init(m);
	m->address = (char *)b->dh.ip;
	m->tag = (char *)b->dh.tag;
	SET(m, director_up, b->dh.up);
	if (b->dh.has_vhosts)
		SET(m, vhost_count, b->dh.vhost_count);
	if (b->dh.state != ROUTER_STATE_NONE)
		SET(m, router_state, b->dh.state);
	SET(m, users, b->dh.user_count);
	SET(m, health, health_msg(b->health));
	if (b->reason != NULL)
		m->reason = b->reason;
	SET(m, last_check, (int64_t)b->last_check);
	SET(m, flush_pending, b->flush_pending);
	SET(m, last_updown_change, (int64_t)b->dh.last_updown_change);
	fill_ownership(m, ctx, b);
	for (i = 0; i < cfg->nports; i++) {
		fill_port_check(&set->checks[at + i], &cfg->ports[i],
		    &b->ports[i], b->last_check != 0);
		set->checkp[at + i] = &set->checks[at + i];
	}
	m->n_checks = cfg->nports;
	m->checks = &set->checkp[at];
	if (fleet_status_backend(ctx->fleet, b->dh.ip, m) < 0) {
		fleet_status_free_backend(m);
		return -ENOMEM;
	}
	set->size[set->n] = poolmon__backend__get_packed_size(m);
	set->ptr[set->n] = m;
	set->n++;
	return 0;
}

static void
count_backends(const struct pool *pool, Poolmon__Summary *s)
{
	struct pool_counts c;

	pool_count(pool, &c);
	SET(s, backends_total, (uint32_t)pool->n);
	SET(s, backends_healthy, (uint32_t)c.healthy);
	SET(s, backends_failed, (uint32_t)c.failed);
	SET(s, backends_unchecked, (uint32_t)c.unchecked);
	SET(s, backends_unknown, (uint32_t)c.unknown);
	SET(s, director_up, (uint32_t)c.director_up);
	SET(s, director_down, (uint32_t)(pool->n - c.director_up));
}

/* The safety policy and what it did at the last scan. */
static void
fill_safety(Poolmon__Summary *s, const struct config *cfg,
    const struct daemon_summary *sum)
{
	SET(s, guard_active, sum->guard_active);
	SET(s, all_failed, sum->all_failed);
	SET(s, ring_synced, sum->ring_synced);
	SET(s, ring_state, !sum->director_reachable || !sum->ring_known ?
	    POOLMON__RING_STATE__RING_UNKNOWN : sum->ring_synced ?
	    POOLMON__RING_STATE__RING_SYNCED :
	    POOLMON__RING_STATE__RING_NOT_SYNCED);
	SET(s, fall, (uint32_t)cfg->fall);
	SET(s, rise, (uint32_t)cfg->rise);
	SET(s, max_down_pct, (uint32_t)cfg->max_down_pct);
	SET(s, adopt_down, cfg->adopt_down);
}

/*
 * What routes users. Its strings outlive the loop's turn: the kind is
 * static, the target the router's for the daemon's life, the gate's
 * state copied (it changes).
 */
static int
fill_router(Poolmon__Summary *s, const struct daemon_summary *sum)
{
	Poolmon__Router *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	poolmon__router__init(r);
	r->kind = (char *)sum->router_kind;
	r->target = (char *)(sum->router_target != NULL ?
	    sum->router_target : "");
	SET(r, reachable, sum->director_reachable);
	if (sum->ring_known && sum->director_reachable) {
		SET(r, can_act, sum->ring_synced);
		if (sum->act_state != NULL && sum->act_state[0] != '\0' &&
		    (r->act_state = strdup(sum->act_state)) == NULL) {
			free(r);
			return -ENOMEM;
		}
	}
	s->router = r;
	return 0;
}

/* What fill_summary() allocated. */
static void
free_summary(Poolmon__Summary *s)
{
	if (s->router != NULL) {
		free(s->router->act_state);
		free(s->router);
		s->router = NULL;
	}
	fleet_status_free_summary(s);
}

/* The summary with the fleet's line: 0, or -ENOMEM with nothing to free. */
static int
fill_summary(Poolmon__Summary *s, const struct control_ctx *ctx)
{
	const struct config *cfg = ctx->cfg;
	struct daemon_summary sum;
	struct rusage ru;

	summary_read(&ctx->summary, &sum);
	poolmon__summary__init(s);
	s->daemon_version = (char *)POOLMON_VERSION;
	SET(s, pid, (uint32_t)getpid());
	if (sum.started != 0)
		SET(s, started, (int64_t)sum.started);
	s->director_socket = (char *)cfg->director_socket;
	SET(s, director_reachable, sum.director_reachable);
	if (!sum.director_reachable)
		s->director_error = (char *)sum.director_error;
	SET(s, dry_run, sum.dry_run);
	SET(s, interval_s, (uint32_t)cfg->interval_s);
	SET(s, scanning, sum.scanning);
	SET(s, scans_completed, sum.scans_completed);
	if (sum.has_children_forked)
		SET(s, children_forked, sum.children_forked);
	SET(s, checks_unknown, sum.checks_unknown);
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
		SET(s, child_maxrss_kb, (uint64_t)ru.ru_maxrss);
	SET(s, last_scan_end, (int64_t)sum.last_scan_end);
	SET(s, last_scan_ms, (uint32_t)sum.last_scan_ms);
	count_backends(ctx->pool, s);
	fill_safety(s, cfg, &sum);
	if (sum.router_kind != NULL && fill_router(s, &sum) < 0)
		return -ENOMEM;
	if (fleet_status_summary(ctx->fleet, s) < 0) {
		free_summary(s);
		return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Replies in parts */

static int
cmp_host(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Index of the first backend whose address sorts after "after". */
static size_t
first_after(const struct pool *pool, const char *after)
{
	size_t lo = 0, hi = pool->n, mid;

	if (after[0] == '\0')
		return 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(pool->backends[mid].dh.ip, after) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A recheck lists what it asked for that its scan, or a later one, checked. */
static bool
stream_lists(const struct ctl_stream *s, const struct backend *b)
{
	const char *ip = b->dh.ip;

	if (!s->recheck)
		return true;
	if ((int32_t)(b->scanned_in - s->scan_id) < 0)
		return false;
	return s->hosts == NULL ||
	    bsearch(&ip, s->hosts, s->nhosts, sizeof(*s->hosts), cmp_host);
}

static int
stream_begin(struct ctl_stream *s, const struct control_ctx *ctx,
    uint64_t id)
{
	memset(s, 0, sizeof(*s));
	if (backend_set_alloc(&s->set, CTL_STREAM_BATCH, ctx->cfg->nports) < 0)
		return -ENOMEM;
	s->active = true;
	s->first = true;
	s->id = id;
	return 0;
}

int
ctl_stream_status(struct ctl_stream *s, const struct control_ctx *ctx,
    uint64_t id)
{
	return stream_begin(s, ctx, id);
}

/* Requested addresses the scan did not check: the director lacks them. */
static int
stream_not_found(struct ctl_stream *s, const struct pool *pool)
{
	const struct backend *b;
	size_t i, off = 0;

	if ((s->not_found = calloc(s->nhosts + 1, sizeof(char *))) == NULL)
		return -ENOMEM;
	for (i = 0; i < s->nhosts; i++) {
		if ((b = pool_find(pool, s->hosts[i])) != NULL &&
		    backend_in_scan(b, s->scan_id))
			continue;
		s->not_found[s->nnot_found++] = s->hosts[i];
		if (off < sizeof(s->message))
			off += (size_t)snprintf(s->message + off,
			    sizeof(s->message) - off, "%s%s", s->nnot_found ==
			    1 ? "not in the director's host list: " : ", ",
			    s->hosts[i]);
	}
	return 0;
}

int
ctl_stream_recheck(struct ctl_stream *s, const struct control_ctx *ctx,
    uint64_t id, char **hosts, size_t nhosts)
{
	struct daemon_summary sum;
	int r = stream_begin(s, ctx, id);

	summary_read(&ctx->summary, &sum);
	s->recheck = true;
	s->scan_id = sum.scan_id;
	if (nhosts == 0)
		free(hosts);
	else {
		s->hosts = hosts;
		s->nhosts = nhosts;
		qsort(s->hosts, s->nhosts, sizeof(*s->hosts), cmp_host);
	}
	if (r == 0)
		r = stream_not_found(s, ctx->pool);
	if (r < 0)
		ctl_stream_end(s);
	return r;
}

void
ctl_stream_end(struct ctl_stream *s)
{
	size_t i;

	backend_set_free(&s->set);
	for (i = 0; i < s->nhosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
	free(s->not_found);
	memset(s, 0, sizeof(*s));
}

/*
 * The part's envelope, without backends: header fields and "more" set.
 * 0, or -ENOMEM with nothing to free.
 */
static int
stream_envelope(const struct ctl_stream *s, const struct control_ctx *ctx,
    Poolmon__Response *resp, Poolmon__StatusReply *status,
    Poolmon__Summary *summary, Poolmon__RecheckReply *recheck)
{
	ctl_response_init(resp, s->id, s->nnot_found == 0);
	/* Measured with "more" set: the parts differ in nothing else. */
	SET(resp, more, true);
	if (!s->recheck) {
		poolmon__status_reply__init(status);
		if (s->first) {
			if (fill_summary(summary, ctx) < 0)
				return -ENOMEM;
			status->summary = summary;
		}
		resp->result_case = POOLMON__RESPONSE__RESULT_STATUS;
		resp->status = status;
		return 0;
	}
	if (s->nnot_found > 0) {
		SET(resp, code, ENOENT);
		resp->message = (char *)s->message;
	}
	poolmon__recheck_reply__init(recheck);
	SET(recheck, queued, false);
	SET(recheck, scan_id, s->scan_id);
	if (s->first) {
		recheck->not_found = s->not_found;
		recheck->n_not_found = s->nnot_found;
	}
	resp->result_case = POOLMON__RESPONSE__RESULT_RECHECK;
	resp->recheck = recheck;
	return 0;
}

/*
 * Fill s->set from backend i on while the part stays under its target;
 * *next: the index of the first backend left for the next part. 0 or
 * -ENOMEM.
 */
static int
stream_fill(struct ctl_stream *s, const struct control_ctx *ctx, size_t i,
    size_t size, size_t *next)
{
	const struct pool *pool = ctx->pool;
	size_t add;

	backend_set_clear(&s->set);
	for (; i < pool->n && s->set.n < s->set.cap; i++) {
		if (!stream_lists(s, &pool->backends[i]))
			continue;
		if (backend_set_add(&s->set, ctx, &pool->backends[i]) < 0)
			return -ENOMEM;
		add = s->set.size[s->set.n - 1] + CTL_EMBED_OVERHEAD;
		if (s->set.n > 1 && size + add > CTL_PART_TARGET) {
			backend_set_drop_last(&s->set);
			break;
		}
		size += add;
	}
	while (i < pool->n && !stream_lists(s, &pool->backends[i]))
		i++;
	*next = i;
	return 0;
}

/* Queue the part made of resp and s->set; the last part ends s. */
static int
stream_part(struct ctl_stream *s, const struct control_ctx *ctx,
    struct ctl_outq *q, Poolmon__Response *resp,
    Poolmon__StatusReply *status, Poolmon__RecheckReply *recheck,
    size_t next)
{
	bool more = next < ctx->pool->n;
	int r;

	if (s->recheck) {
		recheck->backends = s->set.ptr;
		recheck->n_backends = s->set.n;
	} else {
		status->backends = s->set.ptr;
		status->n_backends = s->set.n;
	}
	resp->has_more = resp->more = more;
	if ((r = ctl_outq_push(q, resp)) < 0)
		return r;
	if (s->set.n > 0)
		str_copy(s->after, s->set.ptr[s->set.n - 1]->address,
		    sizeof(s->after));
	s->first = false;
	if (!more)
		ctl_stream_end(s);
	return 0;
}

int
ctl_stream_next(struct ctl_stream *s, const struct control_ctx *ctx,
    struct ctl_outq *q)
{
	Poolmon__Response resp;
	Poolmon__StatusReply status;
	Poolmon__Summary summary;
	Poolmon__RecheckReply recheck;
	bool with_summary = !s->recheck && s->first;
	size_t next;
	int r;

	if ((r = stream_envelope(s, ctx, &resp, &status, &summary,
	    &recheck)) < 0) {
		ctl_stream_end(s);
		return r;
	}
	r = stream_fill(s, ctx, first_after(ctx->pool, s->after),
	    poolmon__response__get_packed_size(&resp), &next);
	if (r == 0)
		r = stream_part(s, ctx, q, &resp, &status, &recheck, next);
	if (with_summary)
		free_summary(&summary);
	if (r < 0)
		ctl_stream_end(s);
	return r;
}
int
control_status_reply(const struct control_ctx *ctx, uint64_t id,
    struct ctl_outq *q)
{
	struct ctl_stream s;
	int r;

	if ((r = ctl_stream_status(&s, ctx, id)) < 0)
		return r;
	while (s.active)
		if ((r = ctl_stream_next(&s, ctx, q)) < 0)
			return r;
	return 0;
}
