/*
 * TEMPORARY stub of fleet_status.h until the fleet's status lands (issue
 * 15): nothing of the fleet is shown. The real fleet_status.c replaces
 * this file.
 */
#include "fleet_status.h"

int
fleet_status_summary(const struct fleet *f, Poolmon__Summary *s)
{
	(void)f;
	(void)s;
	return 0;
}

void
fleet_status_free_summary(Poolmon__Summary *s)
{
	(void)s;
}

int
fleet_status_backend(const struct fleet *f, const char *ip,
    Poolmon__Backend *b)
{
	(void)f;
	(void)ip;
	(void)b;
	return 0;
}

void
fleet_status_free_backend(Poolmon__Backend *b)
{
	(void)b;
}
