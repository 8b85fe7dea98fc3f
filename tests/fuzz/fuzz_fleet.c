/*
 * A peer's Offer (proto/fleet.proto) through fleet_offer_parse(): any
 * bytes, never a crash, a leak or an unbounded allocation. A refused
 * message leaves the offer empty and says why; an accepted one stays
 * within the bounds of fleet_msg.h, and packing it and parsing that again
 * gives the same offer (what a monitor relays means what it received).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s, size_t max)
{
	if (memchr(s, '\0', max) == NULL)
		abort();
}

static void
check_bounds(const struct fleet_offer *o)
{
	size_t i;

	check_str(o->monitor, sizeof(o->monitor));
	if (o->monitor[0] == '\0')
		abort();
	if (o->nverdicts > FLEET_ITEMS_MAX || o->nrecords > FLEET_ITEMS_MAX)
		abort();
	if ((o->nverdicts > 0 && o->verdicts == NULL) ||
	    (o->nrecords > 0 && o->records == NULL))
		abort();
	for (i = 0; i < o->nverdicts; i++) {
		const struct fleet_verdict_msg *v = &o->verdicts[i];

		check_str(v->host, sizeof(v->host));
		if (v->verdict != FLEET_VERDICT_UNKNOWN &&
		    v->verdict != FLEET_VERDICT_OK &&
		    v->verdict != FLEET_VERDICT_FAILED)
			abort();
		if (v->reason != NULL && strlen(v->reason) > FLEET_REASON_MAX)
			abort();
	}
	for (i = 0; i < o->nrecords; i++) {
		const struct fleet_record_msg *r = &o->records[i];

		check_str(r->host, sizeof(r->host));
		check_str(r->origin, sizeof(r->origin));
		check_str(r->hold.reason, sizeof(r->hold.reason));
		if (r->kind != FLEET_RECORD_CLEARED &&
		    r->kind != FLEET_RECORD_OWNED && r->kind != FLEET_RECORD_HOLD)
			abort();
	}
}

/*
 * Every record a peer may send is one this monitor's state file takes
 * and reads back: stored as a merge would, saved, parsed, nothing lost.
 */
static void
check_storable(const struct fleet_offer *o)
{
	struct state st = { .fleet = true, .self = "127.0.0.1:9094" };
	struct state back = { .fleet = true };
	char why[128], *buf = NULL;
	size_t i, len = 0, stored = 0;
	FILE *f;

	for (i = 0; i < o->nrecords; i++) {
		const struct fleet_record_msg *r = &o->records[i];
		enum owner owner = r->kind == FLEET_RECORD_HOLD ? OWNER_HOLD :
		    r->kind == FLEET_RECORD_OWNED ? OWNER_POOLMOND : OWNER_NONE;

		if (r->kind == FLEET_RECORD_HOLD &&
		    !hold_reason_valid(r->hold.reason))
			abort();
		if (state_merge(&st, r->host, owner, r->at, r->origin[0] != '\0' ?
		    r->origin : o->monitor, &r->hold) == 1)
			stored++;
	}
	if ((f = open_memstream(&buf, &len)) == NULL)
		abort();
	if (state_format(&st, f) < 0 || fclose(f) != 0)
		abort();
	if (state_parse(&back, buf, len, why, sizeof(why)) < 0 ||
	    back.skipped != 0)
		abort();
	free(buf);
	state_free(&st);
	state_free(&back);
	(void)stored;
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
check_same(const struct fleet_offer *a, const struct fleet_offer *b)
{
	size_t i;

	if (strcmp(a->monitor, b->monitor) != 0 ||
	    a->sent_at_ms != b->sent_at_ms || a->interval_s != b->interval_s ||
	    a->scans != b->scans || a->can_act != b->can_act ||
	    a->nverdicts != b->nverdicts || a->nrecords != b->nrecords)
		abort();
	for (i = 0; i < a->nverdicts; i++) {
		const struct fleet_verdict_msg *x = &a->verdicts[i];
		const struct fleet_verdict_msg *y = &b->verdicts[i];

		if (strcmp(x->host, y->host) != 0 || x->verdict != y->verdict ||
		    !str_eq(x->reason, y->reason) || x->at != y->at)
			abort();
	}
	for (i = 0; i < a->nrecords; i++) {
		const struct fleet_record_msg *x = &a->records[i];
		const struct fleet_record_msg *y = &b->records[i];

		if (strcmp(x->host, y->host) != 0 || x->kind != y->kind ||
		    hlc_cmp(x->at, y->at) != 0 ||
		    strcmp(x->origin, y->origin) != 0)
			abort();
		if (x->kind == FLEET_RECORD_HOLD &&
		    (x->hold.uid != y->hold.uid ||
		    x->hold.since != y->hold.since ||
		    x->hold.flush != y->hold.flush ||
		    strcmp(x->hold.reason, y->hold.reason) != 0))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fleet_offer offer, again;
	char why[256];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	memset(&offer, 0, sizeof(offer));
	memset(&again, 0, sizeof(again));
	memset(why, 'x', sizeof(why));
	r = fleet_offer_parse(data, size, &offer, why, sizeof(why));
	if (r < 0) {
		check_str(why, sizeof(why));
		if (why[0] == '\0' || offer.nverdicts != 0 ||
		    offer.nrecords != 0)
			abort();
		fleet_offer_free(&offer);
		return 0;
	}
	check_bounds(&offer);
	check_storable(&offer);
	if (fleet_offer_pack(&offer, &buf, &len) == 0) {
		if (fleet_offer_parse(buf, len, &again, why,
		    sizeof(why)) < 0)
			abort();
		check_same(&offer, &again);
		fleet_offer_free(&again);
		free(buf);
	}
	fleet_offer_free(&offer);
	return 0;
}
