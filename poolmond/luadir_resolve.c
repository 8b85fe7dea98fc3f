/*
 * Forward lookups on the event loop (luadir_resolve.h): c-ares'
 * getaddrinfo, its sockets watched by sd-event, each lookup ended by a
 * deadline timer of its own. A query outlives its deadline only inside
 * c-ares (bounded by the channel's timeouts); its answer then updates the
 * cache, found again by name, never through a pointer that may be gone.
 */
#include "luadir_resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cares_loop.h"
#include "util.h"

#define BUCKETS			4096
#define TTL_MIN_MS		5000
#define TTL_MAX_MS		300000
#define FAILED_RETRY_MS		5000
/* Names not asked for this long go when the cache is full. */
#define UNUSED_MS		600000
#define NAME_MAX_LEN		255

struct entry {
	struct entry *next;		/* in its bucket */
	char name[NAME_MAX_LEN + 1];
	char addr[INET6_ADDRSTRLEN];	/* "" while none is known */
	char err[96];			/* why the last lookup failed */
	bool in_flight;
	bool failed;			/* the last lookup failed */
	int64_t expires;		/* monotonic ms: look up again after */
	int64_t used;
	sd_event_source *deadline;
	struct luadir_resolver *r;
};

struct watcher {
	luadir_resolved_fn *fn;
	void *arg;
};

struct luadir_resolver {
	sd_event *event;
	struct cares_loop *loop;
	bool closing;
	int timeout_ms;
	sd_event_source *notifier;	/* tells the watchers */
	struct entry *buckets[BUCKETS];
	size_t count;
	struct watcher watchers[LUADIR_RESOLVE_WATCHERS];
};

/* What a c-ares query carries: the name, looked up again at its answer. */
struct query {
	struct luadir_resolver *r;
	char name[NAME_MAX_LEN + 1];
};

static unsigned int
hash(const char *s)
{
	unsigned int h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % BUCKETS;
}

static struct entry *
find(struct luadir_resolver *r, const char *name)
{
	struct entry *e;

	for (e = r->buckets[hash(name)]; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
entry_free(struct entry *e)
{
	sd_event_source_disable_unref(e->deadline);
	free(e);
}

/* The cache is full: names nobody asked for lately go. */
static void
sweep(struct luadir_resolver *r, int64_t now)
{
	struct entry **pp, *e;
	size_t b;

	for (b = 0; b < BUCKETS; b++)
		for (pp = &r->buckets[b]; (e = *pp) != NULL;) {
			if (!e->in_flight && now - e->used > UNUSED_MS) {
				*pp = e->next;
				entry_free(e);
				r->count--;
			} else
				pp = &e->next;
		}
}

/* Watchers are told from the loop, never from inside luadir_resolve()
 * (an answer from /etc/hosts comes before ares_getaddrinfo() returns). */
static void
notify(struct luadir_resolver *r)
{
	if (!r->closing)
		(void)sd_event_source_set_enabled(r->notifier,
		    SD_EVENT_ONESHOT);
}

static int
on_notify(sd_event_source *s, void *arg)
{
	struct luadir_resolver *r = arg;
	struct watcher w[LUADIR_RESOLVE_WATCHERS];
	size_t i;

	(void)s;
	/* A watcher may unwatch (or watch) from its call. */
	memcpy(w, r->watchers, sizeof(w));
	for (i = 0; i < LUADIR_RESOLVE_WATCHERS; i++)
		if (w[i].fn != NULL)
			w[i].fn(w[i].arg);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lookups */

static void
lookup_end(struct entry *e, const char *addr, int ttl_s, const char *why)
{
	int64_t now = now_ms(), ttl;

	e->in_flight = false;
	e->deadline = sd_event_source_disable_unref(e->deadline);
	if (addr != NULL) {
		ttl = (int64_t)ttl_s * 1000;
		if (ttl < TTL_MIN_MS)
			ttl = TTL_MIN_MS;
		if (ttl > TTL_MAX_MS)
			ttl = TTL_MAX_MS;
		str_copy(e->addr, addr, sizeof(e->addr));
		e->failed = false;
		e->expires = now + ttl;
	} else {
		/* The last address known stays; asked again soon. */
		e->failed = true;
		str_copy(e->err, why, sizeof(e->err));
		e->expires = now + FAILED_RETRY_MS;
	}
}

static int
on_deadline(sd_event_source *s, uint64_t usec, void *arg)
{
	struct entry *e = arg;
	char why[64];

	(void)s;
	(void)usec;
	snprintf(why, sizeof(why), "no answer within %d ms",
	    e->r->timeout_ms);
	lookup_end(e, NULL, 0, why);
	notify(e->r);
	return 0;
}

static void
on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct query *q = arg;
	struct luadir_resolver *r = q->r;
	struct ares_addrinfo_node *n = res != NULL ? res->nodes : NULL;
	char addr[INET6_ADDRSTRLEN] = "";
	struct entry *e;

	(void)timeouts;
	for (; status == ARES_SUCCESS && n != NULL && addr[0] == '\0';
	    n = n->ai_next) {
		const void *a = NULL;

		if (n->ai_family == AF_INET)
			a = &((struct sockaddr_in *)(void *)n->ai_addr)->
			    sin_addr;
		else if (n->ai_family == AF_INET6)
			a = &((struct sockaddr_in6 *)(void *)n->ai_addr)->
			    sin6_addr;
		if (a == NULL || inet_ntop(n->ai_family, a, addr,
		    sizeof(addr)) == NULL)
			addr[0] = '\0';
		else
			break;
	}
	if (!r->closing && (e = find(r, q->name)) != NULL && e->in_flight) {
		if (addr[0] != '\0')
			lookup_end(e, addr, n->ai_ttl, NULL);
		else
			lookup_end(e, NULL, 0, status == ARES_SUCCESS ?
			    "no address" : cares_api()->strerror(status));
		notify(r);
	}
	if (res != NULL)
		cares_api()->freeaddrinfo(res);
	free(q);
}

static int
lookup_start(struct luadir_resolver *r, struct entry *e)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };
	struct query *q;
	int rc;

	/* c-ares is loaded by the first name that is no address. */
	if (r->loop == NULL && (r->loop = cares_loop_new(r->event,
	    r->timeout_ms, NULL, "--lua-director (a database or backend "
	    "named by its host name)", e->err, sizeof(e->err))) == NULL)
		return -ELIBACC;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	q->r = r;
	str_copy(q->name, e->name, sizeof(q->name));
	rc = sd_event_add_time_relative(r->event, &e->deadline,
	    CLOCK_MONOTONIC, (uint64_t)r->timeout_ms * 1000, 1000,
	    on_deadline, e);
	if (rc < 0) {
		free(q);
		return rc;
	}
	e->in_flight = true;
	/* May answer before it returns (/etc/hosts). */
	cares_api()->getaddrinfo(cares_loop_channel(r->loop), e->name, NULL,
	    &hints, on_addrinfo, q);
	cares_loop_rearm(r->loop);
	return 0;
}

