/*
 * The daemon's resolver: c-ares driven from the sd-event loop.
 *
 * Why c-ares and not getnameinfo(3) in a pool of threads: poolmond stays
 * single-threaded, so fork() of a check process stays safe (no lock of a
 * resolver thread copied held into the child), and a lookup is bounded by
 * a timer on the loop rather than abandoned in a thread that may hang for
 * resolv.conf's timeouts times attempts. c-ares reads /etc/hosts and
 * /etc/resolv.conf as glibc does; what it does not have is NSS (LDAP, mDNS
 * hosts databases), which backend names for TLS do not come from.
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
#include <sys/epoll.h>
#include <sys/socket.h>

#include <ares.h>

#include "dlib.h"
#include "log.h"
#include "namecache.h"
#include "ptr.h"
#include "util.h"

/* The functions of c-ares used here, resolved at run time. */
struct cares_api {
	__typeof__(ares_library_init) *library_init;
	__typeof__(ares_library_cleanup) *library_cleanup;
	__typeof__(ares_init_options) *init_options;
	__typeof__(ares_set_servers_ports_csv) *set_servers_ports_csv;
	__typeof__(ares_destroy) *destroy;
	__typeof__(ares_strerror) *strerror;
	__typeof__(ares_timeout) *timeout;
	__typeof__(ares_process_fd) *process_fd;
	__typeof__(ares_gethostbyname) *gethostbyname;
	__typeof__(ares_gethostbyaddr) *gethostbyaddr;
};

static const struct dlib_sym cares_syms[] = {
	DLIB_SYM(struct cares_api, library_init, ares_library_init),
	DLIB_SYM(struct cares_api, library_cleanup, ares_library_cleanup),
	DLIB_SYM(struct cares_api, init_options, ares_init_options),
	DLIB_SYM(struct cares_api, set_servers_ports_csv,
	    ares_set_servers_ports_csv),
	DLIB_SYM(struct cares_api, destroy, ares_destroy),
	DLIB_SYM(struct cares_api, strerror, ares_strerror),
	DLIB_SYM(struct cares_api, timeout, ares_timeout),
	DLIB_SYM(struct cares_api, process_fd, ares_process_fd),
	DLIB_SYM(struct cares_api, gethostbyname, ares_gethostbyname),
	DLIB_SYM(struct cares_api, gethostbyaddr, ares_gethostbyaddr),
};

/* The process's one copy of the library, loaded by the first resolver. */
static struct cares_api cares;
static struct dlib cares_lib = DLIB_INIT("libcares.so.2", "libc-ares2",
    cares_syms, &cares);

struct resolver_sock {
	ares_socket_t fd;
	sd_event_source *source;
};

struct resolver {
	sd_event *event;
	ares_channel channel;
	bool channel_made;
	sd_event_source *timer;		/* c-ares' next timeout */
	struct resolver_sock *socks;
	size_t nsocks;
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
rearm_timer(struct resolver *r)
{
	struct timeval tv, *tvp;

	if (r->closing)
		return;
	if ((tvp = cares.timeout(r->channel, NULL, &tv)) == NULL) {
		(void)sd_event_source_set_enabled(r->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time_relative(r->timer,
	    (uint64_t)tvp->tv_sec * 1000000 + (uint64_t)tvp->tv_usec);
	(void)sd_event_source_set_enabled(r->timer, SD_EVENT_ONESHOT);
}

static int
on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct resolver *r = arg;

	(void)s;
	(void)usec;
	cares.process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm_timer(r);
	return 0;
}

static int
on_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct resolver *r = arg;

	(void)s;
	cares.process_fd(r->channel,
	    revents & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
	    revents & EPOLLOUT ? fd : ARES_SOCKET_BAD);
	rearm_timer(r);
	return 0;
}

static struct resolver_sock *
sock_find(struct resolver *r, ares_socket_t fd)
{
	size_t i;

	for (i = 0; i < r->nsocks; i++)
		if (r->socks[i].fd == fd)
			return &r->socks[i];
	return NULL;
}

/* c-ares says which of its sockets to watch for what. */
static void
on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	struct resolver_sock *rs = sock_find(r, fd), *grown;
	uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	int e;

	if (events == 0) {
		if (rs != NULL) {
			sd_event_source_disable_unref(rs->source);
			*rs = r->socks[--r->nsocks];
		}
		return;
	}
	if (rs != NULL) {
		if ((e = sd_event_source_set_io_events(rs->source, events)) < 0)
			log_warnx("resolver: socket events: %s", strerror(-e));
		return;
	}
	/* Unwatched, its queries end at their deadlines: still bounded. */
	grown = reallocarray(r->socks, r->nsocks + 1, sizeof(*r->socks));
	if (grown == NULL) {
		log_warnx("resolver: out of memory for a socket");
		return;
	}
	r->socks = grown;
	rs = &r->socks[r->nsocks];
	if ((e = sd_event_add_io(r->event, &rs->source, fd, events, on_io,
	    r)) < 0) {
		log_warnx("resolver: watching a socket: %s", strerror(-e));
		return;
	}
	rs->fd = fd;
	r->nsocks++;
}

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
	cares.gethostbyname(lk->r->channel, lk->name, lk->family, on_forward,
	    lk);
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
	cares.gethostbyaddr(r->channel, lk->addr, lk->family == AF_INET ?
	    sizeof(struct in_addr) : sizeof(struct in6_addr), lk->family,
	    on_ptr, lk);
	rearm_timer(r);
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

static int
channel_open(struct resolver *r, const char *servers, char *err,
    size_t errlen)
{
	struct ares_options opts;
	int e;

	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = on_sock_state;
	opts.sock_state_cb_data = r;
	/* Two tries within the timeout: one lost datagram costs no name. */
	opts.timeout = r->timeout_ms / 2 > 100 ? r->timeout_ms / 2 : 100;
	opts.tries = 2;
	e = cares.init_options(&r->channel, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (e != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", cares.strerror(e));
		return -1;
	}
	r->channel_made = true;
	if (servers != NULL &&
	    (e = cares.set_servers_ports_csv(r->channel, servers)) !=
	    ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares servers %s: %s", servers,
		    cares.strerror(e));
		return -1;
	}
	return 0;
}

struct resolver *
resolver_new(sd_event *event, int timeout_ms, const char *servers,
    resolver_ready_fn ready, void *ready_arg, char *err, size_t errlen)
{
	struct resolver *r;
	int e;

	if (dlib_load(&cares_lib, "verifying certificates against PTR names "
	    "(no --ssl-name, no --no-ptr)", err, errlen) < 0)
		return NULL;
	if ((e = cares.library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", cares.strerror(e));
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		cares.library_cleanup();
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
	if ((e = sd_event_add_time(event, &r->timer, CLOCK_MONOTONIC,
	    UINT64_MAX, 1000, on_timer, r)) < 0) {
		snprintf(err, errlen, "timer: %s", strerror(-e));
		goto fail;
	}
	if (channel_open(r, servers, err, errlen) < 0)
		goto fail;
	return r;
fail:
	resolver_free(r);
	return NULL;
}

void
resolver_free(struct resolver *r)
{
	size_t i;

	if (r == NULL)
		return;
	r->closing = true;
	/* Ends every query: their callbacks free their lookups. */
	if (r->channel_made)
		cares.destroy(r->channel);
	for (i = 0; i < r->nsocks; i++)
		sd_event_source_disable_unref(r->socks[i].source);
	free(r->socks);
	sd_event_source_disable_unref(r->timer);
	name_cache_free(r->cache);
	sd_event_unref(r->event);
	free(r);
	cares.library_cleanup();
}
