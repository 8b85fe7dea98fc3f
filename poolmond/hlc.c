#include "hlc.h"

struct hlc_stamp
hlc_now(struct hlc *h, int64_t wall_ms)
{
	if (wall_ms > h->last.ms) {
		h->last.ms = wall_ms;
		h->last.count = 0;
	} else if (h->last.count == UINT32_MAX) {
		/* Four billion events in one ms: the next ms, then. */
		h->last.ms++;
		h->last.count = 0;
	} else
		h->last.count++;
	return h->last;
}

void
hlc_observe(struct hlc *h, struct hlc_stamp s)
{
	if (hlc_cmp(s, h->last) > 0)
		h->last = s;
}

int
hlc_cmp(struct hlc_stamp a, struct hlc_stamp b)
{
	if (a.ms != b.ms)
		return a.ms < b.ms ? -1 : 1;
	if (a.count != b.count)
		return a.count < b.count ? -1 : 1;
	return 0;
}
