/*
 * A hybrid logical clock: the fleet's one order of events whatever the
 * monitors' clocks say. A stamp is the wall clock in ms, advanced past
 * every stamp this monitor has seen, and a count that orders events
 * within one ms; ties between monitors are broken by the monitor's name
 * (state.c). Anything done here after a stamp was seen orders after it.
 */
#ifndef POOLMOND_HLC_H
#define POOLMOND_HLC_H

#include <stdint.h>

struct hlc_stamp {
	int64_t ms;		/* wall clock ms, or past it */
	uint32_t count;		/* events within ms */
};

struct hlc {
	struct hlc_stamp last;	/* the latest stamp made or seen */
};

/* A stamp for an event here at wall clock wall_ms: after all others. */
struct hlc_stamp hlc_now(struct hlc *h, int64_t wall_ms);
/* A stamp seen (a peer's, a file's): events here order after it. */
void hlc_observe(struct hlc *h, struct hlc_stamp s);
/* <0, 0, >0 as a orders before, with or after b. */
int hlc_cmp(struct hlc_stamp a, struct hlc_stamp b);

#endif
