/*
 * Offers between fleet monitors: protobuf-c does the wire format, this
 * file the bounds. A peer holds the key, but a bug or an older version on
 * its side must not make this monitor act on a record from the far future
 * or keep a megabyte reason.
 */
#include "fleet_msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.pb-c.h"
#include "util.h"

/* A record stamped further ahead than this is a broken clock. */
#define FLEET_FUTURE_MAX_MS	(24LL * 3600 * 1000)

void
fleet_offer_free(struct fleet_offer *offer)
{
	size_t i;

	for (i = 0; i < offer->nverdicts; i++)
		free(offer->verdicts[i].reason);
	free(offer->verdicts);
	free(offer->records);
	memset(offer, 0, sizeof(*offer));
}

/* A printable copy of a peer's text, at most FLEET_REASON_MAX bytes. */
static char *
reason_copy(const char *s)
{
	size_t len = strlen(s);
	char *copy;

	if (len >= FLEET_REASON_MAX)
		len = FLEET_REASON_MAX - 1;
	if ((copy = malloc(len + 1)) != NULL)
		str_sanitize_r(s, len, copy, len + 1);
	return copy;
}

static int
parse_verdict(const Poolmon__Fleet__BackendVerdict *m,
    struct fleet_verdict_msg *v, char *why, size_t whylen)
{
	if (ip_canonical(m->host, v->host, sizeof(v->host)) < 0)
		return err_set(why, whylen, -EINVAL, "bad backend address");
	switch (m->verdict) {
	case POOLMON__FLEET__VERDICT__VERDICT_UNKNOWN:
		v->verdict = FLEET_VERDICT_UNKNOWN;
		break;
	case POOLMON__FLEET__VERDICT__VERDICT_OK:
		v->verdict = FLEET_VERDICT_OK;
		break;
	case POOLMON__FLEET__VERDICT__VERDICT_FAILED:
		v->verdict = FLEET_VERDICT_FAILED;
		break;
	default:
		return err_set(why, whylen, -EINVAL, "bad verdict of %s", v->host);
	}
	v->at = m->has_at && m->at > 0 ? (time_t)m->at : 0;
	if (m->reason != NULL && m->reason[0] != '\0' &&
	    (v->reason = reason_copy(m->reason)) == NULL)
		return -ENOMEM;
	return 0;
}

static int
parse_kind(Poolmon__Fleet__Record__Kind kind, enum fleet_record_kind *out)
{
	switch (kind) {
	case POOLMON__FLEET__RECORD__KIND__CLEARED:
		*out = FLEET_RECORD_CLEARED;
		return 0;
	case POOLMON__FLEET__RECORD__KIND__OWNED:
		*out = FLEET_RECORD_OWNED;
		return 0;
	case POOLMON__FLEET__RECORD__KIND__HOLD:
		*out = FLEET_RECORD_HOLD;
		return 0;
	default:
		return -EINVAL;
	}
}

static int
parse_record(const Poolmon__Fleet__Record *m, struct fleet_record_msg *r,
    char *why, size_t whylen)
{
	struct sockaddr_storage ss;

	if (ip_canonical(m->host, r->host, sizeof(r->host)) < 0)
		return err_set(why, whylen, -EINVAL, "bad record address");
	if (parse_kind(m->kind, &r->kind) < 0)
		return err_set(why, whylen, -EINVAL, "bad record kind of %s", r->host);
	if (m->at_ms <= 0 || m->at_ms > wall_ms() + FLEET_FUTURE_MAX_MS)
		return err_set(why, whylen, -EINVAL, "record of %s stamped %lld: not "
		    "a time this monitor believes", r->host,
		    (long long)m->at_ms);
	r->at.ms = m->at_ms;
	r->at.count = m->has_at_count ? m->at_count : 0;
	if (m->origin != NULL && m->origin[0] != '\0') {
		if (fleet_addr_parse(m->origin, 0, &ss) < 0 ||
		    addrport_format(&ss, r->origin, sizeof(r->origin)) < 0)
			return err_set(why, whylen, -EINVAL, "bad origin of %s",
			    r->host);
	}
	if (r->kind != FLEET_RECORD_HOLD)
		return 0;
	/* (uid_t)-1 is no user: the state file would not read it back. */
	if (m->has_uid && m->uid == UINT32_MAX)
		return err_set(why, whylen, -EINVAL, "bad hold uid of %s",
		    r->host);
	r->hold.uid = m->has_uid ? (uid_t)m->uid : 0;
	r->hold.since = m->has_since && m->since > 0 ? (time_t)m->since : 0;
	r->hold.flush = m->has_flush && m->flush;
	if (m->reason != NULL) {
		/* Word for word, as the operator typed it: the control
		 * socket takes no control character but a tab. */
		if (str_copy(r->hold.reason, m->reason,
		    sizeof(r->hold.reason)) >= sizeof(r->hold.reason))
			return err_set(why, whylen, -EINVAL, "hold reason of %s too "
			    "long", r->host);
		if (!hold_reason_valid(r->hold.reason))
			return err_set(why, whylen, -EINVAL, "hold reason of %s "
			    "holds a control character", r->host);
	}
	return 0;
}

