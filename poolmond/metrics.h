/*
 * Prometheus metrics: the daemon's state in the text exposition format
 * (version 0.0.4), rendered on demand (metrics.c), and served over HTTP
 * with libmicrohttpd on the daemon's own event loop (metrics_http.c).
 * The same text answers "poolmonctl metrics" on the control socket.
 */
#ifndef POOLMOND_METRICS_H
#define POOLMOND_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "pool.h"
#include "summary.h"

#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4"

enum metrics_action {
	METRICS_ACTION_DOWN,
	METRICS_ACTION_UP,
	METRICS_ACTION_FLUSH,
	METRICS_ACTION_COUNT
};

/* Counters the rendered text needs that no other module keeps. */
struct metrics {
	/* Director commands sent: [action][0] ok, [action][1] error. */
	uint64_t actions[METRICS_ACTION_COUNT][2];
};

/* What the metrics show: main wires it. */
struct metrics_ctx {
	const struct config *cfg;	/* the ports */
	const struct pool *pool;
	const struct metrics *counters;
	struct summary_source summary;
};

struct metrics_http;

/* A command to the router and how it ended (poolmon_actions_total). */
void metrics_count_action(struct metrics *m, enum metrics_action action,
    bool ok);

/*
 * The metrics text into *out (malloc'ed, NUL-terminated, *len bytes
 * without the NUL). 0 or -ENOMEM.
 */
int metrics_render(const struct metrics_ctx *ctx, char **out, size_t *len);

/*
 * The HTTP server on --metrics-listen (listen; NULL: none, *out NULL):
 * bound by metrics_http_open() (before the daemon forks, so a busy
 * address is reported on the terminal), served from event once
 * metrics_http_start() has run. 0, or -errno with err set.
 */
int metrics_http_open(struct metrics_http **out, const char *listen,
    char *err, size_t errlen);
/* Serve ctx (copied) on event; h NULL: nothing to do. */
int metrics_http_start(struct metrics_http *h, sd_event *event,
    const struct metrics_ctx *ctx);
void metrics_http_close(struct metrics_http *h);

#endif
