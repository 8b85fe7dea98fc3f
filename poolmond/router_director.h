/* The director driver of the router (router.h): a director-admin socket. */
#ifndef POOLMOND_ROUTER_DIRECTOR_H
#define POOLMOND_ROUTER_DIRECTOR_H

#include <systemd/sd-event.h>

#include "router.h"

struct director_client;

/* A router speaking to the director at path; timeout_ms bounds each
 * command by default. 0 or -errno. */
int router_director_new(sd_event *event, const char *path, int timeout_ms,
    struct router **out);
/* Its client (tests, which attach a socket of their own); NULL for a
 * router of another kind. */
struct director_client *router_director_client(struct router *r);

#endif
