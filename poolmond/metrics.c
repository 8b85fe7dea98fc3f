/*
 * The metrics text: Prometheus exposition format 0.0.4, one family after
 * the other (a family's samples must be together), HELP and TYPE first.
 * Base units (seconds), _total counters, one poolmon_ prefix. Per-backend
 * families have a sample per backend (and per port or state): the
 * cardinality is backends x ports, nothing an outsider controls.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

/* What poolmon_backend_state says, one sample per name. */
enum backend_state {
	STATE_UP,
	STATE_HELD,
	STATE_DOWN_BY_POOLMOND,
	STATE_DOWN_BY_OPERATOR,
	STATE_COUNT
};

static const char *const state_names[STATE_COUNT] = {
	[STATE_UP] = "up",
	[STATE_HELD] = "held",
	[STATE_DOWN_BY_POOLMOND] = "down_by_poolmond",
	[STATE_DOWN_BY_OPERATOR] = "down_by_operator",
};

static const char *const action_names[METRICS_ACTION_COUNT] = {
	[METRICS_ACTION_DOWN] = "down",
	[METRICS_ACTION_UP] = "up",
	[METRICS_ACTION_FLUSH] = "flush",
};

void
metrics_count_action(struct metrics *m, enum metrics_action action,
    bool ok)
{
	if (action < METRICS_ACTION_COUNT)
		m->actions[action][ok ? 0 : 1]++;
}

/* A hold wins over what the director shows: it is the operator's say. */
static enum backend_state
backend_state(const struct backend *b)
{
	if (b->owner == OWNER_HOLD)
		return STATE_HELD;
	if (b->dh.up)
		return STATE_UP;
	if (b->owner == OWNER_POOLMOND)
		return STATE_DOWN_BY_POOLMOND;
	return STATE_DOWN_BY_OPERATOR;
}

