/*
 * What a daemon's reply says, read the same way by the text and the JSON
 * renderings: the backends of every part, and the values an older daemon
 * sends in an older form (the owner as a name, the ring as a bool).
 */
#ifndef POOLMONCTL_REPLY_H
#define POOLMONCTL_REPLY_H

#include <stddef.h>

#include "client.h"
#include "poolmon.pb-c.h"

/* Every backend of every part, in order; free() the array. */
const Poolmon__Backend **reply_backends(const struct ctl_reply *reply,
    size_t *n);
Poolmon__Owner reply_owner(const Poolmon__Backend *b);
/* "poolmond", "operator", "hold", or NULL when nobody's. */
const char *reply_owner_name(const Poolmon__Backend *b);
const char *reply_health_name(Poolmon__Health h);
/* A fleet verdict's health: "ok", "failed", else "unknown". */
const char *reply_verdict_health_name(Poolmon__Health h);
/* Peers of the fleet heard from within 3 intervals. */
size_t reply_fleet_peers_live(const Poolmon__Fleet *f);
Poolmon__RingState reply_ring_state(const Poolmon__Summary *s);

#endif
