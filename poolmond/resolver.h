/*
 * PTR names of backends, resolved in the daemon for the check processes
 * (which get their backend's name when forked and never resolve anything).
 * Each lookup is bounded by the check timeout; its answer (a name, or none
 * when there is none, it is not forward-confirmed, or no answer came in
 * time) is cached (namecache.h). The scan asks for every backend's name as
 * it starts and forks a backend's check process once its name is known.
 */
#ifndef POOLMOND_RESOLVER_H
#define POOLMOND_RESOLVER_H

#include <stddef.h>

#include <systemd/sd-event.h>

/* At most this many addresses are cached (a backend each). */
#define RESOLVER_CACHE_MAX	65536

struct resolver;

/* Called (from the event loop) each time a lookup has its answer. */
typedef void (*resolver_ready_fn)(void *arg);

/*
 * A resolver on event. timeout_ms bounds each lookup, PTR and forward
 * together. servers: NULL for /etc/resolv.conf's, else "IP[:PORT],..."
 * (tests). NULL with err set on failure.
 */
struct resolver *resolver_new(sd_event *event, int timeout_ms,
    const char *servers, resolver_ready_fn ready, void *ready_arg,
    char *err, size_t errlen);
/* Ends lookups in flight (no ready call) and frees everything. */
void resolver_free(struct resolver *r);
/*
 * The name to verify ip's certificate against: 1 with *name the confirmed
 * PTR name (valid until the event loop runs again) or NULL to verify the
 * address; 0 while its lookup is in flight: ready() is called once it ends.
 * Starts a lookup when the cache has no current answer.
 */
int resolver_name(struct resolver *r, const char *ip, const char **name);

#endif
