/*
 * The fleet in a status reply. Strings are copied: a reply part may be
 * packed after the loop has run and a peer's offer replaced the one it
 * was made from.
 */
#include "fleet_status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

/* Verdicts shown per backend: this monitor and its peers. */
#define STATUS_VERDICTS_MAX	(FLEET_PEERS_MAX + 1 + 64)

static char *
dup_or_null(const char *s, bool *failed)
{
	char *copy;

	if (s == NULL)
		return NULL;
	if ((copy = strdup(s)) == NULL)
		*failed = true;
	return copy;
}

static Poolmon__Health
health_of(enum fleet_verdict v)
{
	switch (v) {
	case FLEET_VERDICT_OK: return POOLMON__HEALTH__HEALTH_OK;
	case FLEET_VERDICT_FAILED: return POOLMON__HEALTH__HEALTH_FAILED;
	case FLEET_VERDICT_UNKNOWN: break;
	}
	return POOLMON__HEALTH__HEALTH_UNDETERMINED;
}

static int
fill_peer(const struct fleet *f, size_t i, Poolmon__FleetPeer *p)
{
	struct fleet_peer_view v;
	bool failed = false;

	fleet_peer(f, i, &v);
	poolmon__fleet_peer__init(p);
	p->address = dup_or_null(v.address, &failed);
	p->has_live = p->has_trusted = p->has_last_seen = 1;
	p->live = v.live;
	p->trusted = v.trusted;
	p->last_seen = v.last_seen;
	p->error = dup_or_null(v.error, &failed);
	p->has_clock_skew_ms = v.skew_known;
	p->clock_skew_ms = v.skew_ms;
	p->has_dry_run = 1;
	p->dry_run = v.dry_run;
	return failed ? -ENOMEM : 0;
}

int
fleet_status_summary(const struct fleet *f, Poolmon__Summary *s)
{
	Poolmon__Fleet *fl;
	size_t i, n;
	bool failed = false;

	if (f == NULL)
		return 0;
	if ((fl = calloc(1, sizeof(*fl))) == NULL)
		return -ENOMEM;
	poolmon__fleet__init(fl);
	s->fleet = fl;
	fl->self = dup_or_null(fleet_self(f), &failed);
	fl->has_quorum = fl->has_live = fl->has_isolated = 1;
	fl->quorum = fleet_quorum(f);
	fl->live = fleet_live(f);
	fl->isolated = fleet_isolated(f);
	n = fleet_npeers(f);
	if (n > 0 && (fl->peers = calloc(n, sizeof(*fl->peers))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if ((fl->peers[i] = malloc(sizeof(**fl->peers))) == NULL)
			return -ENOMEM;
		fl->n_peers = i + 1;
		if (fill_peer(f, i, fl->peers[i]) < 0)
			return -ENOMEM;
	}
	return failed ? -ENOMEM : 0;
}

void
fleet_status_free_summary(Poolmon__Summary *s)
{
	Poolmon__Fleet *fl = s->fleet;
	size_t i;

	if (fl == NULL)
		return;
	for (i = 0; i < fl->n_peers; i++) {
		free(fl->peers[i]->address);
		free(fl->peers[i]->error);
		free(fl->peers[i]);
	}
	free(fl->peers);
	free(fl->self);
	free(fl);
	s->fleet = NULL;
}

static int
fill_verdict(const struct fleet_verdict_view *v, Poolmon__Verdict *m)
{
	bool failed = false;

	poolmon__verdict__init(m);
	m->monitor = dup_or_null(v->monitor, &failed);
	m->has_health = 1;
	m->health = health_of(v->verdict);
	m->reason = dup_or_null(v->reason, &failed);
	m->has_at = v->at > 0;
	m->at = v->at;
	return failed ? -ENOMEM : 0;
}

int
fleet_status_backend(const struct fleet *f, const char *ip,
    Poolmon__Backend *b)
{
	struct fleet_verdict_view views[STATUS_VERDICTS_MAX];
	const char *actor;
	bool failed = false;
	size_t i, n;

	if (f == NULL)
		return 0;
	if ((actor = fleet_actor(f, ip)) != NULL)
		b->actor = dup_or_null(actor, &failed);
	n = fleet_verdicts(f, ip, views, STATUS_VERDICTS_MAX);
	if (n > 0 && (b->verdicts = calloc(n, sizeof(*b->verdicts))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if ((b->verdicts[i] = malloc(sizeof(**b->verdicts))) == NULL)
			return -ENOMEM;
		b->n_verdicts = i + 1;
		if (fill_verdict(&views[i], b->verdicts[i]) < 0)
			return -ENOMEM;
	}
	return failed ? -ENOMEM : 0;
}

void
fleet_status_free_backend(Poolmon__Backend *b)
{
	size_t i;

	for (i = 0; i < b->n_verdicts; i++) {
		free(b->verdicts[i]->monitor);
		free(b->verdicts[i]->reason);
		free(b->verdicts[i]);
	}
	free(b->verdicts);
	b->verdicts = NULL;
	b->n_verdicts = 0;
	free(b->actor);
	b->actor = NULL;
}
