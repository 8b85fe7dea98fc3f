/*
 * The JSON rendering of the daemon's replies: one document per command.
 * The keys are an interface (listed in poolmonctl(8)): add keys freely,
 * never rename or retype one. json.c escapes every string.
 */
#include "output.h"

#include <inttypes.h>

#include <stdlib.h>

#include "json.h"
#include "reply.h"
#include "version.h"

static const char *
or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

static void
json_check(struct json *j, const Poolmon__PortCheck *pc)
{
	json_object_begin(j);
	json_key(j, "port");
	json_uint(j, pc->port);
	json_key(j, "protocol");
	json_string(j, pc->protocol);
	json_key(j, "tls");
	json_bool(j, pc->tls);
	json_key(j, "ok");
	if (pc->checked)
		json_bool(j, pc->ok);
	else
		json_null(j);
	json_key(j, "status");
	json_string(j, pc->checked ? pc->status : NULL);
	json_key(j, "latency_ms");
	if (pc->checked)
		json_uint(j, pc->latency_ms);
	else
		json_null(j);
	json_key(j, "tries");
	if (pc->checked)
		json_uint(j, pc->tries);
	else
		json_null(j);
	json_key(j, "error");
	json_string(j, pc->checked && !pc->ok ? pc->reason : NULL);
	json_key(j, "warning");
	json_string(j, pc->checked && pc->ok && pc->warning ? pc->reason :
	    NULL);
	json_object_end(j);
}

static void
json_time(struct json *j, const char *key, int64_t t)
{
	json_key(j, key);
	if (t > 0)
		json_int(j, t);
	else
		json_null(j);
}

/* One monitor's verdict on a backend (fleet). */
static void
json_verdict(struct json *j, const Poolmon__Verdict *v)
{
	json_object_begin(j);
	json_key(j, "monitor");
	json_string(j, v->monitor);
	json_key(j, "health");
	json_string(j, reply_verdict_health_name(v->health));
	json_key(j, "reason");
	json_string(j, or_null(v->reason));
	json_time(j, "at", v->at);
	json_object_end(j);
}

/* Without a fleet: "actor" null, "verdicts" empty. */
static void
json_fleet_backend(struct json *j, const Poolmon__Backend *b)
{
	size_t i;

	json_key(j, "actor");
	json_string(j, or_null(b->actor));
	json_key(j, "verdicts");
	json_array_begin(j);
	for (i = 0; i < b->n_verdicts; i++)
		json_verdict(j, b->verdicts[i]);
	json_array_end(j);
}

/* A hold's keys are null unless the host is held. */
static void
json_ownership(struct json *j, const Poolmon__Backend *b)
{
	bool held = reply_owner(b) == POOLMON__OWNER__OWNER_HOLD;

	json_key(j, "owner");
	json_string(j, reply_owner_name(b));
	json_key(j, "hold_reason");
	json_string(j, held ? (b->hold_reason != NULL ? b->hold_reason : "") :
	    NULL);
	json_key(j, "hold_uid");
	if (held)
		json_uint(j, b->hold_uid);
	else
		json_null(j);
	json_time(j, "hold_since", held ? b->hold_since : 0);
	json_key(j, "hold_flush");
	if (held)
		json_bool(j, b->hold_flush);
	else
		json_null(j);
	json_key(j, "failing_count");
	json_uint(j, b->failing_count);
	json_key(j, "rising_count");
	json_uint(j, b->rising_count);
	json_key(j, "spared");
	json_bool(j, b->spared);
}

