/*
 * Text and JSON renderings of the daemon's replies. The JSON keys are an
 * interface: add keys freely, never rename or retype one.
 */
#include "output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "version.h"

#define TIME_LEN	32
#define STATE_LEN	(TIME_LEN + 320)
/* Wider states (long hold reasons) push their row's reason right. */
#define STATE_WIDTH_MAX	40

/* ------------------------------------------------------------------ */
/* Helpers */

static const char *
health_name(Poolmon__Health h)
{
	switch (h) {
	case POOLMON__HEALTH__HEALTH_OK: return "ok";
	case POOLMON__HEALTH__HEALTH_FAILED: return "failed";
	/* Checked, but poolmond's own fault kept it from telling. */
	case POOLMON__HEALTH__HEALTH_UNDETERMINED: return "unknown";
	default: break;
	}
	return "unchecked";
}

static const char *
format_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "never");
	return buf;
}

static const char *
or_dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* "IMAPS" for IMAP with TLS, as poolmond's log lines say it. */
static void
port_name(const Poolmon__PortCheck *pc, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s:%u", pc->protocol, pc->tls ? "S" : "",
	    pc->port);
}

static const char *
or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* "held: REASON (uid N since TIME)", or "held (uid ...)" without one. */
static void
hold_text(const Poolmon__Backend *b, char *buf, size_t len)
{
	char t[TIME_LEN];

	snprintf(buf, len, "held%s%s (uid %u since %s)",
	    or_null(b->hold_reason) != NULL ? ": " : "",
	    or_null(b->hold_reason) != NULL ? b->hold_reason : "",
	    b->hold_uid, format_time(b->hold_since, t, sizeof(t)));
}

/* "1/3" against a known threshold, else "1". */
static void
count_text(uint32_t n, uint32_t limit, char *buf, size_t len)
{
	if (limit > 0)
		snprintf(buf, len, "%u/%u", n, limit);
	else
		snprintf(buf, len, "%u", n);
}

/*
 * Whose the host is and where it is heading, in a few words: held, down
 * by operator or poolmond, failing or rising with the count, spared by
 * the guard; "-" for an up host with nothing to say. s may be NULL.
 */
static const char *
backend_state(const Poolmon__Backend *b, const Poolmon__Summary *s,
    char *buf, size_t len)
{
	char n[32];

	if (b->owner != NULL && strcmp(b->owner, "hold") == 0) {
		hold_text(b, buf, len);
	} else if (!b->director_up && b->owner != NULL &&
	    (strcmp(b->owner, "operator") == 0 ||
	    strcmp(b->owner, "poolmond") == 0)) {
		snprintf(buf, len, "down by %s", b->owner);
		if (b->rising_count > 0) {
			count_text(b->rising_count, s != NULL ? s->rise : 0, n,
			    sizeof(n));
			snprintf(buf + strlen(buf), len - strlen(buf),
			    ", rising %s", n);
		}
	} else if (b->failing_count > 0) {
		count_text(b->failing_count, s != NULL ? s->fall : 0, n,
		    sizeof(n));
		snprintf(buf, len, "failing %s%s", n, b->spared ?
		    ", spared by guard" : "");
	} else
		snprintf(buf, len, "%s", b->spared ? "spared by guard" : "-");
	return buf;
}

static size_t
part_backends(const Poolmon__Response *r, Poolmon__Backend ***b)
{
	if (r->result_case == POOLMON__RESPONSE__RESULT_STATUS) {
		*b = r->status->backends;
		return r->status->n_backends;
	}
	if (r->result_case == POOLMON__RESPONSE__RESULT_RECHECK) {
		*b = r->recheck->backends;
		return r->recheck->n_backends;
	}
	return 0;
}

/* Every backend of every part, in order; free() the array. */
static const Poolmon__Backend **
all_backends(const struct ctl_reply *reply, size_t *n)
{
	const Poolmon__Backend **all;
	Poolmon__Backend **b;
	size_t i, k, total = 0;

	for (i = 0; i < reply->nparts; i++)
		total += part_backends(reply->parts[i], &b);
	*n = 0;
	if ((all = calloc(total + 1, sizeof(*all))) == NULL)
		return NULL;
	for (i = 0; i < reply->nparts; i++)
		for (k = part_backends(reply->parts[i], &b); k > 0; k--)
			all[(*n)++] = *b++;
	return all;
}

