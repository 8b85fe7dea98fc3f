#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"

const char *
action_str(enum action action)
{
	switch (action) {
	case ACTION_DOWN: return "down";
	case ACTION_FLUSH: return "flush";
	case ACTION_UP: return "up";
	case ACTION_HOLD_DOWN: return "hold down";
	case ACTION_NONE: break;
	}
	return "none";
}

void
policy_count(struct backend *b)
{
	if (b->health == HEALTH_FAILED) {
		b->fail_count++;
		b->ok_count = 0;
	} else if (b->health == HEALTH_OK) {
		b->ok_count++;
		b->fail_count = 0;
	}
}

/*
 * Failed this scan, and enough to act (--fall): by this monitor's own
 * checks, or, in a fleet, by the fleet's verdict (each monitor applied
 * its own --fall before offering it).
 */
static bool
failed_enough(const struct policy *p, const struct backend *b)
{
	if (b->fleet_judged)
		return b->fleet_health == HEALTH_FAILED;
	return b->health == HEALTH_FAILED &&
	    b->fail_count >= (unsigned int)p->fall;
}

static bool
healthy_enough(const struct policy *p, const struct backend *b)
{
	if (b->fleet_judged)
		return b->fleet_health == HEALTH_OK;
	return b->health == HEALTH_OK && b->ok_count >= (unsigned int)p->rise;
}

/* Failed this scan, --fall or not: counted by the pool-wide guard. */
static bool
failed_now(const struct backend *b)
{
	return b->fleet_judged ? b->fleet_health == HEALTH_FAILED :
	    b->health == HEALTH_FAILED;
}

enum action
policy_action(const struct policy *p, const struct backend *b)
{
	if (b->owner == OWNER_HOLD)
		return b->dh.up ? ACTION_HOLD_DOWN : ACTION_NONE;
	if (b->dh.up)
		return failed_enough(p, b) ? ACTION_DOWN : ACTION_NONE;
	if (failed_now(b))
		return b->flush_pending ? ACTION_FLUSH : ACTION_NONE;
	/* A state the router says is someone else's is never brought up,
	 * --adopt-down or not (the Lua director's operator states). */
	if (healthy_enough(p, b) && (b->owner == OWNER_POOLMOND ||
	    (p->adopt_down && b->dh.mark != ROUTER_MARK_OTHER)))
		return ACTION_UP;
	return ACTION_NONE;
}

static int
cmp_tag_then_failing(const void *a, const void *b)
{
	const struct backend *x = *(struct backend *const *)a;
	const struct backend *y = *(struct backend *const *)b;
	int c = strcmp(x->dh.tag, y->dh.tag);

	if (c != 0)
		return c;
	/*
	 * Within a tag, the longest failing first: they go down first. Not
	 * in a fleet, whose monitors count failures each on its own: there
	 * every monitor must spare the same hosts, so the order is one they
	 * all share, the address.
	 */
	if (!x->fleet_judged && x->fail_count != y->fail_count)
		return x->fail_count > y->fail_count ? -1 : 1;
	return strcmp(x->dh.ip, y->dh.ip);
}

/*
 * Down, or about to be: the director shows it down, or a record says it
 * is poolmond's or held (in a fleet, a peer's HOST-DOWN whose intent
 * arrived before the director shows it).
 */
static bool
counts_down(const struct backend *b)
{
	return !b->dh.up || b->owner == OWNER_POOLMOND ||
	    b->owner == OWNER_HOLD;
}

/* Apply --max-down to one tag's hosts, group[0..n). */
static void
guard_tag(const struct policy *p, struct backend **group, size_t n,
    struct policy_outcome *out)
{
	size_t i, down = 0, cap = n * (size_t)p->max_down_pct / 100;

	for (i = 0; i < n; i++)
		if (counts_down(group[i]))
			down++;
	for (i = 0; i < n; i++) {
		struct backend *b = group[i];

		/* Counted already: its HOST-DOWN adds nothing. */
		if (b->action != ACTION_DOWN || counts_down(b))
			continue;
		if (down < cap) {
			down++;
			continue;
		}
		b->action = ACTION_NONE;
		b->spared = true;
		out->guard_active = true;
		out->spared++;
	}
}

static void
guard(const struct policy *p, struct backend *backends, size_t n,
    struct policy_outcome *out)
{
	struct backend **sorted;
	size_t i, start;

	/* Judged at every result: nothing to spare, nothing to sort. */
	for (i = 0; i < n && backends[i].action != ACTION_DOWN; i++)
		;
	if (i == n)
		return;

	if ((sorted = calloc(n > 0 ? n : 1, sizeof(*sorted))) == NULL) {
		/* Without memory, be safe: take nothing down. */
		for (i = 0; i < n; i++)
			if (backends[i].action == ACTION_DOWN) {
				backends[i].action = ACTION_NONE;
				backends[i].spared = true;
				out->guard_active = true;
				out->spared++;
			}
		return;
	}
	for (i = 0; i < n; i++)
		sorted[i] = &backends[i];
	qsort(sorted, n, sizeof(*sorted), cmp_tag_then_failing);
	for (start = 0; start < n; start = i) {
		for (i = start + 1; i < n &&
		    strcmp(sorted[i]->dh.tag, sorted[start]->dh.tag) == 0; i++)
			;
		guard_tag(p, sorted + start, i - start, out);
	}
	free(sorted);
}

/*
 * In a fleet every monitor decides for the whole pool alike, guard
 * included, and then keeps the actions of the backends it is the actor
 * of: the others are their actors' to send and to log.
 */
static void
keep_own(struct backend *backends, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!backends[i].fleet_judged || backends[i].acting)
			continue;
		backends[i].action = ACTION_NONE;
		backends[i].spared = false;
	}
}

static void decide(const struct policy *p, struct backend *backends,
    size_t n, struct policy_outcome *out);

void
policy_decide(const struct policy *p, struct backend *backends, size_t n,
    struct policy_outcome *out)
{
	decide(p, backends, n, out);
	keep_own(backends, n);
}

static void
decide(const struct policy *p, struct backend *backends, size_t n,
    struct policy_outcome *out)
{
	size_t i, checked = 0, failed = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++) {
		struct backend *b = &backends[i];

		b->spared = false;
		if (b->health == HEALTH_UNCHECKED) {
			b->action = ACTION_NONE;
			continue;
		}
		b->action = policy_action(p, b);
		checked++;
		if (failed_now(b))
			failed++;
	}
	/*
	 * Everything failing at once is more likely our own network, DNS or
	 * credentials than the whole pool: take nothing down. Judged on the
	 * latest result of every backend.
	 */
	if (checked >= 2 && failed == checked) {
		out->all_failed = true;
		for (i = 0; i < n; i++) {
			if (backends[i].action == ACTION_DOWN) {
				backends[i].action = ACTION_NONE;
				backends[i].spared = true;
				out->spared++;
			}
		}
		return;
	}
	guard(p, backends, n, out);
}
