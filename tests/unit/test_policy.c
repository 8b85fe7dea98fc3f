/* Hysteresis, ownership, holds and the pool-wide guard (policy.c). */
#include <stdio.h>

#include "policy.h"
#include "pool.h"
#include "unit.h"

static const struct policy p01 = { .fall = 1, .rise = 1,
    .max_down_pct = 100 };
/* The scan every backend here is in, unless a test takes it out. */
#define SCAN	1

static void
init(struct backend *b, const char *ip, const char *tag, bool up,
    enum health h)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->dh.ip, sizeof(b->dh.ip), "%s", ip);
	b->dh.tag = tag;
	b->dh.up = up;
	b->health = h;
	b->scanned_in = SCAN;
	b->owner = up ? OWNER_NONE : OWNER_OPERATOR;
	/* As after one scan with this health. */
	policy_count(b);
}

static void
test_fall_rise(void)
{
	struct policy p = { .fall = 3, .rise = 2, .max_down_pct = 100 };
	struct backend b;

	init(&b, "10.0.0.1", "", true, HEALTH_FAILED);
	CHECK(policy_action(&p, &b) == ACTION_NONE);
	policy_count(&b);
	CHECK(policy_action(&p, &b) == ACTION_NONE);
	policy_count(&b);
	CHECK(b.fail_count == 3);
	CHECK(policy_action(&p, &b) == ACTION_DOWN);
	/* One healthy scan in between starts the count again. */
	b.health = HEALTH_OK;
	policy_count(&b);
	CHECK(b.fail_count == 0 && b.ok_count == 1);
	b.health = HEALTH_FAILED;
	policy_count(&b);
	CHECK(policy_action(&p, &b) == ACTION_NONE);

	/* Down by poolmond: up only after two healthy scans. */
	init(&b, "10.0.0.1", "", false, HEALTH_OK);
	b.owner = OWNER_POOLMOND;
	CHECK(policy_action(&p, &b) == ACTION_NONE);
	policy_count(&b);
	CHECK(policy_action(&p, &b) == ACTION_UP);
}

static void
test_ownership(void)
{
	struct policy adopt = p01;
	struct backend b;

	/* Down by the operator and healthy: left down... */
	init(&b, "10.0.0.1", "", false, HEALTH_OK);
	CHECK(policy_action(&p01, &b) == ACTION_NONE);
	/* ...unless --adopt-down (poolmon 0.7). */
	adopt.adopt_down = true;
	CHECK(policy_action(&adopt, &b) == ACTION_UP);
	/* Ours: brought up. */
	b.owner = OWNER_POOLMOND;
	CHECK(policy_action(&p01, &b) == ACTION_UP);
	/* A held host stays down whatever its health, and is taken down
	 * again if someone brings it up. */
	b.owner = OWNER_HOLD;
	CHECK(policy_action(&adopt, &b) == ACTION_NONE);
	b.dh.up = true;
	CHECK(policy_action(&p01, &b) == ACTION_HOLD_DOWN);
	/* A flush owed from an earlier HOST-DOWN is retried. */
	init(&b, "10.0.0.1", "", false, HEALTH_FAILED);
	b.owner = OWNER_POOLMOND;
	b.flush_pending = true;
	CHECK(policy_action(&p01, &b) == ACTION_FLUSH);
}

/* Someone else's state under the Lua director: never brought up. */
static void
test_router_marks(void)
{
	struct policy adopt = p01;
	struct backend b;

	adopt.adopt_down = true;
	init(&b, "10.0.0.1", "", false, HEALTH_OK);
	b.dh.mark = ROUTER_MARK_OTHER;
	CHECK(policy_action(&adopt, &b) == ACTION_NONE);
	b.dh.mark = ROUTER_MARK_UNKNOWN;
	CHECK(policy_action(&adopt, &b) == ACTION_UP);
}

/*
 * Issue 19 item 7: in a fleet every monitor spares the same hosts, in an
 * order they share (the address), whatever their own fail counts; a
 * peer's intent (owned while the director still shows it up) counts as
 * down.
 */
static void
test_guard_fleet_order(void)
{
	struct policy p = { .fall = 1, .rise = 1, .max_down_pct = 50 };
	struct policy_outcome out;
	struct backend b[6];
	size_t i;

	for (i = 0; i < 4; i++) {
		char ip[16];

		snprintf(ip, sizeof(ip), "10.0.0.%zu", i + 1);
		init(&b[i], ip, "t", true, HEALTH_FAILED);
		b[i].fleet_judged = true;
		b[i].fleet_health = HEALTH_FAILED;
		b[i].acting = true;
	}
	/* Healthy hosts elsewhere: not every backend failed. */
	init(&b[4], "10.0.1.1", "u", true, HEALTH_OK);
	init(&b[5], "10.0.1.2", "u", true, HEALTH_OK);
	/* This monitor saw .4 and .3 fail longest: no matter. */
	b[3].fail_count = 9;
	b[2].fail_count = 5;
	policy_decide(&p, b, 6, &out);
	CHECK(b[0].action == ACTION_DOWN && b[1].action == ACTION_DOWN);
	CHECK(b[2].spared && b[3].spared);
	/* A peer's intent on .4: one slot left, for .1. */
	b[3].owner = OWNER_POOLMOND;
	policy_decide(&p, b, 6, &out);
	CHECK(b[0].action == ACTION_DOWN && b[1].spared && b[2].spared);
}

static size_t
count(struct backend *b, size_t n, enum action a)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += b[i].action == a;
	return c;
}

