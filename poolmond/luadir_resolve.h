/*
 * Addresses of names for the Lua director's router: a backends row whose
 * hostip is empty is checked at its hostname, and a database server named
 * by a host name is connected to at its address (the client libraries
 * would resolve it blocking the loop). c-ares on the event loop, each
 * lookup bounded; answers cached for their TTL (5 s to 5 min), and the
 * last address known kept while a new lookup runs or after it fails, so
 * that a resolver that stalls never makes a backend vanish from the pool.
 */
#ifndef POOLMOND_LUADIR_RESOLVE_H
#define POOLMOND_LUADIR_RESOLVE_H

#include <netinet/in.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "router.h"

/* Names cached at most: a backend each, and the database server. */
#define LUADIR_RESOLVE_MAX	(ROUTER_MAX_HOSTS + 16)
#define LUADIR_RESOLVE_WATCHERS	4

struct luadir_resolver;

/* A lookup ended (from the event loop). */
typedef void luadir_resolved_fn(void *arg);

/* timeout_ms bounds each lookup. 0 or -errno with err. */
int luadir_resolver_new(sd_event *event, int timeout_ms,
    struct luadir_resolver **out, char *err, size_t errlen);
/* Ends lookups in flight (no watcher is called) and frees everything. */
void luadir_resolver_free(struct luadir_resolver *r);
/* fn(arg) is called each time a lookup ends. 0 or -ENOSPC. */
int luadir_resolver_watch(struct luadir_resolver *r, luadir_resolved_fn *fn,
    void *arg);
void luadir_resolver_unwatch(struct luadir_resolver *r,
    luadir_resolved_fn *fn, void *arg);

/*
 * name's address: 1 with addr set (a fresh answer, or the last known
 * while a new lookup runs); 0 while a lookup runs with nothing known (the
 * watchers are called when it ends); -errno with err when it failed and
 * no address is known.
 */
int luadir_resolve(struct luadir_resolver *r, const char *name,
    char addr[INET6_ADDRSTRLEN], char *err, size_t errlen);

#endif
