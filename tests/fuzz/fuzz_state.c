/* The state file parser: whatever is on disk, never a crash. */
#include <stdint.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st = { 0 };
	char why[128];

	(void)state_parse(&st, (const char *)data, size, why, sizeof(why));
	state_free(&st);
	return 0;
}
