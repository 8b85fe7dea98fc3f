/*
 * A chained hash table of fixed bucket count (the entry count is bounded
 * too) with two lists: answers in the order they came, oldest first, for
 * eviction, and lookups in flight, which are never evicted.
 */
#include "namecache.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "util.h"

#define NAME_CACHE_BUCKETS	4096	/* a power of two */

struct name_entry {
	struct name_entry *hnext;	/* same bucket */
	TAILQ_ENTRY(name_entry) link;	/* in answered or pending */
	char *name;			/* NULL: none */
	int64_t expires;		/* monotonic ms */
	bool pending;
	char ip[INET6_ADDRSTRLEN];
};

TAILQ_HEAD(name_list, name_entry);

struct name_cache {
	struct name_entry *buckets[NAME_CACHE_BUCKETS];
	struct name_list answered;	/* oldest answer first */
	struct name_list pending;
	size_t count;
	size_t max_entries;
};

struct name_cache *
name_cache_new(size_t max_entries)
{
	struct name_cache *nc;

	if (max_entries == 0 || (nc = calloc(1, sizeof(*nc))) == NULL)
		return NULL;
	TAILQ_INIT(&nc->answered);
	TAILQ_INIT(&nc->pending);
	nc->max_entries = max_entries;
	return nc;
}

static void
entry_free(struct name_entry *e)
{
	free(e->name);
	free(e);
}

void
name_cache_free(struct name_cache *nc)
{
	struct name_entry *e;

	if (nc == NULL)
		return;
	while ((e = TAILQ_FIRST(&nc->answered)) != NULL) {
		TAILQ_REMOVE(&nc->answered, e, link);
		entry_free(e);
	}
	while ((e = TAILQ_FIRST(&nc->pending)) != NULL) {
		TAILQ_REMOVE(&nc->pending, e, link);
		entry_free(e);
	}
	free(nc);
}

size_t
name_cache_count(const struct name_cache *nc)
{
	return nc->count;
}

static size_t
bucket_of(const char *ip)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *ip != '\0'; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h & (NAME_CACHE_BUCKETS - 1);
}

static struct name_entry *
find(const struct name_cache *nc, const char *ip)
{
	struct name_entry *e;

	for (e = nc->buckets[bucket_of(ip)]; e != NULL; e = e->hnext)
		if (strcmp(e->ip, ip) == 0)
			return e;
	return NULL;
}

static void
evict(struct name_cache *nc, struct name_entry *victim)
{
	struct name_entry **pp = &nc->buckets[bucket_of(victim->ip)];

	while (*pp != victim)
		pp = &(*pp)->hnext;
	*pp = victim->hnext;
	TAILQ_REMOVE(&nc->answered, victim, link);
	entry_free(victim);
	nc->count--;
}

/* A new entry for ip, making room by dropping the oldest answer. */
static int
insert(struct name_cache *nc, const char *ip, struct name_entry **out)
{
	struct name_entry *e;
	size_t b;

	if (strlen(ip) >= sizeof(e->ip))
		return -EINVAL;
	if (nc->count >= nc->max_entries) {
		if (TAILQ_EMPTY(&nc->answered))
			return -ENOSPC;
		evict(nc, TAILQ_FIRST(&nc->answered));
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	str_copy(e->ip, ip, sizeof(e->ip));
	b = bucket_of(ip);
	e->hnext = nc->buckets[b];
	nc->buckets[b] = e;
	TAILQ_INSERT_TAIL(&nc->answered, e, link);
	nc->count++;
	*out = e;
	return 0;
}

enum name_state
name_cache_get(struct name_cache *nc, const char *ip, int64_t now,
    const char **name)
{
	struct name_entry *e = find(nc, ip);

	*name = NULL;
	if (e == NULL)
		return NAME_MISSING;
	if (e->pending)
		return NAME_PENDING;
	if (e->expires <= now)
		return NAME_MISSING;
	*name = e->name;
	return NAME_KNOWN;
}

int
name_cache_pending(struct name_cache *nc, const char *ip)
{
	struct name_entry *e = find(nc, ip);
	int r;

	if (e != NULL && e->pending)
		return 0;
	if (e == NULL && (r = insert(nc, ip, &e)) < 0)
		return r;
	free(e->name);
	e->name = NULL;
	e->pending = true;
	TAILQ_REMOVE(&nc->answered, e, link);
	TAILQ_INSERT_TAIL(&nc->pending, e, link);
	return 0;
}

void
name_cache_set(struct name_cache *nc, const char *ip, const char *name,
    int64_t now)
{
	struct name_entry *e = find(nc, ip);

	if (e == NULL) {
		if (insert(nc, ip, &e) < 0)
			return;
	}
	TAILQ_REMOVE(e->pending ? &nc->pending : &nc->answered, e, link);
	TAILQ_INSERT_TAIL(&nc->answered, e, link);
	e->pending = false;
	free(e->name);
	/* Out of memory for the name: none, which verifies the address. */
	e->name = name != NULL ? strdup(name) : NULL;
	e->expires = now + (e->name != NULL ? NAME_TTL_FOUND_MS :
	    NAME_TTL_NONE_MS);
}
