/*
 * The daemon's resolver: c-ares driven from the sd-event loop.
 *
 * c-ares on the loop (cares_loop.h says why c-ares), which reads
 * /etc/hosts and /etc/resolv.conf as glibc does; what it does not have is
 * NSS (LDAP, mDNS hosts databases), which backend names for TLS do not
 * come from.
 *
 * A lookup: PTR of the address, then A or AAAA of the name it gave, which
 * must hold the address (ptr.h). Its deadline timer ends it at the check
 * timeout with no name; the c-ares query may still answer later (bounded
 * by the channel's own timeout), and is then only freed.
 *
 * c-ares is loaded when a resolver is made (dlib.h): a configuration in
 * which PTR names do not count (--ssl-name, --no-ptr, no verification)
 * never maps it.
 */
#include "resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cares_loop.h"
#include "log.h"
#include "namecache.h"
#include "ptr.h"
#include "util.h"

struct resolver {
	sd_event *event;
	struct cares_loop *loop;
	struct name_cache *cache;
	int timeout_ms;
	resolver_ready_fn ready;
	void *ready_arg;
	bool closing;
};

/* One address's lookup; lives until its last c-ares query has ended. */
struct lookup {
	struct resolver *r;
	sd_event_source *deadline;
	bool answered;			/* the cache has its answer */
	int family;
	unsigned char addr[PTR_ADDR_MAX];
	char ip[INET6_ADDRSTRLEN];
	char name[PTR_NAME_MAX];	/* the PTR answer */
};

static void
lookup_answer(struct lookup *lk, const char *name)
{
	struct resolver *r = lk->r;

	if (lk->answered)
		return;
	lk->answered = true;
	lk->deadline = sd_event_source_disable_unref(lk->deadline);
	name_cache_set(r->cache, lk->ip, name, now_ms());
	if (!r->closing)
		r->ready(r->ready_arg);
}

static void
lookup_free(struct lookup *lk)
{
	sd_event_source_disable_unref(lk->deadline);
	free(lk);
}

static int
on_deadline(sd_event_source *s, uint64_t usec, void *arg)
{
	struct lookup *lk = arg;

	(void)s;
	(void)usec;
	log_debug("%s: no PTR name within %d ms: verifying the address",
	    lk->ip, lk->r->timeout_ms);
	lookup_answer(lk, NULL);
	return 0;
}

static void
on_forward(void *arg, int status, int timeouts, struct hostent *h)
{
	struct lookup *lk = arg;

	(void)timeouts;
	if (ptr_forward_confirms(status == ARES_SUCCESS ? h : NULL,
	    lk->family, lk->addr)) {
		lookup_answer(lk, lk->name);
	} else if (!lk->answered && (status == ARES_SUCCESS ||
	    status == ARES_ENOTFOUND || status == ARES_ENODATA)) {
		/* Whoever answers for the reverse zone named it: no proof. */
		log_warnx("%s: PTR name %s does not resolve back to it: "
		    "verifying the address", lk->ip, lk->name);
		lookup_answer(lk, NULL);
	} else
		lookup_answer(lk, NULL);
	lookup_free(lk);
}

static void
on_ptr(void *arg, int status, int timeouts, struct hostent *h)
{
	struct lookup *lk = arg;

	(void)timeouts;
	if (lk->answered || status != ARES_SUCCESS || h == NULL ||
	    !ptr_name_take(lk->name, sizeof(lk->name), h->h_name)) {
		lookup_answer(lk, NULL);
		lookup_free(lk);
		return;
	}
	/* May call on_forward before it returns (/etc/hosts). */
	cares_api()->gethostbyname(cares_loop_channel(lk->r->loop), lk->name,
	    lk->family, on_forward, lk);
}

static struct lookup *
lookup_new(struct resolver *r, const char *ip)
{
	struct lookup *lk = calloc(1, sizeof(*lk));

	if (lk == NULL)
		return NULL;
	lk->r = r;
	str_copy(lk->ip, ip, sizeof(lk->ip));
	if (ip_parse(ip, &lk->family, lk->addr) < 0) {
		free(lk);
		return NULL;
	}
	return lk;
}

/* Ask for ip's name; -errno when it cannot be asked (then: no name). */
static int
lookup_start(struct resolver *r, const char *ip)
{
	struct lookup *lk;
	int e;

	if (strlen(ip) >= INET6_ADDRSTRLEN || (lk = lookup_new(r, ip)) == NULL)
		return -EINVAL;
	if ((e = name_cache_pending(r->cache, ip)) < 0) {
		free(lk);
		return e;
	}
	e = sd_event_add_time_relative(r->event, &lk->deadline,
	    CLOCK_MONOTONIC, (uint64_t)r->timeout_ms * 1000, 1000,
	    on_deadline, lk);
	if (e < 0) {
		name_cache_set(r->cache, ip, NULL, now_ms());
		free(lk);
		return e;
	}
	/* May call on_ptr, even on_forward, before it returns. */
	cares_api()->gethostbyaddr(cares_loop_channel(r->loop), lk->addr,
	    lk->family == AF_INET ? sizeof(struct in_addr) :
	    sizeof(struct in6_addr), lk->family, on_ptr, lk);
	cares_loop_rearm(r->loop);
	return 0;
}

int
resolver_name(struct resolver *r, const char *ip, const char **name)
{
	int e;

	switch (name_cache_get(r->cache, ip, now_ms(), name)) {
	case NAME_KNOWN:
		return 1;
	case NAME_PENDING:
		return 0;
	case NAME_MISSING:
		break;
	}
	if ((e = lookup_start(r, ip)) < 0) {
		log_debug("%s: cannot look up its PTR name: %s", ip,
		    strerror(-e));
		*name = NULL;
		return 1;
	}
	/* An answer from /etc/hosts has come already. */
	return name_cache_get(r->cache, ip, now_ms(), name) == NAME_KNOWN;
}

struct resolver *
resolver_new(sd_event *event, int timeout_ms, const char *servers,
    resolver_ready_fn ready, void *ready_arg, char *err, size_t errlen)
{
	struct resolver *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return NULL;
	}
	r->event = sd_event_ref(event);
	r->timeout_ms = timeout_ms;
	r->ready = ready;
	r->ready_arg = ready_arg;
	if ((r->cache = name_cache_new(RESOLVER_CACHE_MAX)) == NULL) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto fail;
	}
	if ((r->loop = cares_loop_new(event, timeout_ms, servers,
	    "verifying certificates against PTR names (no --ssl-name, no "
	    "--no-ptr)", err, errlen)) == NULL)
		goto fail;
	return r;
fail:
	resolver_free(r);
	return NULL;
}

void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	r->closing = true;
	/* Ends every query: their callbacks free their lookups. */
	cares_loop_free(r->loop);
	name_cache_free(r->cache);
	sd_event_unref(r->event);
	free(r);
}
