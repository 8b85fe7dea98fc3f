/*
 * The daemon's cache of PTR answers, keyed by address: a name, no name
 * (none, unconfirmed, error or timeout) or a lookup in flight. Answers
 * expire (NAME_TTL_*); at most max_entries are kept, the oldest answer
 * giving way to a new address. A lookup in flight is never dropped: the
 * scan waits for its answer.
 */
#ifndef POOLMOND_NAMECACHE_H
#define POOLMOND_NAMECACHE_H

#include <stddef.h>
#include <stdint.h>

#define NAME_TTL_FOUND_MS	(3600 * 1000)	/* a confirmed name */
#define NAME_TTL_NONE_MS	(300 * 1000)	/* no name, error, timeout */

enum name_state {
	NAME_MISSING,		/* never asked, or its answer expired */
	NAME_PENDING,		/* a lookup is in flight */
	NAME_KNOWN,		/* answered: a name or none */
};

struct name_cache;

struct name_cache *name_cache_new(size_t max_entries);
void name_cache_free(struct name_cache *nc);
/*
 * The state of ip at now (monotonic ms); with NAME_KNOWN, *name is the
 * name (valid until the cache next changes) or NULL for none.
 */
enum name_state name_cache_get(struct name_cache *nc, const char *ip,
    int64_t now, const char **name);
/*
 * A lookup of ip starts: 0, or -ENOSPC when every entry is a lookup in
 * flight, -ENOMEM, -EINVAL for an ip too long.
 */
int name_cache_pending(struct name_cache *nc, const char *ip);
/* Its answer at now: name, or NULL for none. Never fails to end a lookup. */
void name_cache_set(struct name_cache *nc, const char *ip, const char *name,
    int64_t now);
size_t name_cache_count(const struct name_cache *nc);

#endif