int
luadir_resolve(struct luadir_resolver *r, const char *name,
    char addr[INET6_ADDRSTRLEN], char *err, size_t errlen)
{
	int64_t now = now_ms();
	struct entry *e;
	unsigned int h;
	int rc;

	addr[0] = '\0';
	if (strlen(name) > NAME_MAX_LEN || name[0] == '\0')
		return err_set(err, errlen, -EINVAL, "bad name");
	if (ip_canonical(name, addr, INET6_ADDRSTRLEN) == 0)
		return 1;
	if ((e = find(r, name)) == NULL) {
		if (r->count >= LUADIR_RESOLVE_MAX)
			sweep(r, now);
		if (r->count >= LUADIR_RESOLVE_MAX)
			return err_set(err, errlen, -ENOSPC, "more than %d "
			    "names to resolve", LUADIR_RESOLVE_MAX);
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return err_set(err, errlen, -ENOMEM, "out of memory");
		str_copy(e->name, name, sizeof(e->name));
		e->r = r;
		h = hash(name);
		e->next = r->buckets[h];
		r->buckets[h] = e;
		r->count++;
	}
	e->used = now;
	if (!e->in_flight && now >= e->expires &&
	    (rc = lookup_start(r, e)) < 0 && e->addr[0] == '\0')
		return err_set(err, errlen, rc, "cannot look it up: %s",
		    rc == -ELIBACC ? e->err : strerror(-rc));
	if (e->addr[0] != '\0') {
		str_copy(addr, e->addr, INET6_ADDRSTRLEN);
		return 1;
	}
	if (e->in_flight)
		return 0;
	return err_set(err, errlen, -EHOSTUNREACH, "%s", e->err);
}

int
luadir_resolver_watch(struct luadir_resolver *r, luadir_resolved_fn *fn,
    void *arg)
{
	size_t i;

	for (i = 0; i < LUADIR_RESOLVE_WATCHERS; i++)
		if (r->watchers[i].fn == NULL) {
			r->watchers[i] = (struct watcher){ fn, arg };
			return 0;
		}
	return -ENOSPC;
}

void
luadir_resolver_unwatch(struct luadir_resolver *r, luadir_resolved_fn *fn,
    void *arg)
{
	size_t i;

	for (i = 0; i < LUADIR_RESOLVE_WATCHERS; i++)
		if (r->watchers[i].fn == fn && r->watchers[i].arg == arg)
			r->watchers[i] = (struct watcher){ NULL, NULL };
}

int
luadir_resolver_new(sd_event *event, int timeout_ms,
    struct luadir_resolver **out, char *err, size_t errlen)
{
	struct luadir_resolver *r;
	int e;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	r->event = sd_event_ref(event);
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	if ((e = sd_event_add_defer(event, &r->notifier, on_notify, r)) < 0 ||
	    (e = sd_event_source_set_enabled(r->notifier, SD_EVENT_OFF)) < 0) {
		luadir_resolver_free(r);
		return err_set(err, errlen, e, "event source: %s",
		    strerror(-e));
	}
	*out = r;
	return 0;
}

void
luadir_resolver_free(struct luadir_resolver *r)
{
	struct entry *e;
	size_t b;

	if (r == NULL)
		return;
	r->closing = true;
	/* Ends every query: their callbacks free what they carry. */
	cares_loop_free(r->loop);
	for (b = 0; b < BUCKETS; b++)
		while ((e = r->buckets[b]) != NULL) {
			r->buckets[b] = e->next;
			entry_free(e);
		}
	sd_event_source_disable_unref(r->notifier);
	sd_event_unref(r->event);
	free(r);
}
