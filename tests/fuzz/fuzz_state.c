/*
 * The state file: whatever is on disk is read without a crash, and
 * whatever an operator (or a peer) can give as a hold reason, saved,
 * reads back word for word with nothing else of the file lost.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A hold with the input as its reason, among two other records. */
static void
round_trip(const uint8_t *data, size_t size)
{
	struct state st = { .fleet = true, .self = "127.0.0.1:9094" };
	struct state back = { .fleet = true };
	struct hold_info hold = { .uid = 1, .since = 2, .flush = true };
	const struct state_entry *e;
	char why[128], *buf = NULL;
	size_t len = 0, n = size < HOLD_REASON_MAX - 1 ? size :
	    HOLD_REASON_MAX - 1;
	FILE *f;

	memcpy(hold.reason, data, n);
	hold.reason[n] = '\0';
	if (!hold_reason_valid(hold.reason))
		return;
	if (state_set(&st, "10.0.0.1", OWNER_POOLMOND, NULL) < 0 ||
	    state_set(&st, "10.0.0.2", OWNER_HOLD, &hold) < 0 ||
	    state_set(&st, "10.0.0.3", OWNER_POOLMOND, NULL) < 0 ||
	    (f = open_memstream(&buf, &len)) == NULL)
		abort();
	if (state_format(&st, f) < 0 || fclose(f) != 0)
		abort();
	if (state_parse(&back, buf, len, why, sizeof(why)) < 0 ||
	    back.skipped != 0 || back.n != 3)
		abort();
	e = state_find(&back, "10.0.0.2");
	if (e == NULL || e->owner != OWNER_HOLD ||
	    strcmp(e->hold.reason, hold.reason) != 0 || !e->hold.flush)
		abort();
	free(buf);
	state_free(&st);
	state_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st = { 0 };
	char why[128];

	(void)state_parse(&st, (const char *)data, size, why, sizeof(why));
	state_free(&st);
	round_trip(data, size);
	return 0;
}
