/*
 * Shared utilities: the rate limit that bounds what clients can make the
 * daemon log.
 */
#include <stdint.h>

#include "util.h"
#include "unit.h"

static void
test_ratelimit_burst(void)
{
	struct ratelimit rl = { .interval_ms = 1000, .burst = 3 };
	unsigned int suppressed = 99, i;
	int64_t t = 5000;

	for (i = 0; i < 3; i++) {
		CHECK(ratelimit_allow(&rl, t + i, &suppressed));
		CHECK(suppressed == 0);
	}
	/* The fourth in the window is refused and counted. */
	CHECK(!ratelimit_allow(&rl, t + 10, &suppressed) && suppressed == 1);
	CHECK(!ratelimit_allow(&rl, t + 999, &suppressed) && suppressed == 2);
	/* A new window: allowed, with the count of the refused. */
	CHECK(ratelimit_allow(&rl, t + 1000, &suppressed) && suppressed == 2);
	CHECK(ratelimit_allow(&rl, t + 1001, &suppressed) && suppressed == 0);
}

static void
test_ratelimit_window_starts_at_event(void)
{
	struct ratelimit rl = { .interval_ms = 1000, .burst = 1 };
	unsigned int suppressed;

	CHECK(ratelimit_allow(&rl, 100, &suppressed));
	CHECK(!ratelimit_allow(&rl, 1099, &suppressed));
	/* A quiet time: the next window starts with the next event. */
	CHECK(ratelimit_allow(&rl, 50000, &suppressed) && suppressed == 1);
	CHECK(!ratelimit_allow(&rl, 50999, &suppressed) && suppressed == 1);
	CHECK(ratelimit_allow(&rl, 51000, &suppressed) && suppressed == 1);
}

static void
test_ratelimit_zero_burst(void)
{
	struct ratelimit rl = { .interval_ms = 1000, .burst = 0 };
	unsigned int suppressed;

	CHECK(!ratelimit_allow(&rl, 1, &suppressed) && suppressed == 1);
	CHECK(!ratelimit_allow(&rl, 5000, &suppressed) && suppressed == 2);
}

int
main(void)
{
	RUN(test_ratelimit_burst);
	RUN(test_ratelimit_window_starts_at_event);
	RUN(test_ratelimit_zero_burst);
	return UNIT_EXIT();
}