/* ------------------------------------------------------------------ */
/* JSON */

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

/* A hold's keys are null unless the host is held. */
static void
json_ownership(struct json *j, const Poolmon__Backend *b)
{
	bool held = b->owner != NULL && strcmp(b->owner, "hold") == 0;

	json_key(j, "owner");
	json_string(j, or_null(b->owner));
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
	json_uint(j, b->vhost_count);
	json_key(j, "users");
	json_uint(j, b->users);
	json_key(j, "healthy");
	if (b->health == POOLMON__HEALTH__HEALTH_OK ||
	    b->health == POOLMON__HEALTH__HEALTH_FAILED)
		json_bool(j, b->health == POOLMON__HEALTH__HEALTH_OK);
	else
		json_null(j);
	json_key(j, "health");
	json_string(j, health_name(b->health));
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
	json_object_end(j);
}

static void
json_backends(struct json *j, const struct ctl_reply *reply)
{
	const Poolmon__Backend **all;
	size_t i, n;

	all = all_backends(reply, &n);
	json_key(j, "backends");
	json_array_begin(j);
	for (i = 0; i < n; i++)
		json_backend(j, all[i]);
	json_array_end(j);
	free(all);
}

static void
json_safety(struct json *j, const Poolmon__Summary *s)
{
	json_key(j, "guard_active");
	json_bool(j, s->guard_active);
	json_key(j, "all_failed");
	json_bool(j, s->all_failed);
	/* An older daemon knows no ring gate: it never waits for a sync. */
	json_key(j, "ring_synced");
	json_bool(j, s->has_ring_synced ? s->ring_synced : true);
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
json_summary(struct json *j, const Poolmon__Summary *s)
{
	json_key(j, "daemon_version");
	json_string(j, s->daemon_version);
	json_key(j, "pid");
	json_uint(j, s->pid);
	json_time(j, "started", s->started);
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

/* ------------------------------------------------------------------ */
/* Text */

/* The policy, and the guard and ring gate when they hold poolmond back. */
static void
text_safety(FILE *out, const Poolmon__Summary *s)
{
	/* An older daemon sends none of this. */
	if (!s->has_fall)
		return;
	fprintf(out, "policy:    fall %u, rise %u, max-down %u%%, adopt-down "
	    "%s\n", s->fall, s->rise, s->max_down_pct, s->adopt_down ? "on" :
	    "off");
	if (s->all_failed)
		fprintf(out, "guard:     active: every backend failed the last "
		    "scan; none taken down\n");
	else if (s->guard_active)
		fprintf(out, "guard:     active: --max-down reached; failed "
		    "hosts spared\n");
	else
		fprintf(out, "guard:     inactive\n");
	if (s->has_ring_synced && !s->ring_synced)
		fprintf(out, "ring:      not synced: actions deferred until "
		    "the director's ring syncs\n");
	else
		fprintf(out, "ring:      synced\n");
}

static void
text_summary(FILE *out, const Poolmon__Summary *s)
{
	char t1[TIME_LEN], t2[TIME_LEN];

	fprintf(out, "poolmond %s, pid %u, running since %s\n",
	    s->daemon_version, s->pid, format_time(s->started, t1,
	    sizeof(t1)));
	fprintf(out, "director:  %s, %s%s\n", s->director_socket,
	    s->director_reachable ? "reachable" : "unreachable: ",
	    s->director_reachable ? "" : or_dash(s->director_error));
	fprintf(out, "dry-run:   %s\n", s->dry_run ? "on" : "off");
	if (s->scans_completed > 0)
		fprintf(out, "scans:     %" PRIu64 " done, the last ended %s "
		    "after %u ms; every %u s%s\n", s->scans_completed,
		    format_time(s->last_scan_end, t2, sizeof(t2)),
		    s->last_scan_ms, s->interval_s,
		    s->scanning ? "; one running now" : "");
	else
		fprintf(out, "scans:     none done yet; every %u s%s\n",
		    s->interval_s, s->scanning ? "; one running now" : "");
	fprintf(out, "backends:  %u: %u healthy, %u failed, %u unchecked, "
	    "%u unknown; director: %u up, %u down\n", s->backends_total,
	    s->backends_healthy, s->backends_failed, s->backends_unchecked,
	    s->backends_unknown, s->director_up, s->director_down);
	if (s->checks_unknown > 0)
		fprintf(out, "unknown:   %" PRIu64 " checks poolmond could not "
		    "make since it started (its own fault; see the log)\n",
		    s->checks_unknown);
	text_safety(out, s);
}

struct widths {
	int address;
	int tag;
	int state;
};

static void
measure(struct widths *w, const Poolmon__Backend *b,
    const Poolmon__Summary *s)
{
	char state[STATE_LEN];
	int n;

	if ((n = (int)strlen(b->address)) > w->address)
		w->address = n;
	if ((n = (int)strlen(or_dash(b->tag))) > w->tag)
		w->tag = n;
	n = (int)strlen(backend_state(b, s, state, sizeof(state)));
	if (n > w->state)
		w->state = n < STATE_WIDTH_MAX ? n : STATE_WIDTH_MAX;
}

static void
text_table_head(FILE *out, const struct widths *w)
{
	fprintf(out, "%-*s  %-*s  %-8s  %6s  %6s  %-9s  %-19s  %-*s  %s\n",
	    w->address, "ADDRESS", w->tag, "TAG", "DIRECTOR", "VHOSTS",
	    "USERS", "HEALTH", "LAST CHECK", w->state, "STATE", "REASON");
}

static void
text_table_row(FILE *out, const struct widths *w, const Poolmon__Backend *b,
    const Poolmon__Summary *s)
{
	char t[TIME_LEN], state[STATE_LEN];

	fprintf(out, "%-*s  %-*s  %-8s  %6u  %6u  %-9s  %-19s  %-*s  %s\n",
	    w->address, b->address, w->tag, or_dash(b->tag),
	    b->director_up ? "up" : "down", b->vhost_count, b->users,
	    health_name(b->health), format_time(b->last_check, t, sizeof(t)),
	    w->state, backend_state(b, s, state, sizeof(state)),
	    or_dash(b->reason));
}

/* s, the status summary, gives the thresholds; NULL for a recheck. */
static void
text_backend_table(FILE *out, const struct ctl_reply *reply,
    const Poolmon__Summary *s)
{
	struct widths w = { 7, 3, 5 };
	const Poolmon__Backend **all;
	size_t i, n;

	if ((all = all_backends(reply, &n)) == NULL || n == 0) {
		free(all);
		return;
	}
	for (i = 0; i < n; i++)
		measure(&w, all[i], s);
	text_table_head(out, &w);
	for (i = 0; i < n; i++)
		text_table_row(out, &w, all[i], s);
	free(all);
}

static void
text_status(FILE *out, const struct ctl_reply *reply)
{
	const Poolmon__Summary *s = reply->parts[0]->status->summary;

	if (s != NULL)
		text_summary(out, s);
	fputc('\n', out);
	text_backend_table(out, reply, s);
}

static void
text_check(FILE *out, const Poolmon__PortCheck *pc)
{
	char name[32];

	port_name(pc, name, sizeof(name));
	if (!pc->checked) {
		fprintf(out, "    %-12s not checked yet\n", name);
		return;
	}
	fprintf(out, "    %-12s %-20s %6u ms  %u %s%s%s\n", name, pc->status,
	    pc->latency_ms, pc->tries, pc->tries == 1 ? "try" : "tries",
	    pc->reason != NULL ? "  " : "", pc->reason != NULL ?
	    pc->reason : "");
}

static void
text_show_ownership(FILE *out, const Poolmon__Backend *b)
{
	char state[STATE_LEN];

	fprintf(out, "  owner:          %s\n", or_dash(b->owner));
	fprintf(out, "  state:          %s%s\n", backend_state(b, NULL, state,
	    sizeof(state)), b->owner != NULL && strcmp(b->owner, "hold") ==
	    0 && b->hold_flush ? ", users flushed" : "");
}

static void
text_show(FILE *out, const Poolmon__Backend *b)
{
	char t1[TIME_LEN], t2[TIME_LEN];
	size_t i;

	fprintf(out, "backend %s\n", b->address);
	fprintf(out, "  tag:            %s\n", or_dash(b->tag));
	fprintf(out, "  director:       %s (last change %s)\n",
	    b->director_up ? "up" : "down", format_time(b->last_updown_change,
	    t1, sizeof(t1)));
	fprintf(out, "  vhost count:    %u\n", b->vhost_count);
	fprintf(out, "  users:          %u\n", b->users);
	fprintf(out, "  health:         %s\n", health_name(b->health));
	fprintf(out, "  last failure:   %s\n", or_dash(b->reason));
	fprintf(out, "  last check:     %s\n", format_time(b->last_check, t2,
	    sizeof(t2)));
	fprintf(out, "  flush pending:  %s\n", b->flush_pending ? "yes" : "no");
	text_show_ownership(out, b);
	fprintf(out, "  checks:\n");
	for (i = 0; i < b->n_checks; i++)
		text_check(out, b->checks[i]);
}

static void
text_recheck(FILE *out, const struct ctl_reply *reply)
{
	const Poolmon__RecheckReply *first = reply->parts[0]->recheck;

	if (first->queued) {
		fprintf(out, "recheck queued\n");
		return;
	}
	text_backend_table(out, reply, NULL);
}

/* "ADDRESS: what was done". */
static void
text_note(FILE *out, const Poolmon__Backend *b, const char *message)
{
	if (b != NULL)
		fprintf(out, "%s: ", b->address);
	fprintf(out, "%s\n", message != NULL ? message : "done");
}

/* A failed hold's message goes to standard error: say only what stands. */
static void
text_hold(FILE *out, const Poolmon__Response *r)
{
	if (r->success)
		text_note(out, r->hold->backend, r->message);
	else if (r->hold->held)
		text_note(out, r->hold->backend, "hold recorded");
}

static void
text_result(FILE *out, const struct ctl_reply *reply)
{
	const Poolmon__Response *r = reply->parts[0];

	switch (r->result_case) {
	case POOLMON__RESPONSE__RESULT_STATUS:
		text_status(out, reply);
		break;
	case POOLMON__RESPONSE__RESULT_SHOW:
		text_show(out, r->show->backend);
		break;
	case POOLMON__RESPONSE__RESULT_RECHECK:
		text_recheck(out, reply);
		break;
	case POOLMON__RESPONSE__RESULT_SET_DRY_RUN:
		fprintf(out, "dry-run %s (was %s)\n",
		    r->set_dry_run->dry_run ? "on" : "off",
		    r->set_dry_run->previous ? "on" : "off");
		break;
	case POOLMON__RESPONSE__RESULT_RELOAD:
		fprintf(out, "%s\n", r->message != NULL ? r->message :
		    "reloaded");
		break;
	case POOLMON__RESPONSE__RESULT_HOLD:
		text_hold(out, r);
		break;
	case POOLMON__RESPONSE__RESULT_RELEASE:
		text_note(out, r->release->backend, r->message);
		break;
	case POOLMON__RESPONSE__RESULT_VERSION_INFO:
		fprintf(out, "poolmonctl %s, protocol %d\n", POOLMON_VERSION,
		    POOLMON__PROTOCOL__PROTOCOL_VERSION);
		fprintf(out, "poolmond %s, protocol %u, pid %u\n",
		    r->version_info->daemon_version,
		    r->version_info->protocol_version, r->version_info->pid);
		break;
	default:
		break;
	}
}

/* metrics: the parts' texts as they are, --json or not. */
static void
text_metrics(FILE *out, const struct ctl_reply *reply)
{
	size_t i;

	for (i = 0; i < reply->nparts; i++)
		if (reply->parts[i]->result_case ==
		    POOLMON__RESPONSE__RESULT_METRICS)
			fwrite(reply->parts[i]->metrics->text.data, 1,
			    reply->parts[i]->metrics->text.len, out);
}

void
ctl_print_reply(FILE *out, const struct ctl_reply *reply, bool json)
{
	struct json j;

	if (reply->nparts == 0)
		return;
	if (reply->parts[0]->result_case == POOLMON__RESPONSE__RESULT_METRICS)
		text_metrics(out, reply);
	else if (json) {
		json_init(&j, out);
		json_result(&j, reply);
	} else
		text_result(out, reply);
}
