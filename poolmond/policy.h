/*
 * What to do about each backend after a scan, beyond poolmon 0.7:
 * hysteresis (--fall/--rise), ownership (only hosts poolmond took down are
 * brought up, unless --adopt-down), maintenance holds, and the pool-wide
 * guard (--max-down per tag; none down when every backend failed).
 * Pure decisions on the backend table: the director is not touched here.
 */
#ifndef POOLMOND_POLICY_H
#define POOLMOND_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEFAULT_FALL		1
#define DEFAULT_RISE		1
#define DEFAULT_MAX_DOWN_PCT	50

struct backend;

enum action {
	ACTION_NONE,
	ACTION_DOWN,		/* HOST-DOWN then HOST-FLUSH */
	ACTION_FLUSH,		/* a flush owed after an earlier HOST-DOWN */
	ACTION_UP,		/* HOST-UP */
	ACTION_HOLD_DOWN,	/* a held host is up: down again */
};

struct policy {
	int fall;
	int rise;
	int max_down_pct;
	bool adopt_down;
};

struct policy_outcome {
	bool all_failed;	/* every backend failed: none taken down */
	bool guard_active;	/* --max-down spared some hosts */
	size_t spared;
};

/* Update a backend's consecutive healthy/failed scan counts. */
void policy_count(struct backend *b);
/* The action for one backend, before the pool-wide guard. */
enum action policy_action(const struct policy *p, const struct backend *b);
/*
 * Decide every backend on its latest result: sets b->action and
 * b->spared. Deciding again without a new result decides the same (the
 * counts of policy_count() move only with a result).
 */
void policy_decide(const struct policy *p, struct backend *backends,
    size_t n, struct policy_outcome *out);
const char *action_str(enum action action);

#endif