/* A label value: backslash, double quote and newline escaped. */
static void
put_label_value(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '\\': fputs("\\\\", f); break;
		case '"': fputs("\\\"", f); break;
		case '\n': fputs("\\n", f); break;
		default: fputc(*s, f); break;
		}
	}
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{backend="IP",tag="TAG" ; the caller closes the braces. */
static void
backend_sample(FILE *f, const char *name, const struct backend *b)
{
	fprintf(f, "%s{backend=\"", name);
	put_label_value(f, b->dh.ip);
	fputs("\",tag=\"", f);
	put_label_value(f, b->dh.tag);
	fputc('"', f);
}

/* name{backend="IP",port="PROTO:PORT"} */
static void
port_sample(FILE *f, const char *name, const struct backend *b,
    const struct portspec *p)
{
	fprintf(f, "%s{backend=\"", name);
	put_label_value(f, b->dh.ip);
	fprintf(f, "\",port=\"%s:%u\"}", mail_proto_name(p->proto, p->tls),
	    p->port);
}

static void
gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "gauge", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void
counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void
seconds(FILE *f, uint64_t ms)
{
	fprintf(f, " %llu.%03u\n", (unsigned long long)(ms / 1000),
	    (unsigned int)(ms % 1000));
}

static void
render_daemon(FILE *f, const struct daemon_summary *s)
{
	gauge(f, "poolmon_up", "Whether poolmond is running (1).", 1);
	gauge(f, "poolmon_director_reachable", "Whether the last HOST-LIST "
	    "from the director succeeded.", s->director_reachable);
	gauge(f, "poolmon_ring_synced", "Whether the director's ring was "
	    "synced when last asked; actions wait while it is not.",
	    s->ring_synced);
	gauge(f, "poolmon_guard_active", "Whether the last scan spared "
	    "failed hosts: --max-down reached, or every backend failed.",
	    s->guard_active || s->all_failed);
	gauge(f, "poolmon_dry_run", "Whether dry-run is on: nothing is "
	    "sent to the director.", s->dry_run);
	if (s->fleet) {
		gauge(f, "poolmon_fleet_peers_live", "Fleet peers heard from "
		    "within three intervals.", s->fleet_peers_live);
		gauge(f, "poolmon_fleet_peers_trusted", "Live fleet peers "
		    "that proved the fleet's key.", s->fleet_peers_trusted);
		gauge(f, "poolmon_fleet_quorum", "Agreeing fresh verdicts a "
		    "fleet action needs now.", s->fleet_quorum);
		gauge(f, "poolmon_fleet_isolated", "Whether no peer trusts "
		    "this monitor, which then acts on nothing.",
		    s->fleet_isolated);
	}
	counter(f, "poolmon_scans_total", "Scans completed since poolmond "
	    "started.", s->scans_completed);
	counter(f, "poolmon_checks_unknown_total", "Backend checks poolmond "
	    "could not make through its own fault (never acted on).",
	    s->checks_unknown);
	if (s->scans_completed > 0) {
		family(f, "poolmon_scan_duration_seconds", "gauge", "How long "
		    "the last completed scan took, actions included.");
		fputs("poolmon_scan_duration_seconds", f);
		seconds(f, s->last_scan_ms > 0 ? (uint64_t)s->last_scan_ms :
		    0);
	}
}

static void
render_actions(FILE *f, const struct metrics *m)
{
	size_t a;

	family(f, "poolmon_actions_total", "counter", "Director commands "
	    "poolmond sent (HOST-DOWN, HOST-UP, HOST-FLUSH) by result: ok, "
	    "or error (any other reply, or none).");
	for (a = 0; a < METRICS_ACTION_COUNT; a++) {
		fprintf(f, "poolmon_actions_total{action=\"%s\",result=\"ok\"} "
		    "%llu\n", action_names[a],
		    (unsigned long long)m->actions[a][0]);
		fprintf(f, "poolmon_actions_total{action=\"%s\",result="
		    "\"error\"} %llu\n", action_names[a],
		    (unsigned long long)m->actions[a][1]);
	}
}

static void
render_backends(FILE *f, const struct pool *p)
{
	size_t i, s;

	family(f, "poolmon_backend_healthy", "gauge", "Whether the backend "
	    "passed its last check (1) or failed it (0); absent until it is "
	    "checked and while poolmond could not check it.");
	for (i = 0; i < p->n; i++) {
		const struct backend *b = &p->backends[i];

		if (b->health != HEALTH_OK && b->health != HEALTH_FAILED)
			continue;
		backend_sample(f, "poolmon_backend_healthy", b);
		fprintf(f, "} %d\n", b->health == HEALTH_OK);
	}
	family(f, "poolmon_backend_director_up", "gauge", "Whether the "
	    "director has the backend up (1) or down (0).");
	for (i = 0; i < p->n; i++) {
		backend_sample(f, "poolmon_backend_director_up",
		    &p->backends[i]);
		fprintf(f, "} %d\n", p->backends[i].dh.up);
	}
	family(f, "poolmon_backend_state", "gauge", "The backend's state: "
	    "up, held (maintenance hold), down_by_poolmond or "
	    "down_by_operator; 1 for the current one, 0 for the others.");
	for (i = 0; i < p->n; i++) {
		enum backend_state st = backend_state(&p->backends[i]);

		for (s = 0; s < STATE_COUNT; s++) {
			backend_sample(f, "poolmon_backend_state",
			    &p->backends[i]);
			fprintf(f, ",state=\"%s\"} %d\n", state_names[s],
			    s == st);
		}
	}
}

static void
render_ports(FILE *f, const struct config *cfg, const struct pool *p)
{
	size_t i, k;

	family(f, "poolmon_check_duration_seconds", "gauge", "How long the "
	    "last attempt of the port's last check took; absent until it is "
	    "checked and while poolmond could not check it.");
	for (i = 0; i < p->n; i++) {
		const struct backend *b = &p->backends[i];

		if (b->last_check == 0)
			continue;
		for (k = 0; k < cfg->nports && k < p->nports; k++) {
			if (check_status_is_local(b->ports[k].status))
				continue;
			port_sample(f, "poolmon_check_duration_seconds", b,
			    &cfg->ports[k]);
			seconds(f, b->ports[k].latency_ms);
		}
	}
	family(f, "poolmon_check_failures_total", "counter", "Checks of the "
	    "port that failed through the backend (after their retries) "
	    "since poolmond started or first saw the backend.");
	for (i = 0; i < p->n; i++) {
		const struct backend *b = &p->backends[i];

		for (k = 0; k < cfg->nports && k < p->nports; k++) {
			port_sample(f, "poolmon_check_failures_total", b,
			    &cfg->ports[k]);
			fprintf(f, " %llu\n",
			    (unsigned long long)b->ports[k].failures);
		}
	}
}

int
metrics_render(const struct metrics_ctx *ctx, char **out, size_t *len)
{
	struct daemon_summary sum;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;
	bool failed;

	*out = NULL;
	*len = 0;
	if ((f = open_memstream(&buf, &size)) == NULL)
		return -ENOMEM;
	summary_read(&ctx->summary, &sum);
	render_daemon(f, &sum);
	render_actions(f, ctx->counters);
	render_backends(f, ctx->pool);
	render_ports(f, ctx->cfg, ctx->pool);
	failed = ferror(f) != 0;
	if (fclose(f) != 0 || failed) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = size;
	return 0;
}

