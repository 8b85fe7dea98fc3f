/*
 * The daemon's state: main's wiring (main.c, wiring.c). The scan engine
 * (scan.c, actions.c) still takes it; the modules that show the
 * daemon (control*, metrics*, notify) get a context of their own instead.
 */
#ifndef POOLMOND_POOLMOND_H
#define POOLMOND_POOLMOND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "actions.h"
#include "check.h"
#include "config.h"
#include "router.h"
#include "metrics.h"
#include "pidfile.h"
#include "policy.h"
#include "pool.h"
#include "pool_event.h"
#include "sandbox.h"
#include "scan.h"
#include "state.h"
#include "util.h"

struct control;
struct fleet;
struct hooks;
struct metrics_http;
struct resolver;

struct poolmond {
	struct config cfg;
	struct check_env env;
	struct sandbox sandbox;	/* of the check processes (sandbox.c) */
	sd_event *event;
	int pidfile_fd;
	time_t started;			/* wall clock, for status */

	struct pool pool;		/* the director's hosts (pool.c) */
	struct state state;		/* what survives restarts (state.c) */
	struct router *router;		/* a director, or the Lua director */
	struct router_view view;	/* the router as last found */
	struct resolver *resolver;	/* PTR names; NULL: not wanted */
	struct hooks *hooks;		/* --on-change (hooks.c); NULL: none */
	struct metrics metrics;		/* counters (metrics.c) */
	struct fleet *fleet;		/* --fleet-*; NULL: alone */

	struct scan scan;		/* the scan engine (scan.c) */
	struct actions actions;		/* the router's actions (actions.c) */
	struct control *control;	/* poolmonctl's socket (control.c) */
	struct metrics_http *metrics_http;	/* NULL: not listening */
};

#endif
