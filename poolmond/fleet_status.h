/*
 * What poolmonctl status shows of the fleet: the fleet line of the
 * summary, and each backend's actor and verdicts (poolmon.proto's Fleet,
 * Backend.actor and Backend.verdicts). Memory is allocated with malloc and
 * freed with fleet_status_free_*(), after the reply is packed.
 */
#ifndef POOLMOND_FLEET_STATUS_H
#define POOLMOND_FLEET_STATUS_H

#include "poolmon.pb-c.h"

struct fleet;

/* Summary.fleet; f NULL (no fleet): left unset. -ENOMEM. */
int fleet_status_summary(const struct fleet *f, Poolmon__Summary *s);
void fleet_status_free_summary(Poolmon__Summary *s);
/* Backend.actor and Backend.verdicts of host ip; f NULL: unset. */
int fleet_status_backend(const struct fleet *f, const char *ip,
    Poolmon__Backend *b);
void fleet_status_free_backend(Poolmon__Backend *b);

#endif
