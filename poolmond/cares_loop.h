/*
 * c-ares on the sd-event loop: a channel whose sockets and timeouts are
 * event sources, so that a name lookup never blocks the loop and is
 * bounded by the channel's timeout. The library is loaded at run time
 * (dlib.h) by the first channel made: a configuration that looks up no
 * name never maps it. Its functions, as used, are in cares_api().
 */
#ifndef POOLMOND_CARES_LOOP_H
#define POOLMOND_CARES_LOOP_H

#include <stddef.h>

#include <ares.h>
#include <systemd/sd-event.h>

/* The functions of c-ares poolmond uses, resolved at run time. */
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
	__typeof__(ares_getaddrinfo) *getaddrinfo;
	__typeof__(ares_freeaddrinfo) *freeaddrinfo;
};

struct cares_loop;

/*
 * A channel on event: each query tried twice within timeout_ms; servers
 * ("ADDR:PORT,..."), NULL: resolv.conf's. needed_by names what needs the
 * library, for the error when it cannot be loaded. NULL on failure, with
 * err set.
 */
struct cares_loop *cares_loop_new(sd_event *event, int timeout_ms,
    const char *servers, const char *needed_by, char *err, size_t errlen);
/* Ends every query (their callbacks run) and frees the loop. */
void cares_loop_free(struct cares_loop *l);
ares_channel cares_loop_channel(struct cares_loop *l);
/* After queries were queued: c-ares' next timeout watched. */
void cares_loop_rearm(struct cares_loop *l);
/* The library's functions: valid once a loop was made. */
const struct cares_api *cares_api(void);

#endif
