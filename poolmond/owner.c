#include "owner.h"

#include <string.h>

#include "log.h"

int
owner_state_save(const struct state *st)
{
	int r = state_save(st);

	if (r < 0)
		log_warnx("cannot write state file %s: %s", st->path,
		    strerror(-r));
	return r;
}

/*
 * Clocks of a fleet's machines may differ this much: a record made this
 * close to a HOST-LIST's request may be newer than what the list shows.
 */
#define FLEET_CLOCK_SKEW_MS	2000

/*
 * A fleet's record newer than the host list: a peer's HOST-DOWN (or a
 * release) the list may not show yet. Not judged on the list.
 */
static bool
newer_than_list(const struct state *st, const struct state_entry *e,
    int64_t listed_ms)
{
	return st->fleet && e->at.ms > listed_ms - FLEET_CLOCK_SKEW_MS;
}

/* Down by someone else: left alone. True when its record was dropped. */
static bool
operator_down(struct backend *b, struct state *st, bool recorded,
    bool adopt_down)
{
	b->owner = OWNER_OPERATOR;
	if (!b->operator_noted)
		log_info_f(&(struct log_fields){ .host = b->dh.ip,
		    .event = "operator" }, "%s is down by the operator: "
		    "poolmond leaves it down%s", b->dh.ip, adopt_down ?
		    " until healthy (--adopt-down)" :
		    " ('poolmonctl release' hands it over)");
	b->operator_noted = true;
	return recorded && state_remove(st, b->dh.ip);
}

/* One backend; true when its record was dropped. */
static bool
derive(struct backend *b, struct state *st, bool adopt_down,
    int64_t listed_ms)
{
	struct state_entry *e = state_find(st, b->dh.ip);

	b->tls_seen = state_tls_seen(st, b->dh.ip);

	if (e != NULL && e->owner == OWNER_HOLD) {
		b->owner = OWNER_HOLD;
		return false;
	}
	/* The router says someone else took it out: theirs, whatever the
	 * state file says (an operator's state under the Lua director). */
	if (!b->dh.up && b->dh.mark == ROUTER_MARK_OTHER)
		return operator_down(b, st, e != NULL, adopt_down);
	/* The router says poolmond took it out (the Lua director's state
	 * 2): poolmond's, even without a record (a lost state file). */
	if (!b->dh.up && b->dh.mark == ROUTER_MARK_POOLMON) {
		b->owner = OWNER_POOLMOND;
		if (e != NULL && e->pending) {
			e->pending = false;
			return true;
		}
		return false;
	}
	if (e != NULL) {
		if (!b->dh.up) {
			b->owner = OWNER_POOLMOND;
			/* An intent (HOST-DOWN sent, no OK seen: poolmond was
			 * killed, or the reply lost) that took effect. */
			if (!e->pending)
				return false;
			e->pending = false;
			return true;
		}
		if (newer_than_list(st, e, listed_ms)) {
			b->owner = OWNER_POOLMOND;
			return false;
		}
		/* An intent whose HOST-DOWN never took effect goes
		 * silently: the host was never down. */
		if (!e->pending && st->fleet)
			log_info("%s is up again: no longer the fleet's to "
			    "bring up", b->dh.ip);
		else if (!e->pending)
			log_info("%s is up again, not by poolmond: it is no "
			    "longer poolmond's to bring up", b->dh.ip);
		state_remove(st, b->dh.ip);
		b->owner = OWNER_NONE;
		return true;
	}
	if (b->dh.up) {
		b->owner = OWNER_NONE;
		b->operator_noted = false;
		return false;
	}
	return operator_down(b, st, false, adopt_down);
}

void
owner_derive_all(struct pool *p, struct state *st, bool adopt_down,
    int64_t listed_ms)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < p->n; i++)
		changed |= derive(&p->backends[i], st, adopt_down, listed_ms);
	if (changed)
		(void)owner_state_save(st);
}