static int
parse_items(const Poolmon__Fleet__Offer *m, struct fleet_offer *offer,
    char *why, size_t whylen)
{
	size_t i;
	int r;

	if (m->n_verdicts > FLEET_ITEMS_MAX || m->n_records > FLEET_ITEMS_MAX)
		return err_set(why, whylen, -EINVAL, "more than %d verdicts or records",
		    FLEET_ITEMS_MAX);
	if (m->n_verdicts > 0 && (offer->verdicts = calloc(m->n_verdicts,
	    sizeof(*offer->verdicts))) == NULL)
		return -ENOMEM;
	for (i = 0; i < m->n_verdicts; i++) {
		offer->nverdicts = i + 1;
		if ((r = parse_verdict(m->verdicts[i], &offer->verdicts[i],
		    why, whylen)) < 0)
			return r;
	}
	if (m->n_records > 0 && (offer->records = calloc(m->n_records,
	    sizeof(*offer->records))) == NULL)
		return -ENOMEM;
	for (i = 0; i < m->n_records; i++) {
		offer->nrecords = i + 1;
		if ((r = parse_record(m->records[i], &offer->records[i],
		    why, whylen)) < 0)
			return r;
	}
	return 0;
}

int
fleet_offer_parse(const uint8_t *buf, size_t len, struct fleet_offer *offer,
    char *why, size_t whylen)
{
	Poolmon__Fleet__Offer *m;
	struct sockaddr_storage ss;
	int r;

	memset(offer, 0, sizeof(*offer));
	why[0] = '\0';
	if ((m = poolmon__fleet__offer__unpack(NULL, len, buf)) == NULL)
		return err_set(why, whylen, -EINVAL, "not an offer (malformed)");
	if (m->version !=
	    POOLMON__FLEET__FLEET_PROTOCOL__FLEET_PROTOCOL_VERSION) {
		(void)err_set(why, whylen, -EINVAL, "fleet protocol version %u, this "
		    "monitor speaks %d", m->version,
		    POOLMON__FLEET__FLEET_PROTOCOL__FLEET_PROTOCOL_VERSION);
		r = -EPROTONOSUPPORT;
	} else if (fleet_addr_parse(m->monitor, 0, &ss) < 0 ||
	    addrport_format(&ss, offer->monitor, sizeof(offer->monitor)) < 0)
		r = err_set(why, whylen, -EINVAL, "bad monitor address");
	else {
		offer->sent_at_ms = m->has_sent_at_ms ? m->sent_at_ms : 0;
		offer->interval_s = m->has_interval_s &&
		    m->interval_s <= 86400 ? m->interval_s : 0;
		offer->scans = m->has_scans ? m->scans : 0;
		offer->dry_run = m->has_dry_run && m->dry_run;
		/* A monitor in dry-run changes nothing: never an actor. */
		offer->can_act = m->has_can_act && m->can_act &&
		    !offer->dry_run;
		r = parse_items(m, offer, why, whylen);
	}
	poolmon__fleet__offer__free_unpacked(m, NULL);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(why, whylen, "out of memory");
		fleet_offer_free(offer);
	}
	return r;
}

static const Poolmon__Fleet__Verdict verdict_wire[] = {
	[FLEET_VERDICT_UNKNOWN] = POOLMON__FLEET__VERDICT__VERDICT_UNKNOWN,
	[FLEET_VERDICT_OK] = POOLMON__FLEET__VERDICT__VERDICT_OK,
	[FLEET_VERDICT_FAILED] = POOLMON__FLEET__VERDICT__VERDICT_FAILED,
};