static void
test_guard_max_down(void)
{
	struct policy p = { .fall = 1, .rise = 1, .max_down_pct = 50 };
	struct policy_outcome out;
	struct backend b[4];

	/* 4 hosts, 3 fail: 50% lets 2 go down, 1 is spared. */
	init(&b[0], "10.0.0.1", "", true, HEALTH_FAILED);
	init(&b[1], "10.0.0.2", "", true, HEALTH_FAILED);
	init(&b[2], "10.0.0.3", "", true, HEALTH_FAILED);
	init(&b[3], "10.0.0.4", "", true, HEALTH_OK);
	b[2].fail_count = 5;	/* failing longest: goes down first */
	b[0].fail_count = b[1].fail_count = 1;
	policy_decide(&p, b, 4, &out);
	CHECK(count(b, 4, ACTION_DOWN) == 2);
	CHECK(b[2].action == ACTION_DOWN);
	CHECK(out.guard_active && out.spared == 1 && !out.all_failed);
	CHECK(b[1].spared && !b[0].spared);

	/* A host already down (operator) counts toward the cap. */
	init(&b[3], "10.0.0.4", "", false, HEALTH_OK);
	policy_decide(&p, b, 4, &out);
	CHECK(count(b, 4, ACTION_DOWN) == 1);
	CHECK(out.spared == 2);
	/* ...but is never brought up by the guard. */
	CHECK(b[3].action == ACTION_NONE);
}

static void
test_guard_per_tag(void)
{
	struct policy p = { .fall = 1, .rise = 1, .max_down_pct = 50 };
	struct policy_outcome out;
	struct backend b[4];

	init(&b[0], "10.0.0.1", "a", true, HEALTH_FAILED);
	init(&b[1], "10.0.0.2", "a", true, HEALTH_OK);
	init(&b[2], "10.0.0.3", "b", true, HEALTH_FAILED);
	init(&b[3], "10.0.0.4", "b", true, HEALTH_FAILED);
	policy_decide(&p, b, 4, &out);
	CHECK(b[0].action == ACTION_DOWN);
	CHECK(count(b, 4, ACTION_DOWN) == 2);
	CHECK(b[2].action == ACTION_DOWN && b[3].spared);
	CHECK(out.guard_active);
}

static void
test_all_failed(void)
{
	struct policy_outcome out;
	struct backend b[3];

	init(&b[0], "10.0.0.1", "", true, HEALTH_FAILED);
	init(&b[1], "10.0.0.2", "", true, HEALTH_FAILED);
	init(&b[2], "10.0.0.3", "", false, HEALTH_FAILED);
	b[2].owner = OWNER_POOLMOND;
	policy_decide(&p01, b, 3, &out);
	CHECK(out.all_failed);
	CHECK(count(b, 3, ACTION_DOWN) == 0);
	/* Judged on every backend's latest result: one healthy is
	 * enough for the failed to be the backends'. */
	init(&b[2], "10.0.0.3", "", true, HEALTH_OK);
	policy_decide(&p01, b, 3, &out);
	CHECK(!out.all_failed);
	CHECK(count(b, 3, ACTION_DOWN) == 2);
	/* A backend not checked yet gets no action and is not judged. */
	init(&b[2], "10.0.0.3", "", true, HEALTH_UNCHECKED);
	policy_decide(&p01, b, 3, &out);
	CHECK(out.all_failed && b[2].action == ACTION_NONE);
}

/*
 * In a fleet the fleet's verdict decides, whatever this monitor's own
 * checks said, and only the backend's actor keeps the action.
 */
static void
test_fleet_verdicts(void)
{
	struct backend b[3];
	struct policy_outcome out;

	/* Our own check passed; the fleet says failed: down, by the actor. */
	init(&b[0], "10.0.0.1", "", true, HEALTH_OK);
	b[0].fleet_judged = true;
	b[0].fleet_health = HEALTH_FAILED;
	b[0].acting = true;
	/* Ours failed; the fleet did not agree: nothing. */
	init(&b[1], "10.0.0.2", "", true, HEALTH_FAILED);
	b[1].fleet_judged = true;
	b[1].fleet_health = HEALTH_UNKNOWN;
	b[1].acting = true;
	/* Failed by the fleet, but another monitor is its actor. */
	init(&b[2], "10.0.0.3", "", true, HEALTH_OK);
	b[2].fleet_judged = true;
	b[2].fleet_health = HEALTH_FAILED;
	b[2].acting = false;
	policy_decide(&p01, b, 3, &out);
	CHECK(b[0].action == ACTION_DOWN);
	CHECK(b[1].action == ACTION_NONE);
	CHECK(b[2].action == ACTION_NONE && !b[2].spared);
	CHECK(!out.all_failed);
	/* Every backend failed by the fleet's verdicts: the guard holds. */
	b[1].fleet_health = HEALTH_FAILED;
	policy_decide(&p01, b, 3, &out);
	CHECK(out.all_failed);
	CHECK(b[0].action == ACTION_NONE && b[0].spared);
	/* Down and healthy by the fleet, ours: up. */
	init(&b[0], "10.0.0.1", "", false, HEALTH_FAILED);
	b[0].owner = OWNER_POOLMOND;
	b[0].fleet_judged = true;
	b[0].fleet_health = HEALTH_OK;
	b[0].acting = true;
	CHECK(policy_action(&p01, &b[0]) == ACTION_UP);
}

int
main(void)
{
	RUN(test_fall_rise);
	RUN(test_ownership);
	RUN(test_router_marks);
	RUN(test_guard_fleet_order);
	RUN(test_guard_max_down);
	RUN(test_guard_per_tag);
	RUN(test_all_failed);
	RUN(test_fleet_verdicts);
	return UNIT_EXIT();
}
