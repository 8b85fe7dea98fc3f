/*
 * main's wiring: the contexts through which the control socket, the
 * metrics and systemd's notifications read the daemon and ask things of
 * it, made from struct poolmond. Part of main (main.c), in a file of its
 * own so that the control fuzzer wires the daemon as main does.
 */
#ifndef POOLMOND_WIRING_H
#define POOLMOND_WIRING_H

#include <stdbool.h>
#include <stddef.h>

#include "control.h"
#include "metrics.h"
#include "poolmond.h"

/* What SIGHUP and "poolmonctl reload" do (main.c's); arg is the daemon. */
typedef int wire_reload_fn(void *arg, char *err, size_t errlen);

/* The daemon's summary (summary.h); arg is the daemon. */
void wire_summary(void *arg, struct daemon_summary *s);
void wire_metrics_ctx(struct poolmond *d, struct metrics_ctx *ctx);
/* The control socket's context: d->fleet as it is now. */
void wire_control_ctx(struct poolmond *d, wire_reload_fn *reload,
    struct control_ctx *ctx);
/*
 * The scan engine and the actions: what they work with (the pool, the
 * state, the director client, the fleet...) and whom they tell. After
 * the director client, the resolver, the hooks and the fleet exist.
 */
void wire_engine(struct poolmond *d);
/* READY=1 and STATUS= of the daemon now. */
void wire_notify_ready(struct poolmond *d);
void wire_notify_status(struct poolmond *d);

#endif
