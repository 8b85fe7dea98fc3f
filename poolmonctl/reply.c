/*
 * Reading the daemon's replies. A newer field wins; without it (an older
 * daemon) the older field says the same in its own form, so poolmonctl
 * works with either.
 */
#include "reply.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	Poolmon__Owner owner;
	const char *name;
} owner_names[] = {
	{ POOLMON__OWNER__OWNER_POOLMOND, "poolmond" },
	{ POOLMON__OWNER__OWNER_OPERATOR, "operator" },
	{ POOLMON__OWNER__OWNER_HOLD, "hold" },
};

#define NOWNER_NAMES	(sizeof(owner_names) / sizeof(owner_names[0]))

static size_t
part_backends(const Poolmon__Response *r, Poolmon__Backend ***b)
{
	if (r->result_case == POOLMON__RESPONSE__RESULT_STATUS) {
		*b = r->status->backends;
		return r->status->n_backends;
	}
	if (r->result_case == POOLMON__RESPONSE__RESULT_RECHECK) {
		*b = r->recheck->backends;
		return r->recheck->n_backends;
	}
	return 0;
}

const Poolmon__Backend **
reply_backends(const struct ctl_reply *reply, size_t *n)
{
	const Poolmon__Backend **all;
	Poolmon__Backend **b;
	size_t i, k, total = 0;

	for (i = 0; i < reply->nparts; i++)
		total += part_backends(reply->parts[i], &b);
	*n = 0;
	if ((all = calloc(total + 1, sizeof(*all))) == NULL)
		return NULL;
	for (i = 0; i < reply->nparts; i++)
		for (k = part_backends(reply->parts[i], &b); k > 0; k--)
			all[(*n)++] = *b++;
	return all;
}

Poolmon__Owner
reply_owner(const Poolmon__Backend *b)
{
	size_t i;

	if (b->has_ownership)
		return b->ownership;
	/* An older daemon sends the name only. */
	for (i = 0; b->owner != NULL && i < NOWNER_NAMES; i++)
		if (strcmp(b->owner, owner_names[i].name) == 0)
			return owner_names[i].owner;
	return POOLMON__OWNER__OWNER_NONE;
}

const char *
reply_owner_name(const Poolmon__Backend *b)
{
	Poolmon__Owner owner = reply_owner(b);
	size_t i;

	for (i = 0; i < NOWNER_NAMES; i++)
		if (owner_names[i].owner == owner)
			return owner_names[i].name;
	return NULL;
}

const char *
reply_health_name(Poolmon__Health h)
{
	switch (h) {
	case POOLMON__HEALTH__HEALTH_OK: return "ok";
	case POOLMON__HEALTH__HEALTH_FAILED: return "failed";
	/* Checked, but poolmond's own fault kept it from telling. */
	case POOLMON__HEALTH__HEALTH_UNDETERMINED: return "unknown";
	default: break;
	}
	return "unchecked";
}

/* Not checked yet and checked but undetermined say the same to a peer. */
const char *
reply_verdict_health_name(Poolmon__Health h)
{
	switch (h) {
	case POOLMON__HEALTH__HEALTH_OK: return "ok";
	case POOLMON__HEALTH__HEALTH_FAILED: return "failed";
	default: break;
	}
	return "unknown";
}

size_t
reply_fleet_peers_live(const Poolmon__Fleet *f)
{
	size_t i, n = 0;

	for (i = 0; i < f->n_peers; i++)
		if (f->peers[i]->live)
			n++;
	return n;
}

Poolmon__RingState
reply_ring_state(const Poolmon__Summary *s)
{
	if (s->has_ring_state) {
		switch (s->ring_state) {
		case POOLMON__RING_STATE__RING_SYNCED:
		case POOLMON__RING_STATE__RING_NOT_SYNCED:
			return s->ring_state;
		default:
			return POOLMON__RING_STATE__RING_UNKNOWN;
		}
	}
	/* An older daemon: as DIRECTOR-LIST last said; none: no ring gate. */
	if (s->has_ring_synced && !s->ring_synced)
		return POOLMON__RING_STATE__RING_NOT_SYNCED;
	return POOLMON__RING_STATE__RING_SYNCED;
}
