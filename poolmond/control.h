/*
 * The control socket poolmonctl talks to (proto/poolmon.proto over
 * SOCK_SEQPACKET, common/frame.h). Served on the daemon's event loop
 * without ever blocking it.
 */
#ifndef POOLMOND_CONTROL_H
#define POOLMOND_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_queue.h"

struct poolmond;

/*
 * Bind and listen on --control-socket before the daemon forks, so an error
 * reaches the terminal: its directory is created 0750 if missing, the
 * socket is mode 0660 with group --control-group. A socket another process
 * still answers on is never removed; a stale one is. 0, or -errno with a
 * message in err.
 */
int control_open(struct poolmond *d, char *err, size_t errlen);
/*
 * What SIGHUP and "poolmonctl reload" both do: 0, or -errno with a message
 * in err that never quotes the credentials.
 */
typedef int control_reload_fn(struct poolmond *d, char *err, size_t errlen);

/* Serve clients on d->event; reload answers "poolmonctl reload". */
int control_start(struct poolmond *d, control_reload_fn *reload);
/*
 * A scan has finished (scanned), or could not start because the director
 * is unreachable: answer the rechecks it covers and update systemd's
 * STATUS=.
 */
void control_scan_done(struct poolmond *d, bool scanned);
struct pool_event;
/* An event for the watchers (poolmonctl watch). */
void control_event(struct poolmond *d, const struct pool_event *ev);
/* Drop every client, close the socket and remove it if it is still ours. */
void control_close(struct poolmond *d);

/*
 * The whole reply to a status request at once: one Response per part of
 * at most CTL_PART_TARGET bytes, appended to q. 0 or -ENOMEM. For tests;
 * clients get the parts one at a time (control_reply.h).
 */
int control_status_reply(const struct poolmond *d, uint64_t id,
    struct ctl_outq *q);
/*
 * The reply to a metrics request: the text of metrics_render() in
 * Responses of at most CTL_PART_TARGET bytes, split at line ends, "more"
 * set on all but the last; appended to q whole, or not at all. 0 or
 * -ENOMEM.
 */
int control_metrics_reply(const struct poolmond *d, uint64_t id,
    struct ctl_outq *q);

#endif