static void
json_backend(struct json *j, const Poolmon__Backend *b)
{
	size_t i;

	json_object_begin(j);
	json_key(j, "address");
	json_string(j, b->address);
	json_key(j, "tag");
	json_string(j, b->tag != NULL ? b->tag : "");
	json_key(j, "director_state");
	json_string(j, b->director_up ? "up" : "down");
	json_key(j, "vhost_count");
	if (b->has_vhost_count)
		json_uint(j, b->vhost_count);
	else
		json_null(j);
	json_key(j, "router_state");
	if (b->has_router_state)
		json_int(j, b->router_state);
	else
		json_null(j);
	json_key(j, "users");
	json_uint(j, b->users);
	json_key(j, "healthy");
	if (b->health == POOLMON__HEALTH__HEALTH_OK ||
	    b->health == POOLMON__HEALTH__HEALTH_FAILED)
		json_bool(j, b->health == POOLMON__HEALTH__HEALTH_OK);
	else
		json_null(j);
	json_key(j, "health");
	json_string(j, reply_health_name(b->health));
	json_key(j, "reason");
	json_string(j, b->reason != NULL && b->reason[0] != '\0' ?
	    b->reason : NULL);
	json_time(j, "last_check", b->last_check);
	json_time(j, "last_updown_change", b->last_updown_change);
	json_key(j, "flush_pending");
	json_bool(j, b->flush_pending);
	json_ownership(j, b);
	json_key(j, "checks");
	json_array_begin(j);
	for (i = 0; i < b->n_checks; i++)
		json_check(j, b->checks[i]);
	json_array_end(j);
	json_fleet_backend(j, b);
	json_object_end(j);
}

static void
json_backends(struct json *j, const struct ctl_reply *reply)
{
	const Poolmon__Backend **all;
	size_t i, n;

	all = reply_backends(reply, &n);
	json_key(j, "backends");
	json_array_begin(j);
	for (i = 0; i < n; i++)
		json_backend(j, all[i]);
	json_array_end(j);
	free(all);
}

/* ring_synced is null while the ring's state is unknown. */
static void
json_ring(struct json *j, const Poolmon__Summary *s)
{
	Poolmon__RingState ring = reply_ring_state(s);

	json_key(j, "ring_synced");
	if (ring == POOLMON__RING_STATE__RING_UNKNOWN)
		json_null(j);
	else
		json_bool(j, ring == POOLMON__RING_STATE__RING_SYNCED);
	json_key(j, "ring_state");
	json_string(j, ring == POOLMON__RING_STATE__RING_SYNCED ? "synced" :
	    ring == POOLMON__RING_STATE__RING_NOT_SYNCED ? "not_synced" :
	    "unknown");
}

static void
json_safety(struct json *j, const Poolmon__Summary *s)
{
	json_key(j, "guard_active");
	json_bool(j, s->guard_active);
	json_key(j, "all_failed");
	json_bool(j, s->all_failed);
	json_ring(j, s);
	json_key(j, "fall");
	json_uint(j, s->fall);
	json_key(j, "rise");
	json_uint(j, s->rise);
	json_key(j, "max_down_pct");
	json_uint(j, s->max_down_pct);
	json_key(j, "adopt_down");
	json_bool(j, s->adopt_down);
}

static void
json_fleet_peer(struct json *j, const Poolmon__FleetPeer *p)
{
	json_object_begin(j);
	json_key(j, "address");
	json_string(j, p->address);
	json_key(j, "live");
	json_bool(j, p->live);
	json_key(j, "trusted");
	json_bool(j, p->trusted);
	json_time(j, "last_seen", p->last_seen);
	json_key(j, "error");
	json_string(j, or_null(p->error));
	json_key(j, "clock_skew_ms");
	if (p->has_clock_skew_ms)
		json_int(j, p->clock_skew_ms);
	else
		json_null(j);
	json_key(j, "dry_run");
	json_bool(j, p->dry_run);
	json_object_end(j);
}

/* "fleet": null without fleet options (or from an older daemon). */
static void
json_fleet(struct json *j, const Poolmon__Fleet *f)
{
	size_t i;

	json_key(j, "fleet");
	if (f == NULL) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	json_key(j, "self");
	json_string(j, f->self);
	json_key(j, "quorum");
	json_uint(j, f->quorum);
	json_key(j, "live");
	json_uint(j, f->live);
	json_key(j, "isolated");
	json_bool(j, f->isolated);
	json_key(j, "peers");
	json_array_begin(j);
	for (i = 0; i < f->n_peers; i++)
		json_fleet_peer(j, f->peers[i]);
	json_array_end(j);
	json_object_end(j);
}

