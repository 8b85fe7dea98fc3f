/* The daemon's memory of one backend: port results and failure reasons. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "poolmond.h"

int
backend_init_ports(struct backend *b, size_t nports)
{
	b->ports = calloc(nports > 0 ? nports : 1, sizeof(*b->ports));
	return b->ports == NULL ? -ENOMEM : 0;
}

void
backend_free(struct backend *b, size_t nports)
{
	size_t i;

	if (b->ports != NULL)
		for (i = 0; i < nports; i++)
			free(b->ports[i].reason);
	free(b->ports);
	free(b->reason);
	b->ports = NULL;
	b->reason = NULL;
}

int
port_state_set(struct port_state *ps, const struct check_result *res)
{
	char *reason = NULL;

	if (res->reason[0] != '\0' &&
	    (reason = strndup(res->reason, CHECK_REASON_MAX - 1)) == NULL)
		return -ENOMEM;
	free(ps->reason);
	ps->status = (uint8_t)res->status;
	ps->warning = res->warning;
	ps->tries = res->tries;
	ps->latency_ms = res->latency_ms;
	ps->reason = reason;
	return 0;
}

int
backend_set_reason(struct backend *b, const char *reason)
{
	char *copy = NULL;

	if (reason != NULL && (copy = strdup(reason)) == NULL)
		return -ENOMEM;
	free(b->reason);
	b->reason = copy;
	return 0;
}
