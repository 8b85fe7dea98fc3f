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
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "ctl_queue.h"
#include "metrics.h"
#include "pool.h"
#include "state.h"
#include "summary.h"

struct control;
struct fleet;
struct pool_event;

/* The answer to a hold: r and err as the hold hook's return and err. */
typedef void control_hold_done_fn(void *arg, int r, const char *err);

/*
 * What the control socket reads and what it asks of the daemon: main
 * wires it. The hooks get arg.
 */
struct control_ctx {
	const struct config *cfg;
	const struct pool *pool;
	const struct state *state;
	const struct fleet *fleet;	/* NULL: alone (fleet_status.h) */
	struct metrics_ctx metrics;	/* poolmonctl metrics */
	struct summary_source summary;
	void *arg;
	/*
	 * Scan now (or right after the scan in progress): every backend
	 * when nips is 0, else only those addresses. -ENOMEM.
	 */
	int (*request_scan)(void *arg, const char *const *ips, size_t nips);
	/*
	 * Maintenance hold of ip: 1, the director's commands are on their
	 * way and done(done_arg) tells how they ended; 0 (dry-run), or
	 * -errno, with err saying what was and was not done.
	 */
	int (*hold)(void *arg, const char *ip, const char *reason, uid_t uid,
	    bool flush, control_hold_done_fn *done, void *done_arg, char *err,
	    size_t errlen);
	/* Holds in progress for done_arg answer nobody (a client gone). */
	void (*forget)(void *arg, const void *done_arg);
	/* Hand ip to poolmond: 0 (err holds a note) or -errno, err set. */
	int (*release)(void *arg, const char *ip, char *err, size_t errlen);
	void (*set_dry_run)(void *arg, bool on);
	/*
	 * What SIGHUP does too: 0, or -errno with a message in err that
	 * never quotes the credentials.
	 */
	int (*reload)(void *arg, char *err, size_t errlen);
};

/*
 * Bind and listen on path before the daemon forks, so an error reaches
 * the terminal: its directory is created 0750 if missing, the socket is
 * mode 0660 with group group. A socket another process still answers on
 * is never removed; a stale one is. 0 and *out, or -errno with a message
 * in err.
 */
int control_open(struct control **out, const char *path, const char *group,
    char *err, size_t errlen);
/* Serve clients on event, with ctx (copied). */
int control_start(struct control *ctl, sd_event *event,
    const struct control_ctx *ctx);
/*
 * A scan has finished (scanned), or could not start because the director
 * is unreachable: answer the rechecks it covers. ctl NULL: nothing.
 */
void control_scan_done(struct control *ctl, bool scanned);
/* An event for the watchers (poolmonctl watch). ctl NULL: nothing. */
void control_event(struct control *ctl, const struct pool_event *ev);
/* Drop every client, close the socket and remove it if it is still ours. */
void control_close(struct control *ctl);

/*
 * The whole reply to a status request at once: one Response per part of
 * at most CTL_PART_TARGET bytes, appended to q. 0 or -ENOMEM. For tests;
 * clients get the parts one at a time (control_reply.h).
 */
int control_status_reply(const struct control_ctx *ctx, uint64_t id,
    struct ctl_outq *q);
/*
 * The reply to a metrics request: the text of metrics_render() in
 * Responses of at most CTL_PART_TARGET bytes, split at line ends, "more"
 * set on all but the last; appended to q whole, or not at all. 0 or
 * -ENOMEM.
 */
int control_metrics_reply(const struct control_ctx *ctx, uint64_t id,
    struct ctl_outq *q);

#endif
