/*
 * The text rendering of the daemon's replies, for people. Tags come from
 * the director and reasons from backends: their control characters are
 * shown as \xHH, never sent to the terminal raw.
 */
#include "output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reply.h"
#include "version.h"

#define TIME_LEN	32
/* An escaped tag or address; a longer one is cut. */
#define FIELD_LEN	1024
/* "held: " an escaped hold reason (at most 199 bytes), uid and time. */
#define STATE_LEN	(TIME_LEN + 4 * 200 + 64)
/* Wider states (long hold reasons) push their row's reason right. */
#define STATE_WIDTH_MAX	40

/* ------------------------------------------------------------------ */
/* Escaping */

/* Bytes of the control character at s: C0 or DEL, or C1 in UTF-8. */
static size_t
control_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	if ((u[0] > 0 && u[0] < 0x20) || u[0] == 0x7f)
		return 1;
	if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
		return 2;
	return 0;
}

/* s (NULL: "") with control characters as \xHH, into buf, cut to fit. */
static const char *
esc(const char *s, char *buf, size_t len)
{
	size_t off = 0, n, i;

	for (; s != NULL && *s != '\0'; s += n) {
		if ((n = control_len(s)) == 0) {
			if (off + 1 >= len)
				break;
			buf[off++] = *s;
			n = 1;
			continue;
		}
		if (off + 4 * n >= len)
			break;
		for (i = 0; i < n; i++)
			off += (size_t)snprintf(buf + off, len - off, "\\x%02x",
			    (unsigned char)s[i]);
	}
	buf[off] = '\0';
	return buf;
}

/* s escaped, whatever its length (the reasons of many ports). */
static void
put_esc(FILE *out, const char *s)
{
	size_t n, i;

	for (; s != NULL && *s != '\0'; s += n) {
		if ((n = control_len(s)) == 0) {
			fputc(*s, out);
			n = 1;
			continue;
		}
		for (i = 0; i < n; i++)
			fprintf(out, "\\x%02x", (unsigned char)s[i]);
	}
}

/* ------------------------------------------------------------------ */
/* Helpers */

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

/* "-" for none, else s escaped into buf. */
static const char *
esc_or_dash(const char *s, char *buf, size_t len)
{
	return s != NULL && s[0] != '\0' ? esc(s, buf, len) : "-";
}

/* "IMAPS" for IMAP with TLS, as poolmond's log lines say it. */
static void
port_name(const Poolmon__PortCheck *pc, char *buf, size_t len)
{
	char proto[16];

	snprintf(buf, len, "%s%s:%u", esc(pc->protocol, proto,
	    sizeof(proto)), pc->tls ? "S" : "", pc->port);
}

