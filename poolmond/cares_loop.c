/*
 * c-ares driven from the sd-event loop (cares_loop.h). Why c-ares and not
 * getaddrinfo(3) in a pool of threads: poolmond stays single-threaded, so
 * fork() of a check process stays safe (no lock of a resolver thread
 * copied held into the child), and a lookup is bounded by a timer on the
 * loop rather than abandoned in a thread that may hang for resolv.conf's
 * timeouts times attempts.
 */
#include "cares_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "dlib.h"
#include "log.h"

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
	DLIB_SYM(struct cares_api, getaddrinfo, ares_getaddrinfo),
	DLIB_SYM(struct cares_api, freeaddrinfo, ares_freeaddrinfo),
};

/* The process's one copy of the library, loaded by the first loop. */
static struct cares_api cares;
static struct dlib cares_lib = DLIB_INIT("libcares.so.2", "libc-ares2",
    cares_syms, &cares);

struct cares_sock {
	ares_socket_t fd;
	sd_event_source *source;
};

struct cares_loop {
	sd_event *event;
	ares_channel channel;
	bool channel_made;
	bool library_held;
	sd_event_source *timer;		/* c-ares' next timeout */
	struct cares_sock *socks;
	size_t nsocks;
	bool closing;
};

const struct cares_api *
cares_api(void)
{
	return &cares;
}

ares_channel
cares_loop_channel(struct cares_loop *l)
{
	return l->channel;
}

void
cares_loop_rearm(struct cares_loop *l)
{
	struct timeval tv, *tvp;

	if (l->closing)
		return;
	if ((tvp = cares.timeout(l->channel, NULL, &tv)) == NULL) {
		(void)sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time_relative(l->timer,
	    (uint64_t)tvp->tv_sec * 1000000 + (uint64_t)tvp->tv_usec);
	(void)sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
}

static int
on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct cares_loop *l = arg;

	(void)s;
	(void)usec;
	cares.process_fd(l->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	cares_loop_rearm(l);
	return 0;
}

static int
on_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct cares_loop *l = arg;

	(void)s;
	cares.process_fd(l->channel,
	    revents & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
	    revents & EPOLLOUT ? fd : ARES_SOCKET_BAD);
	cares_loop_rearm(l);
	return 0;
}

static struct cares_sock *
sock_find(struct cares_loop *l, ares_socket_t fd)
{
	size_t i;

	for (i = 0; i < l->nsocks; i++)
		if (l->socks[i].fd == fd)
			return &l->socks[i];
	return NULL;
}

/* c-ares says which of its sockets to watch for what. */
static void
on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct cares_loop *l = data;
	struct cares_sock *cs = sock_find(l, fd), *grown;
	uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	int e;

	if (events == 0) {
		if (cs != NULL) {
			sd_event_source_disable_unref(cs->source);
			*cs = l->socks[--l->nsocks];
		}
		return;
	}
	if (cs != NULL) {
		if ((e = sd_event_source_set_io_events(cs->source, events)) < 0)
			log_warnx("resolver: socket events: %s", strerror(-e));
		return;
	}
	/* Unwatched, its queries end at their deadlines: still bounded. */
	grown = reallocarray(l->socks, l->nsocks + 1, sizeof(*l->socks));
	if (grown == NULL) {
		log_warnx("resolver: out of memory for a socket");
		return;
	}
	l->socks = grown;
	cs = &l->socks[l->nsocks];
	if ((e = sd_event_add_io(l->event, &cs->source, fd, events, on_io,
	    l)) < 0) {
		log_warnx("resolver: watching a socket: %s", strerror(-e));
		return;
	}
	cs->fd = fd;
	l->nsocks++;
}

static int
channel_open(struct cares_loop *l, int timeout_ms, const char *servers,
    char *err, size_t errlen)
{
	struct ares_options opts;
	int e;

	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = on_sock_state;
	opts.sock_state_cb_data = l;
	/* Two tries within the timeout: one lost datagram costs no name. */
	opts.timeout = timeout_ms / 2 > 100 ? timeout_ms / 2 : 100;
	opts.tries = 2;
	e = cares.init_options(&l->channel, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (e != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", cares.strerror(e));
		return -1;
	}
	l->channel_made = true;
	if (servers != NULL &&
	    (e = cares.set_servers_ports_csv(l->channel, servers)) !=
	    ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares servers %s: %s", servers,
		    cares.strerror(e));
		return -1;
	}
	return 0;
}

struct cares_loop *
cares_loop_new(sd_event *event, int timeout_ms, const char *servers,
    const char *needed_by, char *err, size_t errlen)
{
	struct cares_loop *l;
	int e;

	if (dlib_load(&cares_lib, needed_by, err, errlen) < 0)
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return NULL;
	}
	l->event = sd_event_ref(event);
	if ((e = cares.library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", cares.strerror(e));
		goto fail;
	}
	l->library_held = true;
	if ((e = sd_event_add_time(event, &l->timer, CLOCK_MONOTONIC,
	    UINT64_MAX, 1000, on_timer, l)) < 0) {
		snprintf(err, errlen, "timer: %s", strerror(-e));
		goto fail;
	}
	if (channel_open(l, timeout_ms, servers, err, errlen) < 0)
		goto fail;
	return l;
fail:
	cares_loop_free(l);
	return NULL;
}

void
cares_loop_free(struct cares_loop *l)
{
	size_t i;

	if (l == NULL)
		return;
	l->closing = true;
	/* Ends every query: their callbacks free what they hold. */
	if (l->channel_made)
		cares.destroy(l->channel);
	for (i = 0; i < l->nsocks; i++)
		sd_event_source_disable_unref(l->socks[i].source);
	free(l->socks);
	sd_event_source_disable_unref(l->timer);
	sd_event_unref(l->event);
	if (l->library_held)
		cares.library_cleanup();
	free(l);
}
