/*
 * An event of the pool as it happens (a verdict that changed, a director
 * command and its result, a hold, the guard or the ring changing, a
 * scan): what poolmonctl watch streams. The scan and the actions emit
 * them; main wires who listens.
 */
#ifndef POOLMOND_POOL_EVENT_H
#define POOLMOND_POOL_EVENT_H

#include <stdbool.h>

struct pool_event {
	const char *event;	/* verdict, down, up, flush, hold, ... */
	const char *host;	/* NULL: about the pool */
	const char *reason;
	const char *result;	/* a director command's: "ok" or its error */
	const char *detail;
	bool dry_run;
};

/* Who is told of events: main wires it; fn NULL, nobody. */
struct event_sink {
	void (*fn)(void *arg, const struct pool_event *ev);
	void *arg;
};

static inline void
event_emit(const struct event_sink *sink, const struct pool_event *ev)
{
	if (sink->fn != NULL)
		sink->fn(sink->arg, ev);
}

#endif