/*
 * "router": what routes users. An older daemon says nothing of it: a
 * director at director_socket.
 */
static void
json_router(struct json *j, const Poolmon__Summary *s)
{
	const Poolmon__Router *r = s->router;

	json_key(j, "router");
	json_object_begin(j);
	json_key(j, "kind");
	json_string(j, r != NULL ? r->kind : "director");
	json_key(j, "target");
	json_string(j, r != NULL ? r->target : s->director_socket);
	json_key(j, "reachable");
	json_bool(j, r != NULL ? r->reachable : s->director_reachable);
	json_object_end(j);
}

static void
json_summary(struct json *j, const Poolmon__Summary *s)
{
	json_key(j, "daemon_version");
	json_string(j, s->daemon_version);
	json_key(j, "pid");
	json_uint(j, s->pid);
	json_time(j, "started", s->started);
	json_router(j, s);
	json_key(j, "director_socket");
	json_string(j, s->director_socket);
	json_key(j, "director_reachable");
	json_bool(j, s->director_reachable);
	json_key(j, "director_error");
	json_string(j, s->director_error);
	json_key(j, "dry_run");
	json_bool(j, s->dry_run);
	json_key(j, "interval");
	json_uint(j, s->interval_s);
	json_key(j, "scanning");
	json_bool(j, s->scanning);
	json_key(j, "scans_completed");
	json_uint(j, s->scans_completed);
	json_key(j, "children_forked");
	json_uint(j, s->children_forked);
	json_key(j, "child_maxrss_kb");
	json_uint(j, s->child_maxrss_kb);
	json_time(j, "last_scan", s->last_scan_end);
	json_key(j, "last_scan_ms");
	if (s->scans_completed > 0)
		json_uint(j, s->last_scan_ms);
	else
		json_null(j);
	json_key(j, "backends_total");
	json_uint(j, s->backends_total);
	json_key(j, "backends_healthy");
	json_uint(j, s->backends_healthy);
	json_key(j, "backends_failed");
	json_uint(j, s->backends_failed);
	json_key(j, "backends_unchecked");
	json_uint(j, s->backends_unchecked);
	json_key(j, "backends_unknown");
	json_uint(j, s->backends_unknown);
	json_key(j, "checks_unknown");
	json_uint(j, s->checks_unknown);
	json_key(j, "director_up");
	json_uint(j, s->director_up);
	json_key(j, "director_down");
	json_uint(j, s->director_down);
	json_safety(j, s);
}

static void
json_status(struct json *j, const struct ctl_reply *reply)
{
	const Poolmon__Summary *s = reply->parts[0]->status->summary;

	json_object_begin(j);
	if (s != NULL)
		json_summary(j, s);
	json_fleet(j, s != NULL ? s->fleet : NULL);
	json_backends(j, reply);
	json_object_end(j);
}

static void
json_recheck(struct json *j, const struct ctl_reply *reply)
{
	const Poolmon__RecheckReply *first = reply->parts[0]->recheck;
	const Poolmon__RecheckReply *part;
	size_t i, k;

	json_object_begin(j);
	json_key(j, "queued");
	json_bool(j, first->queued);
	json_key(j, "scan_id");
	if (first->has_scan_id)
		json_uint(j, first->scan_id);
	else
		json_null(j);
	json_backends(j, reply);
	json_key(j, "not_found");
	json_array_begin(j);
	for (i = 0; i < reply->nparts; i++) {
		if (reply->parts[i]->result_case !=
		    POOLMON__RESPONSE__RESULT_RECHECK)
			continue;
		part = reply->parts[i]->recheck;
		for (k = 0; k < part->n_not_found; k++)
			json_string(j, part->not_found[k]);
	}
	json_array_end(j);
	json_object_end(j);
}