/* "held: REASON (uid N since TIME)", or "held (uid ...)" without one. */
static void
hold_text(const Poolmon__Backend *b, char *buf, size_t len)
{
	char t[TIME_LEN], reason[STATE_LEN];
	bool has_reason = b->hold_reason != NULL && b->hold_reason[0] != '\0';

	snprintf(buf, len, "held%s%s (uid %u since %s)", has_reason ? ": " :
	    "", esc(b->hold_reason, reason, sizeof(reason)), b->hold_uid,
	    format_time(b->hold_since, t, sizeof(t)));
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
	Poolmon__Owner owner = reply_owner(b);
	char n[32];

	if (owner == POOLMON__OWNER__OWNER_HOLD) {
		hold_text(b, buf, len);
	} else if (!b->director_up && (owner == POOLMON__OWNER__OWNER_OPERATOR
	    || owner == POOLMON__OWNER__OWNER_POOLMOND)) {
		snprintf(buf, len, "down by %s", reply_owner_name(b));
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

/* ------------------------------------------------------------------ */
/* Replies */

static void
text_ring(FILE *out, const Poolmon__Summary *s)
{
	switch (reply_ring_state(s)) {
	case POOLMON__RING_STATE__RING_SYNCED:
		fprintf(out, "ring:      synced\n");
		break;
	case POOLMON__RING_STATE__RING_NOT_SYNCED:
		fprintf(out, "ring:      not synced: actions deferred until "
		    "the director's ring syncs\n");
		break;
	default:
		fprintf(out, "ring:      unknown: %s\n",
		    !s->director_reachable ? "the director is unreachable" :
		    "not asked since the director was unreachable; asked "
		    "before the next action");
		break;
	}
}

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
	text_ring(out, s);
}

static void
text_fleet_peer(FILE *out, const Poolmon__FleetPeer *p)
{
	char t[TIME_LEN], address[FIELD_LEN];

	fprintf(out, "  peer %s: %s%s, last seen %s",
	    esc(p->address, address, sizeof(address)),
	    p->live ? "live" : "gone", p->trusted ? ", trusted" :
	    ", not trusted", format_time(p->last_seen, t, sizeof(t)));
	if (p->has_clock_skew_ms)
		fprintf(out, ", clock %+lld ms", (long long)p->clock_skew_ms);
	if (p->dry_run)
		fputs(", dry-run", out);
	if (p->error != NULL && p->error[0] != '\0') {
		fputs("; ", out);
		put_esc(out, p->error);
	}
	fputc('\n', out);
}

/* The fleet line of the form, then one line a peer. */
static void
text_fleet(FILE *out, const Poolmon__Fleet *f)
{
	char self[FIELD_LEN];
	size_t i;

	fprintf(out, "fleet: self %s, %zu of %zu peers live, quorum %u%s\n",
	    esc(f->self, self, sizeof(self)), reply_fleet_peers_live(f),
	    f->n_peers, f->quorum, f->isolated ?
	    ", isolated: no peer trusts this monitor" : "");
	for (i = 0; i < f->n_peers; i++)
		text_fleet_peer(out, f->peers[i]);
}

static void
text_summary(FILE *out, const Poolmon__Summary *s)
{
	char t1[TIME_LEN], t2[TIME_LEN], v[FIELD_LEN], sock[FIELD_LEN],
	    why[FIELD_LEN];

	fprintf(out, "poolmond %s, pid %u, running since %s\n",
	    esc(s->daemon_version, v, sizeof(v)), s->pid,
	    format_time(s->started, t1, sizeof(t1)));
	if (s->router != NULL && strcmp(s->router->kind, "director") != 0)
		fprintf(out, "router:    %s %s, %s%s\n", esc(s->router->kind,
		    v, sizeof(v)), esc(s->router->target, sock, sizeof(sock)),
		    s->director_reachable ? "reachable" : "unreachable: ",
		    s->director_reachable ? "" : esc_or_dash(s->director_error,
		    why, sizeof(why)));
	else
		fprintf(out, "director:  %s, %s%s\n", esc(s->director_socket,
		    sock, sizeof(sock)), s->director_reachable ? "reachable" :
		    "unreachable: ", s->director_reachable ? "" :
		    esc_or_dash(s->director_error, why, sizeof(why)));
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
	if (s->fleet != NULL)
		text_fleet(out, s->fleet);
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
	char state[STATE_LEN], field[FIELD_LEN];
	int n;

	if ((n = (int)strlen(esc(b->address, field, sizeof(field)))) >
	    w->address)
		w->address = n;
	if ((n = (int)strlen(esc_or_dash(b->tag, field, sizeof(field)))) >
	    w->tag)
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

/*
 * Under a backend's row, with a fleet: "actor ADDR; verdicts: ADDR ok,
 * ADDR failed", the actor marked when it is this monitor.
 */
static void
text_fleet_row(FILE *out, const Poolmon__Backend *b,
    const Poolmon__Summary *s)
{
	const char *self = s != NULL && s->fleet != NULL ? s->fleet->self :
	    NULL;
	char field[FIELD_LEN];
	size_t i;

	if (b->actor == NULL && b->n_verdicts == 0)
		return;
	fprintf(out, "    actor %s%s; verdicts:", esc_or_dash(b->actor, field,
	    sizeof(field)), b->actor != NULL && self != NULL &&
	    strcmp(b->actor, self) == 0 ? " (this monitor)" : "");
	for (i = 0; i < b->n_verdicts; i++)
		fprintf(out, "%s %s %s", i > 0 ? "," : "",
		    esc(b->verdicts[i]->monitor, field, sizeof(field)),
		    reply_verdict_health_name(b->verdicts[i]->health));
	fputs(b->n_verdicts == 0 ? " none\n" : "\n", out);
}

static void
text_table_row(FILE *out, const struct widths *w, const Poolmon__Backend *b,
    const Poolmon__Summary *s)
{
	char t[TIME_LEN], state[STATE_LEN], address[FIELD_LEN], tag[FIELD_LEN];
	char vhosts[16];

	if (b->has_vhost_count)
		snprintf(vhosts, sizeof(vhosts), "%u", b->vhost_count);
	else
		snprintf(vhosts, sizeof(vhosts), "-");
	fprintf(out, "%-*s  %-*s  %-8s  %6s  %6u  %-9s  %-19s  %-*s  ",
	    w->address, esc(b->address, address, sizeof(address)), w->tag,
	    esc_or_dash(b->tag, tag, sizeof(tag)),
	    b->director_up ? "up" : "down", vhosts, b->users,
	    reply_health_name(b->health), format_time(b->last_check, t,
	    sizeof(t)), w->state, backend_state(b, s, state, sizeof(state)));
	put_esc(out, or_dash(b->reason));
	fputc('\n', out);
	text_fleet_row(out, b, s);
}

/* s, the status summary, gives the thresholds; NULL for a recheck. */
static void
text_backend_table(FILE *out, const struct ctl_reply *reply,
    const Poolmon__Summary *s)
{
	struct widths w = { 7, 3, 5 };
	const Poolmon__Backend **all;
	size_t i, n;

	if ((all = reply_backends(reply, &n)) == NULL || n == 0) {
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
	char name[64], status[FIELD_LEN];

	port_name(pc, name, sizeof(name));
	if (!pc->checked) {
		fprintf(out, "    %-12s not checked yet\n", name);
		return;
	}
	fprintf(out, "    %-12s %-20s %6u ms  %u %s%s", name,
	    esc(pc->status, status, sizeof(status)), pc->latency_ms,
	    pc->tries, pc->tries == 1 ? "try" : "tries",
	    pc->reason != NULL ? "  " : "");
	put_esc(out, pc->reason);
	fputc('\n', out);
}

static void
text_show_ownership(FILE *out, const Poolmon__Backend *b)
{
	char state[STATE_LEN];

	fprintf(out, "  owner:          %s\n", or_dash(reply_owner_name(b)));
	fprintf(out, "  state:          %s%s\n", backend_state(b, NULL, state,
	    sizeof(state)), reply_owner(b) == POOLMON__OWNER__OWNER_HOLD &&
	    b->hold_flush ? ", users flushed" : "");
}

/* Each monitor's verdict with its time and reason; nothing without a
 * fleet. */
static void
text_show_fleet(FILE *out, const Poolmon__Backend *b)
{
	char t[TIME_LEN], field[FIELD_LEN];
	const Poolmon__Verdict *v;
	size_t i;

	if (b->actor == NULL && b->n_verdicts == 0)
		return;
	fprintf(out, "  actor:          %s\n", esc_or_dash(b->actor, field,
	    sizeof(field)));
	fprintf(out, "  verdicts:%s\n", b->n_verdicts == 0 ? "       none" :
	    "");
	for (i = 0; i < b->n_verdicts; i++) {
		v = b->verdicts[i];
		fprintf(out, "    %-22s %-8s %-19s  ", esc(v->monitor, field,
		    sizeof(field)), reply_verdict_health_name(v->health),
		    format_time(v->at, t, sizeof(t)));
		put_esc(out, or_dash(v->reason));
		fputc('\n', out);
	}
}

static void
text_show(FILE *out, const Poolmon__Backend *b)
{
	char t1[TIME_LEN], t2[TIME_LEN], field[FIELD_LEN];
	size_t i;

	fprintf(out, "backend %s\n", esc(b->address, field, sizeof(field)));
	fprintf(out, "  tag:            %s\n", esc_or_dash(b->tag, field,
	    sizeof(field)));
	fprintf(out, "  director:       %s (last change %s)\n",
	    b->director_up ? "up" : "down", format_time(b->last_updown_change,
	    t1, sizeof(t1)));
	if (b->has_vhost_count)
		fprintf(out, "  vhost count:    %u\n", b->vhost_count);
	else
		fprintf(out, "  vhost count:    -\n");
	if (b->has_router_state)
		fprintf(out, "  router state:   %d\n", b->router_state);
	fprintf(out, "  users:          %u\n", b->users);
	fprintf(out, "  health:         %s\n", reply_health_name(b->health));
	fprintf(out, "  last failure:   ");
	put_esc(out, or_dash(b->reason));
	fputc('\n', out);
	fprintf(out, "  last check:     %s\n", format_time(b->last_check, t2,
	    sizeof(t2)));
	fprintf(out, "  flush pending:  %s\n", b->flush_pending ? "yes" : "no");
	text_show_ownership(out, b);
	text_show_fleet(out, b);
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
	char address[FIELD_LEN];

	if (b != NULL)
		fprintf(out, "%s: ", esc(b->address, address, sizeof(address)));
	put_esc(out, message != NULL ? message : "done");
	fputc('\n', out);
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
	char field[FIELD_LEN];

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
		put_esc(out, r->message != NULL ? r->message : "reloaded");
		fputc('\n', out);
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
		    esc(r->version_info->daemon_version, field,
		    sizeof(field)),
		    r->version_info->protocol_version, r->version_info->pid);
		break;
	default:
		break;
	}
}

void
ctl_print_text(FILE *out, const struct ctl_reply *reply)
{
	text_result(out, reply);
}

/* "TIME EVENT HOST: DETAIL; REASON (RESULT) [dry-run]", escaped. */
void
ctl_print_event_text(FILE *out, const Poolmon__WatchEvent *e)
{
	char t[TIME_LEN];

	fprintf(out, "%s ", format_time(e->time, t, sizeof(t)));
	put_esc(out, e->event);
	if (e->host != NULL) {
		fputc(' ', out);
		put_esc(out, e->host);
	}
	if (e->detail != NULL || e->reason != NULL)
		fputs(":", out);
	if (e->detail != NULL) {
		fputc(' ', out);
		put_esc(out, e->detail);
	}
	if (e->reason != NULL && e->reason[0] != '\0') {
		fputs(e->detail != NULL ? "; " : " ", out);
		put_esc(out, e->reason);
	}
	if (e->result != NULL) {
		fputs(" (", out);
		put_esc(out, e->result);
		fputc(')', out);
	}
	if (e->has_dry_run && e->dry_run)
		fputs(" [dry-run]", out);
	fputc('\n', out);
}
