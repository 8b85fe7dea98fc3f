/*
 * systemd's service notifications (sd_notify(3)). Every call is a no-op
 * without $NOTIFY_SOCKET, so poolmond runs the same with or without
 * systemd.
 */
#ifndef POOLMOND_NOTIFY_H
#define POOLMOND_NOTIFY_H

#include <sys/types.h>

#include <systemd/sd-event.h>

#include "pool.h"
#include "summary.h"

/* READY=1: the pidfile is held and the control socket listens. */
void notify_ready(const struct pool *pool, const struct daemon_summary *s);
/* STATUS= after a scan: "42 backends, 1 down, scan 180 ms". */
void notify_status(const struct pool *pool, const struct daemon_summary *s);
/* RELOADING=1 with MONOTONIC_USEC=; notify_ready() ends the reload. */
void notify_reloading(void);
void notify_stopping(void);
/* From the parent that forked the daemon: MAINPID= of the daemon. */
void notify_mainpid(pid_t pid);
/*
 * WATCHDOG=1 from the event loop when $WATCHDOG_USEC asks for it, so a
 * wedged loop stops pinging. 0 or -errno.
 */
int notify_watchdog_start(sd_event *event);

#endif
