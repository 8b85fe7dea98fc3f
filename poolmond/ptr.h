/*
 * PTR names of backends, for TLS verification (the name context of
 * poolmon 0.7). getnameinfo(3) cannot be given a deadline, so the lookup
 * runs in a thread of the check process and is waited for only until the
 * check timeout: a slow or failed lookup falls back to the IP address.
 * Answers, names and failures alike, are kept in a cache in memory shared
 * by the daemon and every check process it forks, so the next scans do not
 * wait again.
 */
#ifndef POOLMOND_PTR_H
#define POOLMOND_PTR_H

#include <stddef.h>

#define PTR_NAME_MAX		256	/* a DNS name and its NUL */
#define PTR_TTL_NAME_MS		(3600 * 1000)	/* a name found */
#define PTR_TTL_NONE_MS		(300 * 1000)	/* no name, error, timeout */

/* Resolve ip to a host name: 0, or -1 when there is none. May block. */
typedef int (*ptr_resolver_fn)(const char *ip, char *name, size_t len);

struct ptr_cache;

/*
 * Made by the daemon before it forks anything. resolver NULL: the system
 * resolver (getnameinfo: /etc/hosts first, then DNS). NULL on failure.
 */
struct ptr_cache *ptr_cache_new(ptr_resolver_fn resolver);
void ptr_cache_free(struct ptr_cache *pc);
/*
 * The PTR name of ip into name: 0, or -1 when it has none or no answer came
 * within timeout_ms (the caller then verifies the address).
 */
int ptr_lookup(struct ptr_cache *pc, const char *ip, int timeout_ms,
    char *name, size_t len);

#endif