static void
json_version(struct json *j, const Poolmon__VersionReply *v)
{
	json_object_begin(j);
	json_key(j, "client_version");
	json_string(j, POOLMON_VERSION);
	json_key(j, "client_protocol_version");
	json_uint(j, POOLMON__PROTOCOL__PROTOCOL_VERSION);
	json_key(j, "daemon_version");
	json_string(j, v->daemon_version);
	json_key(j, "protocol_version");
	json_uint(j, v->protocol_version);
	json_key(j, "pid");
	json_uint(j, v->pid);
	json_object_end(j);
}

static void
json_hold(struct json *j, const Poolmon__Response *r)
{
	json_object_begin(j);
	json_key(j, "held");
	json_bool(j, r->hold->held);
	json_key(j, "message");
	json_string(j, r->message);
	json_key(j, "backend");
	if (r->hold->backend != NULL)
		json_backend(j, r->hold->backend);
	else
		json_null(j);
	json_object_end(j);
}

static void
json_release(struct json *j, const Poolmon__Response *r)
{
	json_object_begin(j);
	json_key(j, "released");
	json_bool(j, r->success);
	json_key(j, "previous_owner");
	json_string(j, or_null(r->release->previous_owner));
	json_key(j, "message");
	json_string(j, r->message);
	json_key(j, "backend");
	if (r->release->backend != NULL)
		json_backend(j, r->release->backend);
	else
		json_null(j);
	json_object_end(j);
}

static void
json_result(struct json *j, const struct ctl_reply *reply)
{
	const Poolmon__Response *r = reply->parts[0];

	switch (r->result_case) {
	case POOLMON__RESPONSE__RESULT_STATUS:
		json_status(j, reply);
		break;
	case POOLMON__RESPONSE__RESULT_SHOW:
		json_backend(j, r->show->backend);
		break;
	case POOLMON__RESPONSE__RESULT_RECHECK:
		json_recheck(j, reply);
		break;
	case POOLMON__RESPONSE__RESULT_SET_DRY_RUN:
		json_object_begin(j);
		json_key(j, "dry_run");
		json_bool(j, r->set_dry_run->dry_run);
		json_key(j, "previous");
		json_bool(j, r->set_dry_run->previous);
		json_object_end(j);
		break;
	case POOLMON__RESPONSE__RESULT_RELOAD:
		json_object_begin(j);
		json_key(j, "reloaded");
		json_bool(j, true);
		json_key(j, "message");
		json_string(j, r->message);
		json_object_end(j);
		break;
	case POOLMON__RESPONSE__RESULT_VERSION_INFO:
		json_version(j, r->version_info);
		break;
	case POOLMON__RESPONSE__RESULT_HOLD:
		json_hold(j, r);
		break;
	case POOLMON__RESPONSE__RESULT_RELEASE:
		json_release(j, r);
		break;
	default:
		return;
	}
	json_finish(j);
}

void
ctl_print_json(FILE *out, const struct ctl_reply *reply)
{
	struct json j;

	json_init(&j, out);
	json_result(&j, reply);
}

/* A key and a string or null, on the event's one line. */
static void
event_field(FILE *out, const char *key, const char *value)
{
	fprintf(out, ", \"%s\": ", key);
	json_write_string(out, value);
}

void
ctl_print_event_json(FILE *out, const Poolmon__WatchEvent *e)
{
	fprintf(out, "{\"time\": %" PRId64, e->time);
	event_field(out, "event", e->event);
	event_field(out, "host", e->host);
	event_field(out, "reason", e->reason);
	event_field(out, "result", e->result);
	event_field(out, "detail", e->detail);
	fprintf(out, ", \"dry_run\": %s}\n", e->has_dry_run && e->dry_run ?
	    "true" : "false");
}