static const Poolmon__Fleet__Record__Kind kind_wire[] = {
	[FLEET_RECORD_CLEARED] = POOLMON__FLEET__RECORD__KIND__CLEARED,
	[FLEET_RECORD_OWNED] = POOLMON__FLEET__RECORD__KIND__OWNED,
	[FLEET_RECORD_HOLD] = POOLMON__FLEET__RECORD__KIND__HOLD,
};

/* The wire structs point into offer: valid while it is. */
struct wire {
	Poolmon__Fleet__Offer m;
	Poolmon__Fleet__BackendVerdict *v;
	Poolmon__Fleet__BackendVerdict **vp;
	Poolmon__Fleet__Record *r;
	Poolmon__Fleet__Record **rp;
};

static void
wire_free(struct wire *w)
{
	free(w->v);
	free(w->vp);
	free(w->r);
	free(w->rp);
}

static void
wire_verdict(const struct fleet_verdict_msg *v,
    Poolmon__Fleet__BackendVerdict *m)
{
	poolmon__fleet__backend_verdict__init(m);
	m->host = (char *)v->host;
	m->verdict = verdict_wire[v->verdict];
	m->reason = v->reason;
	m->has_at = v->at > 0;
	m->at = v->at;
}

static void
wire_record(const struct fleet_record_msg *r, Poolmon__Fleet__Record *m)
{
	poolmon__fleet__record__init(m);
	m->host = (char *)r->host;
	m->kind = kind_wire[r->kind];
	m->at_ms = r->at.ms;
	m->has_at_count = 1;
	m->at_count = r->at.count;
	m->origin = r->origin[0] != '\0' ? (char *)r->origin : NULL;
	if (r->kind != FLEET_RECORD_HOLD)
		return;
	m->has_uid = m->has_since = m->has_flush = 1;
	m->uid = (uint32_t)r->hold.uid;
	m->since = r->hold.since;
	m->flush = r->hold.flush;
	m->reason = (char *)r->hold.reason;
}

static int
wire_build(const struct fleet_offer *offer, struct wire *w)
{
	size_t i;

	memset(w, 0, sizeof(*w));
	poolmon__fleet__offer__init(&w->m);
	w->m.version = POOLMON__FLEET__FLEET_PROTOCOL__FLEET_PROTOCOL_VERSION;
	w->m.monitor = (char *)offer->monitor;
	w->m.has_sent_at_ms = w->m.has_interval_s = w->m.has_scans = 1;
	w->m.has_can_act = w->m.has_dry_run = 1;
	w->m.sent_at_ms = offer->sent_at_ms;
	w->m.interval_s = offer->interval_s;
	w->m.scans = offer->scans;
	w->m.can_act = offer->can_act;
	w->m.dry_run = offer->dry_run;
	if ((offer->nverdicts > 0 &&
	    ((w->v = calloc(offer->nverdicts, sizeof(*w->v))) == NULL ||
	    (w->vp = calloc(offer->nverdicts, sizeof(*w->vp))) == NULL)) ||
	    (offer->nrecords > 0 &&
	    ((w->r = calloc(offer->nrecords, sizeof(*w->r))) == NULL ||
	    (w->rp = calloc(offer->nrecords, sizeof(*w->rp))) == NULL)))
		return -ENOMEM;
	for (i = 0; i < offer->nverdicts; i++) {
		wire_verdict(&offer->verdicts[i], &w->v[i]);
		w->vp[i] = &w->v[i];
	}
	for (i = 0; i < offer->nrecords; i++) {
		wire_record(&offer->records[i], &w->r[i]);
		w->rp[i] = &w->r[i];
	}
	w->m.n_verdicts = offer->nverdicts;
	w->m.verdicts = w->vp;
	w->m.n_records = offer->nrecords;
	w->m.records = w->rp;
	return 0;
}

int
fleet_offer_pack(const struct fleet_offer *offer, uint8_t **buf,
    size_t *len)
{
	struct wire w;
	int r;

	*buf = NULL;
	*len = 0;
	if ((r = wire_build(offer, &w)) == 0) {
		*len = poolmon__fleet__offer__get_packed_size(&w.m);
		if ((*buf = malloc(*len > 0 ? *len : 1)) == NULL)
			r = -ENOMEM;
		else
			poolmon__fleet__offer__pack(&w.m, *buf);
	}
	wire_free(&w);
	return r;
}
