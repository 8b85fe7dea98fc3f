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

/* One backend; true when its record was dropped. */
static bool
derive(struct backend *b, struct state *st, bool adopt_down)
{
	struct state_entry *e = state_find(st, b->dh.ip);

	b->tls_seen = state_tls_seen(st, b->dh.ip);

	if (e != NULL && e->owner == OWNER_HOLD) {
		b->owner = OWNER_HOLD;
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
		/* An intent whose HOST-DOWN never took effect goes
		 * silently: the host was never down. */
		if (!e->pending)
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
	b->owner = OWNER_OPERATOR;
	if (!b->operator_noted)
		log_info_f(&(struct log_fields){ .host = b->dh.ip,
		    .event = "operator" }, "%s is down by the operator: "
		    "poolmond leaves it down%s", b->dh.ip, adopt_down ?
		    " until healthy (--adopt-down)" :
		    " ('poolmonctl release' hands it over)");
	b->operator_noted = true;
	return false;
}

void
owner_derive_all(struct pool *p, struct state *st, bool adopt_down)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < p->n; i++)
		changed |= derive(&p->backends[i], st, adopt_down);
	if (changed)
		(void)owner_state_save(st);
}
