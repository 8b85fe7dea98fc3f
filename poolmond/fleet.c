/*
 * The fleet's agreement. Each peer is what this monitor last heard from
 * it: when, whether it proved the key, whether it can act, and its
 * verdicts. A scan's end offers ours to every peer (fleet_net.c carries
 * the bytes); fleet_judge() then counts, for each backend, the fresh
 * verdicts of the live trusted monitors and names the actor by
 * rendezvous hashing, which every monitor computes alike from the same
 * live set, so that one sends a backend's commands.
 */
#include "fleet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "director.h"
#include "fleet_net.h"
#include "log.h"
#include "owner.h"
#include "util.h"

/* Peers at most: configured ones and a ring's. */
#define FLEET_PEERS_MAX_ALL	(FLEET_PEERS_MAX + DIRECTOR_RING_MAX)
/* Warnings about a peer's messages, per minute. */
#define FLEET_WARN_BURST	10
#define FLEET_WARN_WINDOW_MS	60000

struct peer {
	char address[FLEET_ADDR_MAX];	/* canonical ADDR:PORT */
	char ip[INET6_ADDRSTRLEN];
	bool configured;		/* --fleet-peer */
	bool in_ring;			/* DIRECTOR-LIST */
	/* Monotonic ms it was last heard from (an answer that failed
	 * authentication included); at first, when it was added: a peer
	 * not heard from yet counts as live for its first intervals. */
	int64_t heard_ms;
	bool was_live;			/* at the last liveness watch */
	bool authenticated;		/* an offer of it is here */
	bool auth_failed;		/* its last word failed the key */
	bool can_act;
	bool dry_run;			/* it said so */
	time_t last_seen;		/* wall clock; 0: never */
	unsigned int interval_s;	/* its own, as it said */
	char error[128];
	/* Its clock, measured at our last exchange with it. */
	int64_t exchange_wall_ms;	/* when that exchange began, ours */
	bool skew_known;
	int64_t skew_ms;		/* its clock minus ours */
	bool skewed;			/* beyond FLEET_SKEW_MAX_MS */
	bool offer_owed;		/* offered while an exchange was on */
	/* Its verdicts: when it made the offer (its clock) and when they
	 * came (our monotonic clock), for their age. */
	int64_t offer_sent_ms;
	int64_t verdicts_ms;
	struct fleet_verdict_msg *verdicts;	/* sorted by host */
	size_t nverdicts;
};

struct fleet {
	struct fleet_net *net;
	struct pool *pool;
	struct state *state;
	char self[FLEET_ADDR_MAX];
	char self_ip[INET6_ADDRSTRLEN];
	uint16_t port;
	unsigned int quorum_min;
	unsigned int interval_s;
	int timeout_ms;
	int fall, rise;
	bool ring;
	const bool *dry_run;		/* the daemon's switch */
	struct peer *peers;
	size_t npeers;
	bool can_act;			/* our director, as last known */
	uint64_t scans;
	int64_t last_scan_done_ms;	/* monotonic; 0: none yet */
	unsigned int cadence_s;		/* how often we offer, in fact */
	uint8_t *offer;			/* our last offer, packed */
	size_t offer_len;
	bool isolated;
	struct ratelimit warnings;
	sd_event_source *watch;		/* liveness, a few times a second */
	void (*peer_gone)(void *arg);
	void (*judge)(void *arg);
	void *gone_arg;
};

/* ------------------------------------------------------------------ */
/* Peers */

static void
peer_clear_verdicts(struct peer *p)
{
	size_t i;

	for (i = 0; i < p->nverdicts; i++)
		free(p->verdicts[i].reason);
	free(p->verdicts);
	p->verdicts = NULL;
	p->nverdicts = 0;
}

static struct peer *
peer_by_address(struct fleet *f, const char *address)
{
	size_t i;

	for (i = 0; i < f->npeers; i++)
		if (strcmp(f->peers[i].address, address) == 0)
			return &f->peers[i];
	return NULL;
}

/* Whether ip is a peer's address (the transport's is_peer hook). */
static bool
on_is_peer(void *arg, const char *ip)
{
	const struct fleet *f = arg;
	size_t i;

	for (i = 0; i < f->npeers; i++)
		if (strcmp(f->peers[i].ip, ip) == 0)
			return true;
	return false;
}

/* ADDR:PORT of a peer; -EINVAL for what is no address of one. */
static int
peer_address(const char *arg, uint16_t port, char *addr, size_t addrlen,
    char *ip, size_t iplen)
{
	struct sockaddr_storage ss;
	char *end;

	if (fleet_addr_parse(arg, port, &ss) < 0 ||
	    addrport_format(&ss, addr, addrlen) < 0)
		return -EINVAL;
	/* The address alone: "[v6]:p" or "v4:p". */
	str_copy(ip, addr[0] == '[' ? addr + 1 : addr, iplen);
	if ((end = strrchr(ip, addr[0] == '[' ? ']' : ':')) != NULL)
		*end = '\0';
	return 0;
}

static struct peer *
peer_add(struct fleet *f, const char *arg)
{
	char address[FLEET_ADDR_MAX], ip[INET6_ADDRSTRLEN];
	struct peer *p;

	if (peer_address(arg, f->port, address, sizeof(address), ip,
	    sizeof(ip)) < 0 || strcmp(address, f->self) == 0)
		return NULL;
	if ((p = peer_by_address(f, address)) != NULL)
		return p;
	if (f->npeers == FLEET_PEERS_MAX_ALL)
		return NULL;
	p = &f->peers[f->npeers++];
	memset(p, 0, sizeof(*p));
	str_copy(p->address, address, sizeof(p->address));
	str_copy(p->ip, ip, sizeof(p->ip));
	p->heard_ms = now_ms();
	p->was_live = true;
	p->can_act = true;
	return p;
}

static void
peer_remove(struct fleet *f, size_t i)
{
	peer_clear_verdicts(&f->peers[i]);
	f->peers[i] = f->peers[--f->npeers];
}

/* A peer's interval in ms: its own as it said, or ours if longer. */
static int64_t
peer_interval_ms(const struct fleet *f, const struct peer *p)
{
	unsigned int interval = p->interval_s > f->interval_s ?
	    p->interval_s : f->interval_s;

	return (int64_t)interval * 1000;
}

/* Heard from within FLEET_GONE_INTERVALS of its interval (or ours). */
static bool
peer_live(const struct fleet *f, const struct peer *p, int64_t now)
{
	return now - p->heard_ms < FLEET_GONE_INTERVALS *
	    peer_interval_ms(f, p);
}

/* Live, proved the key (or not heard yet), its clock within bounds. */
static bool
peer_trusted(const struct fleet *f, const struct peer *p, int64_t now)
{
	return peer_live(f, p, now) && !p->auth_failed && !p->skewed;
}

static bool
dry_run(const struct fleet *f)
{
	return f->dry_run != NULL && *f->dry_run;
}

/* ------------------------------------------------------------------ */
/* Verdicts */

/* How often this monitor offers, in fact: its interval, or longer. */
static unsigned int
own_interval_s(const struct fleet *f)
{
	return f->cadence_s > f->interval_s ? f->cadence_s : f->interval_s;
}

/*
 * This monitor's verdict on b, after its own --fall/--rise. A check
 * older than FLEET_GONE_INTERVALS intervals (its director away, no scan
 * since) is no verdict.
 */
static enum fleet_verdict
own_verdict(const struct fleet *f, const struct backend *b)
{
	time_t age = time(NULL) - b->last_check;

	if (b->last_check == 0 || age > (time_t)(FLEET_GONE_INTERVALS *
	    own_interval_s(f)))
		return FLEET_VERDICT_UNKNOWN;
	if (b->health == HEALTH_FAILED && b->fail_count >= (unsigned int)f->fall)
		return FLEET_VERDICT_FAILED;
	if (b->health == HEALTH_OK && b->ok_count >= (unsigned int)f->rise)
		return FLEET_VERDICT_OK;
	return FLEET_VERDICT_UNKNOWN;
}

static int
cmp_verdict(const void *a, const void *b)
{
	return strcmp(((const struct fleet_verdict_msg *)a)->host,
	    ((const struct fleet_verdict_msg *)b)->host);
}

/*
 * A peer's verdict on ip, when it has one that is fresh: the check it
 * rests on at most FLEET_GONE_INTERVALS of the peer's intervals old (by
 * its clock when it offered it, then ours since). NULL: none, or stale.
 */
static const struct fleet_verdict_msg *
peer_verdict(const struct fleet *f, const struct peer *p, const char *ip,
    int64_t now)
{
	const struct fleet_verdict_msg *v;
	struct fleet_verdict_msg key;
	int64_t age;

	if (p->nverdicts == 0)
		return NULL;
	str_copy(key.host, ip, sizeof(key.host));
	v = bsearch(&key, p->verdicts, p->nverdicts, sizeof(key),
	    cmp_verdict);
	if (v == NULL || v->at <= 0 || p->offer_sent_ms <= 0)
		return NULL;
	/* Its check time is in whole seconds: up to one more is slack. */
	age = p->offer_sent_ms - (int64_t)v->at * 1000 - 1000 +
	    (now - p->verdicts_ms);
	return age <= FLEET_GONE_INTERVALS * peer_interval_ms(f, p) ? v : NULL;
}

/* ------------------------------------------------------------------ */
/* Who acts */

uint64_t
fleet_rendezvous(const char *ip, const char *monitor)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a, then a mix */
	const unsigned char *s;

	for (s = (const unsigned char *)ip; *s != '\0'; s++)
		h = (h ^ *s) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (s = (const unsigned char *)monitor; *s != '\0'; s++)
		h = (h ^ *s) * 0x100000001b3ull;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

/* Whether monitor a outranks b for ip. */
static bool
outranks(const char *ip, const char *a, const char *b)
{
	uint64_t ha = fleet_rendezvous(ip, a), hb = fleet_rendezvous(ip, b);

	return ha != hb ? ha > hb : strcmp(a, b) > 0;
}

static const char *
actor_of(const struct fleet *f, const char *ip, int64_t now)
{
	/* A monitor in dry-run changes nothing: the others act. */
	const char *best = f->can_act && !dry_run(f) ? f->self : NULL;
	size_t i;

	for (i = 0; i < f->npeers; i++) {
		const struct peer *p = &f->peers[i];

		if (!peer_trusted(f, p, now) || !p->can_act)
			continue;
		if (best == NULL || outranks(ip, p->address, best))
			best = p->address;
	}
	return best;
}

/* Live trusted monitors, this one included. */
static unsigned int
count_live(const struct fleet *f, int64_t now)
{
	unsigned int n = 1;
	size_t i;

	for (i = 0; i < f->npeers; i++)
		if (peer_trusted(f, &f->peers[i], now))
			n++;
	return n;
}

static unsigned int
quorum_of(const struct fleet *f, unsigned int live)
{
	unsigned int majority = live / 2 + 1;

	return f->quorum_min > majority ? f->quorum_min : majority;
}

/*
 * Trusted by none: peers answered, every one that did failed the key
 * (or shows a clock this one cannot agree with), and none proved it
 * lately. Such a monitor keeps out of the fleet's decisions rather than
 * act alone: the fault may well be its own.
 */
static bool
isolated(const struct fleet *f, int64_t now)
{
	bool refused = false;
	size_t i;

	for (i = 0; i < f->npeers; i++) {
		const struct peer *p = &f->peers[i];

		if (!peer_live(f, p, now))
			continue;
		if (p->auth_failed || p->skewed)
			refused = true;
		else if (p->authenticated)
			return false;
	}
	return refused;
}

struct tally {
	unsigned int ok, failed, voters;
};

static void
count_vote(struct tally *t, enum fleet_verdict v)
{
	if (v == FLEET_VERDICT_OK)
		t->ok++;
	else if (v == FLEET_VERDICT_FAILED)
		t->failed++;
}

static void
tally(const struct fleet *f, const struct backend *b, int64_t now,
    struct tally *t)
{
	const struct fleet_verdict_msg *v;
	size_t i;

	memset(t, 0, sizeof(*t));
	count_vote(t, own_verdict(f, b));
	t->voters = 1;
	for (i = 0; i < f->npeers; i++) {
		const struct peer *p = &f->peers[i];

		if (!peer_trusted(f, p, now))
			continue;
		t->voters++;
		if ((v = peer_verdict(f, p, b->dh.ip, now)) != NULL)
			count_vote(t, v->verdict);
	}
}

/* What a monitor that does not act says of a change it saw. */
static void
note_seen(const struct backend *b, const char *actor)
{
	const char *what = b->fleet_health == HEALTH_FAILED ? "failed" : "ok";

	if (b->fleet_health == HEALTH_FAILED ? !b->dh.up : b->dh.up)
		return;
	log_info_f(&(struct log_fields){ .host = b->dh.ip, .event = "fleet" },
	    "fleet: %s %s for %u of %u monitors; %s acts on it", b->dh.ip,
	    what, b->fleet_votes, b->fleet_voters, actor != NULL ? actor :
	    "no live monitor");
}

static void
judge_backend(struct fleet *f, struct backend *b, unsigned int quorum,
    bool may_act, int64_t now)
{
	enum health was = b->fleet_health;
	const char *actor = actor_of(f, b->dh.ip, now);
	struct tally t;

	tally(f, b, now, &t);
	b->fleet_judged = true;
	b->fleet_voters = (uint16_t)t.voters;
	if (t.failed >= quorum) {
		b->fleet_health = HEALTH_FAILED;
		b->fleet_votes = (uint16_t)t.failed;
	} else if (t.ok >= quorum) {
		b->fleet_health = HEALTH_OK;
		b->fleet_votes = (uint16_t)t.ok;
	} else {
		b->fleet_health = HEALTH_UNKNOWN;
		b->fleet_votes = (uint16_t)(t.ok > t.failed ? t.ok : t.failed);
	}
	b->acting = may_act && actor == f->self;
	if (!b->acting && b->fleet_health != was &&
	    b->fleet_health != HEALTH_UNKNOWN)
		note_seen(b, actor);
}

bool
fleet_judge(struct fleet *f)
{
	int64_t now = now_ms();
	unsigned int live = count_live(f, now), quorum = quorum_of(f, live);
	size_t i;

	f->isolated = isolated(f, now);
	if (f->isolated)
		log_warnx_f(&(struct log_fields){ .event = "fleet" },
		    "fleet: no peer trusts this monitor (wrong --fleet-key?): "
		    "acting on nothing");
	for (i = 0; i < f->pool->n; i++)
		judge_backend(f, &f->pool->backends[i], quorum, !f->isolated,
		    now);
	return !f->isolated;
}

/* ------------------------------------------------------------------ */
/* Records: ownership and holds, the latest change winning */

static enum owner
owner_of_kind(enum fleet_record_kind kind)
{
	switch (kind) {
	case FLEET_RECORD_OWNED: return OWNER_POOLMOND;
	case FLEET_RECORD_HOLD: return OWNER_HOLD;
	case FLEET_RECORD_CLEARED: break;
	}
	return OWNER_NONE;
}

/* A record taken: the backend's owner follows at once. */
static void
apply_record(struct fleet *f, const struct fleet_record_msg *r)
{
	struct backend *b = pool_find(f->pool, r->host);

	if (b == NULL)
		return;
	switch (r->kind) {
	case FLEET_RECORD_HOLD:
		b->owner = OWNER_HOLD;
		b->flush_pending = false;
		/* The monitor that took the hold sends its HOST-DOWN: the
		 * actor must not send another on a list older than it. */
		b->dh.up = false;
		break;
	case FLEET_RECORD_OWNED:
		b->owner = OWNER_POOLMOND;
		b->operator_noted = false;
		break;
	case FLEET_RECORD_CLEARED:
		if (b->owner == OWNER_POOLMOND || b->owner == OWNER_HOLD)
			b->owner = b->dh.up ? OWNER_NONE : OWNER_OPERATOR;
		break;
	}
}

/* Holds and releases made elsewhere are said here too. */
static void
note_record(const struct fleet_record_msg *r, const char *origin,
    bool was_held)
{
	const struct log_fields lf = { .host = r->host, .event = r->kind ==
	    FLEET_RECORD_HOLD ? "hold" : "release" };

	if (r->kind == FLEET_RECORD_HOLD)
		log_info_f(&lf, "fleet: %s held for maintenance on %s%s%s%s",
		    r->host, origin, r->hold.reason[0] != '\0' ? " (" : "",
		    r->hold.reason, r->hold.reason[0] != '\0' ? ")" : "");
	else if (r->kind == FLEET_RECORD_OWNED && was_held)
		log_info_f(&lf, "fleet: %s released on %s: the fleet brings "
		    "it up when healthy", r->host, origin);
	else
		log_debug("fleet: %s's record of %s taken (%s)", origin,
		    r->host, owner_str(owner_of_kind(r->kind)));
}

static void warn_limited(struct fleet *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
merge_records(struct fleet *f, const struct fleet_offer *o)
{
	const struct fleet_record_msg *r;
	int64_t ahead = wall_ms() + FLEET_SKEW_MAX_MS;
	bool changed = false;
	size_t i;

	for (i = 0; i < o->nrecords; i++) {
		const struct state_entry *e;
		const char *origin;
		bool was_held;

		r = &o->records[i];
		origin = r->origin[0] != '\0' ? r->origin : o->monitor;
		/* A clock that far ahead would order it after everything
		 * done here for as long: refused. */
		if (r->at.ms > ahead) {
			warn_limited(f, "fleet: %s's record of %s is stamped "
			    "%lld ms ahead of this monitor's clock: refused",
			    o->monitor, r->host,
			    (long long)(r->at.ms - wall_ms()));
			continue;
		}
		e = state_find(f->state, r->host);
		was_held = e != NULL && e->owner == OWNER_HOLD;
		if (state_merge(f->state, r->host, owner_of_kind(r->kind),
		    r->at, origin, &r->hold) <= 0)
			continue;
		apply_record(f, r);
		changed = true;
		note_record(r, origin, was_held);
	}
	if (changed)
		(void)owner_state_save(f->state);
}

/* ------------------------------------------------------------------ */
/* Offers */

/* state_walk(): o->records has room for every state entry. */
static void
add_record(const struct state_entry *e, void *arg)
{
	struct fleet_offer *o = arg;
	struct fleet_record_msg *r;

	if (e->owner == OWNER_OPERATOR)
		return;
	r = &o->records[o->nrecords++];
	str_copy(r->host, e->ip, sizeof(r->host));
	r->kind = e->owner == OWNER_HOLD ? FLEET_RECORD_HOLD :
	    e->owner == OWNER_POOLMOND ? FLEET_RECORD_OWNED :
	    FLEET_RECORD_CLEARED;
	/* A record from before the fleet loses to any the fleet makes. */
	r->at = e->at.ms > 0 ? e->at : (struct hlc_stamp){ .ms = 1 };
	str_copy(r->origin, e->origin, sizeof(r->origin));
	if (e->owner == OWNER_HOLD)
		r->hold = e->hold;
}

static int
build_offer(struct fleet *f, struct fleet_offer *o)
{
	struct backend *b;
	size_t i;

	memset(o, 0, sizeof(*o));
	str_copy(o->monitor, f->self, sizeof(o->monitor));
	o->sent_at_ms = wall_ms();
	/* Slow scans offer less often: peers wait for that long. */
	o->interval_s = f->cadence_s > f->interval_s ? f->cadence_s :
	    f->interval_s;
	o->scans = f->scans;
	o->dry_run = dry_run(f);
	o->can_act = f->can_act && !f->isolated && !o->dry_run;
	if ((f->pool->n > 0 && (o->verdicts = calloc(f->pool->n,
	    sizeof(*o->verdicts))) == NULL) || (f->state->n > 0 &&
	    (o->records = calloc(f->state->n, sizeof(*o->records))) == NULL))
		return -ENOMEM;
	for (i = 0; i < f->pool->n && i < FLEET_ITEMS_MAX; i++) {
		struct fleet_verdict_msg *v = &o->verdicts[o->nverdicts];

		b = &f->pool->backends[i];
		if (b->health == HEALTH_UNCHECKED)
			continue;
		str_copy(v->host, b->dh.ip, sizeof(v->host));
		v->verdict = own_verdict(f, b);
		b->offered = (uint8_t)v->verdict;
		/* Its age tells the peers whether it is still fresh. */
		v->at = b->last_check;
		/* Borrowed: fleet_offer_free() is not called on it. */
		v->reason = b->health != HEALTH_OK ? b->reason : NULL;
		o->nverdicts++;
	}
	state_walk(f->state, add_record, o);
	return 0;
}

/* Pack our offer into f->offer; -ENOMEM keeps the last one. */
static int
refresh_offer(struct fleet *f)
{
	struct fleet_offer o;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = build_offer(f, &o)) == 0)
		r = fleet_offer_pack(&o, &buf, &len);
	free(o.verdicts);
	free(o.records);
	if (r < 0) {
		log_warnx("fleet: cannot make an offer: %s", strerror(-r));
		return r;
	}
	free(f->offer);
	f->offer = buf;
	f->offer_len = len;
	return 0;
}

static void
offer_to_peers(struct fleet *f)
{
	struct peer *p;
	size_t i;
	int r;

	if (refresh_offer(f) < 0)
		return;
	for (i = 0; i < f->npeers && f->net != NULL; i++) {
		p = &f->peers[i];
		/* One at a time: this offer follows the one on its way. */
		if (fleet_net_busy(f->net, p->address)) {
			p->offer_owed = true;
			continue;
		}
		p->offer_owed = false;
		p->exchange_wall_ms = wall_ms();
		if ((r = fleet_net_exchange(f->net, p->address, f->offer,
		    f->offer_len)) < 0)
			snprintf(p->error, sizeof(p->error), "%s",
			    strerror(-r));
	}
}

/*
 * Slow scans only: a spread scan ends up to 0.8 of an interval and a
 * check after it starts, and the first scan (and a recheck) at once, so
 * two ends lie up to about two intervals apart on schedule (3.1 s at -i 2
 * from the first scan to the second), which peers' 3 intervals cover;
 * counting it made them wait 9 s, not 6, before acting for a killed
 * monitor's backends. Rounded down: 3 x floor(gap) still exceeds gap.
 */
unsigned int
fleet_offered_interval(int64_t gap_ms, unsigned int interval_s)
{
	if (gap_ms <= 2 * (int64_t)interval_s * 1000)
		return interval_s;
	return (unsigned int)(gap_ms / 1000);
}

void
fleet_scan_done(struct fleet *f, uint64_t scans, bool can_act)
{
	int64_t now = now_ms();

	if (f->last_scan_done_ms > 0)
		f->cadence_s = fleet_offered_interval(now -
		    f->last_scan_done_ms, f->interval_s);
	f->last_scan_done_ms = now;
	f->scans = scans;
	f->can_act = can_act;
	offer_to_peers(f);
}

void
fleet_records_changed(struct fleet *f)
{
	offer_to_peers(f);
}

void
fleet_verdicts_changed(struct fleet *f)
{
	size_t i;

	for (i = 0; i < f->pool->n; i++) {
		const struct backend *b = &f->pool->backends[i];

		if (b->health != HEALTH_UNCHECKED &&
		    own_verdict(f, b) != (enum fleet_verdict)b->offered) {
			offer_to_peers(f);
			return;
		}
	}
}

/* An exchange with p ended: the offer made meanwhile goes now. */
static void
send_owed(struct fleet *f, struct peer *p)
{
	if (!p->offer_owed || f->net == NULL || f->offer == NULL ||
	    fleet_net_busy(f->net, p->address))
		return;
	p->offer_owed = false;
	p->exchange_wall_ms = wall_ms();
	if (refresh_offer(f) < 0)
		return;
	(void)fleet_net_exchange(f->net, p->address, f->offer, f->offer_len);
}

/* ------------------------------------------------------------------ */
/* The transport's hooks */

static void
warn_limited(struct fleet *f, const char *fmt, ...)
{
	char line[512];
	unsigned int suppressed;
	va_list ap;

	if (!ratelimit_allow(&f->warnings, now_ms(), &suppressed))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warnx_f(&(struct log_fields){ .event = "fleet" }, "%s%s", line,
	    suppressed > 0 ? " (more such lines were not logged)" : "");
}

/* The offer's verdicts become the peer's. */
static void
take_verdicts(struct peer *p, struct fleet_offer *o)
{
	peer_clear_verdicts(p);
	/* Kept: the offer's verdicts move to the peer. */
	p->verdicts = o->verdicts;
	p->nverdicts = o->nverdicts;
	o->verdicts = NULL;
	o->nverdicts = 0;
	if (p->nverdicts > 1)
		qsort(p->verdicts, p->nverdicts, sizeof(*p->verdicts),
		    cmp_verdict);
	p->offer_sent_ms = o->sent_at_ms;
	p->verdicts_ms = now_ms();
	p->interval_s = o->interval_s;
	p->can_act = o->can_act;
	p->dry_run = o->dry_run;
}

/*
 * Its clock against ours, from an exchange of ours: its offer was made
 * between the start of the exchange and now. True when within bounds.
 */
static bool
measure_clock(struct peer *p, const struct fleet_offer *o,
    int64_t sent_wall_ms)
{
	bool was = p->skewed;

	if (o->sent_at_ms <= 0 || sent_wall_ms <= 0) {
		p->skew_known = false;
		p->skewed = false;
		return true;
	}
	p->skew_known = true;
	p->skew_ms = o->sent_at_ms - (sent_wall_ms + wall_ms()) / 2;
	p->skewed = p->skew_ms > FLEET_SKEW_MAX_MS ||
	    p->skew_ms < -FLEET_SKEW_MAX_MS;
	if (p->skewed && !was)
		log_warnx_f(&(struct log_fields){ .event = "fleet" },
		    "fleet: %s's clock is %+lld ms from this monitor's (more "
		    "than %d s): its records and verdicts are refused until "
		    "one of the clocks is set right", p->address,
		    (long long)p->skew_ms, FLEET_SKEW_MAX_MS / 1000);
	else if (!p->skewed && was)
		log_info_f(&(struct log_fields){ .event = "fleet" },
		    "fleet: %s's clock agrees with this monitor's again "
		    "(%+lld ms)", p->address, (long long)p->skew_ms);
	if (p->skewed)
		snprintf(p->error, sizeof(p->error), "clock skew %+lld ms",
		    (long long)p->skew_ms);
	return !p->skewed;
}

/*
 * The answer to our own exchange with the peer's --fleet-listen
 * address: the one thing that says it is live and trusted.
 */
static void
take_answer(struct fleet *f, struct peer *p, struct fleet_offer *o,
    int64_t sent_wall_ms)
{
	p->heard_ms = now_ms();
	p->last_seen = time(NULL);
	p->authenticated = true;
	p->auth_failed = false;
	p->error[0] = '\0';
	if (!measure_clock(p, o, sent_wall_ms)) {
		peer_clear_verdicts(p);
		p->interval_s = o->interval_s;
		p->can_act = false;
		return;
	}
	take_verdicts(p, o);
	merge_records(f, o);
	if (f->judge != NULL)
		f->judge(f->gone_arg);
}

/*
 * A message the peer opened an exchange with: it proved the key, but
 * only our own exchanges say whether the peer is live and trusted, so it
 * is taken from a trusted peer only, and changes neither.
 */
static int
take_incoming(struct fleet *f, struct peer *p, struct fleet_offer *o)
{
	int64_t skew = o->sent_at_ms - wall_ms();

	if (!peer_trusted(f, p, now_ms()) || !p->authenticated)
		return -EAGAIN;
	if (o->sent_at_ms <= 0 || skew > FLEET_SKEW_MAX_MS ||
	    skew < -FLEET_SKEW_MAX_MS)
		return -ERANGE;
	take_verdicts(p, o);
	merge_records(f, o);
	if (f->judge != NULL)
		f->judge(f->gone_arg);
	return 0;
}

int
fleet_receive(struct fleet *f, const char *from, bool outgoing,
    int64_t sent_wall_ms, const uint8_t *msg, size_t len)
{
	struct fleet_offer o;
	struct peer *p;
	char why[256];
	int r = 0;

	if ((r = fleet_offer_parse(msg, len, &o, why, sizeof(why))) < 0) {
		warn_limited(f, "fleet: ignoring a message from %s: %s", from,
		    why);
		return r;
	}
	if ((p = peer_by_address(f, o.monitor)) == NULL) {
		warn_limited(f, "fleet: %s (from %s) is not a peer of this "
		    "monitor (--fleet-peer): ignored", o.monitor, from);
		r = -ENOENT;
	} else if (strcmp(p->ip, from) != 0 && strcmp(p->address, from) != 0) {
		warn_limited(f, "fleet: an offer signed %s came from %s: "
		    "ignored", o.monitor, from);
		r = -EPERM;
	} else if (outgoing)
		take_answer(f, p, &o, sent_wall_ms);
	else if ((r = take_incoming(f, p, &o)) < 0)
		log_debug("fleet: %s's offer to this monitor not taken: %s",
		    p->address, r == -ERANGE ? "its clock is too far from "
		    "this monitor's" : "not trusted by an exchange of ours "
		    "yet");
	fleet_offer_free(&o);
	return r;
}

static void
on_received(void *arg, const char *from, bool outgoing, const uint8_t *msg,
    size_t len)
{
	struct fleet *f = arg;
	struct peer *p = outgoing ? peer_by_address(f, from) : NULL;

	(void)fleet_receive(f, from, outgoing, p != NULL ?
	    p->exchange_wall_ms : 0, msg, len);
}

static int
on_answer(void *arg, uint8_t **msg, size_t *len)
{
	struct fleet *f = arg;

	/* Made now: the peer reads our clock from it. */
	if (refresh_offer(f) < 0 && f->offer == NULL)
		return -ENOMEM;
	if ((*msg = malloc(f->offer_len > 0 ? f->offer_len : 1)) == NULL)
		return -ENOMEM;
	memcpy(*msg, f->offer, f->offer_len);
	*len = f->offer_len;
	return 0;
}

/*
 * How an exchange ended. Only ours say anything of the peer: anyone can
 * fail a handshake from a peer's address (fleet_net.c logs those).
 */
static void
on_ended(void *arg, const char *peer, bool outgoing,
    enum fleet_outcome outcome, const char *err)
{
	struct fleet *f = arg;
	struct peer *p = outgoing ? peer_by_address(f, peer) : NULL;

	if (p != NULL)
		send_owed(f, p);
	if (p == NULL || outcome == FLEET_OK)
		return;
	snprintf(p->error, sizeof(p->error), "%s", err);
	if (outcome == FLEET_AUTH_FAILED) {
		/* It answered: alive, but not one of us (or we not of it). */
		if (!p->auth_failed)
			log_warnx_f(&(struct log_fields){ .event = "fleet" },
			    "fleet: %s failed authentication (it does not "
			    "hold this monitor's --fleet-key): its verdicts "
			    "do not count", p->address);
		p->heard_ms = now_ms();
		p->last_seen = time(NULL);
		p->auth_failed = true;
		p->authenticated = false;
		peer_clear_verdicts(p);
	}
}

/* ------------------------------------------------------------------ */
/* Liveness: a peer gone is noticed when it happens, not at a scan */

#define FLEET_WATCH_MS		250

static int
on_watch(sd_event_source *src, uint64_t usec, void *arg)
{
	struct fleet *f = arg;
	int64_t now = now_ms();
	bool gone = false;
	size_t i;

	for (i = 0; i < f->npeers; i++) {
		struct peer *p = &f->peers[i];
		bool live = peer_live(f, p, now);

		if (p->was_live && !live) {
			log_warnx_f(&(struct log_fields){ .event = "fleet" },
			    "fleet: %s gone (not heard from for %d "
			    "intervals): the others act for its backends",
			    p->address, FLEET_GONE_INTERVALS);
			gone = true;
		} else if (!p->was_live && live && p->authenticated)
			log_info_f(&(struct log_fields){ .event = "fleet" },
			    "fleet: %s is back", p->address);
		p->was_live = live;
	}
	if (gone && f->peer_gone != NULL)
		f->peer_gone(f->gone_arg);
	(void)sd_event_source_set_time(src, usec + FLEET_WATCH_MS * 1000);
	return 0;
}

static int
start_watch(struct fleet *f, sd_event *event)
{
	uint64_t now;
	int r;

	if ((r = sd_event_now(event, CLOCK_MONOTONIC, &now)) < 0 ||
	    (r = sd_event_add_time(event, &f->watch, CLOCK_MONOTONIC,
	    now + FLEET_WATCH_MS * 1000, 10000, on_watch, f)) < 0)
		return r;
	return sd_event_source_set_enabled(f->watch, SD_EVENT_ON);
}

/* ------------------------------------------------------------------ */

void
fleet_set_ring(struct fleet *f, const char *const *ips, size_t n)
{
	struct peer *p;
	size_t i, j;
	bool listed;

	if (!f->ring)
		return;
	for (i = 0; i < n; i++)
		if (strcmp(ips[i], f->self_ip) != 0 &&
		    (p = peer_add(f, ips[i])) != NULL && !p->in_ring) {
			p->in_ring = true;
			log_info("fleet: %s joins (director ring)",
			    p->address);
		}
	/* Directors gone from the ring, unless configured. */
	for (i = f->npeers; i-- > 0;) {
		p = &f->peers[i];
		for (listed = false, j = 0; j < n && !listed; j++)
			listed = strcmp(p->ip, ips[j]) == 0;
		if (p->in_ring && !listed && !p->configured) {
			log_info("fleet: %s leaves (director ring)",
			    p->address);
			peer_remove(f, i);
		}
	}
}

static int
set_self(struct fleet *f, const char *listen, char *err, size_t errlen)
{
	if (peer_address(listen, DEFAULT_FLEET_PORT, f->self, sizeof(f->self),
	    f->self_ip, sizeof(f->self_ip)) < 0)
		return err_set(err, errlen, -EINVAL, "--fleet-listen '%s': "
		    "not an address", listen);
	/* The canonical form ends in ":PORT". */
	f->port = (uint16_t)strtoul(strrchr(f->self, ':') + 1, NULL, 10);
	return 0;
}

static int
start_net(struct fleet *f, sd_event *event, const struct fleet_config *cfg,
    char *err, size_t errlen)
{
	const struct fleet_net_hooks hooks = { .received = on_received,
	    .answer = on_answer, .ended = on_ended, .is_peer = on_is_peer,
	    .arg = f };
	struct sockaddr_storage ss;
	uint8_t key[FLEET_KEY_MAX];
	size_t keylen;
	int r;

	if ((r = fleet_key_load(cfg->key_path, key, sizeof(key), &keylen,
	    err, errlen)) < 0)
		return r;
	(void)fleet_addr_parse(cfg->listen, DEFAULT_FLEET_PORT, &ss);
	r = fleet_net_new(event, &ss, key, keylen, f->timeout_ms, &hooks,
	    &f->net, err, errlen);
	explicit_bzero(key, sizeof(key));
	return r;
}

int
fleet_new(sd_event *event, const struct fleet_config *cfg,
    struct pool *pool, struct state *state, struct fleet **out, char *err,
    size_t errlen)
{
	int r;

	if ((r = fleet_new_offline(cfg, pool, state, out, err, errlen)) < 0)
		return r;
	if ((r = start_net(*out, event, cfg, err, errlen)) == 0 &&
	    (r = start_watch(*out, event)) < 0)
		(void)err_set(err, errlen, r, "liveness timer: %s",
		    strerror(-r));
	if (r < 0) {
		fleet_free(*out);
		*out = NULL;
		return r;
	}
	log_info("fleet: %s with %zu peer%s%s, quorum %s", (*out)->self,
	    (*out)->npeers, (*out)->npeers == 1 ? "" : "s", cfg->ring ?
	    " and the director ring's" : "", cfg->quorum > 0 ?
	    "--fleet-quorum or a majority" : "a majority");
	return 0;
}

int
fleet_new_offline(const struct fleet_config *cfg, struct pool *pool,
    struct state *state, struct fleet **out, char *err, size_t errlen)
{
	struct fleet *f;
	size_t i;
	int r;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->peers = calloc(FLEET_PEERS_MAX_ALL, sizeof(*f->peers))) ==
	    NULL) {
		free(f);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	f->pool = pool;
	f->state = state;
	f->quorum_min = cfg->quorum > 0 ? (unsigned int)cfg->quorum : 0;
	f->interval_s = (unsigned int)cfg->interval_s;
	f->timeout_ms = cfg->timeout_s * 1000;
	f->fall = cfg->fall;
	f->rise = cfg->rise;
	f->ring = cfg->ring;
	f->dry_run = cfg->dry_run;
	f->peer_gone = cfg->peer_gone;
	f->judge = cfg->judge;
	f->gone_arg = cfg->arg;
	f->warnings = (struct ratelimit){ .interval_ms = FLEET_WARN_WINDOW_MS,
	    .burst = FLEET_WARN_BURST };
	if ((r = set_self(f, cfg->listen, err, errlen)) < 0)
		goto fail;
	for (i = 0; i < cfg->npeers; i++) {
		struct peer *p = peer_add(f, cfg->peers[i]);

		if (p == NULL) {
			r = err_set(err, errlen, -EINVAL, "--fleet-peer '%s': "
			    "not a peer address", cfg->peers[i]);
			goto fail;
		}
		p->configured = true;
	}
	/* Every change stamped, and a host brought up recorded as such. */
	state->fleet = true;
	str_copy(state->self, f->self, sizeof(state->self));
	*out = f;
	return 0;
fail:
	fleet_free(f);
	return r;
}

void
fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	fleet_net_free(f->net);
	f->watch = sd_event_source_disable_unref(f->watch);
	while (f->npeers > 0)
		peer_remove(f, f->npeers - 1);
	free(f->peers);
	free(f->offer);
	free(f);
}

/* ------------------------------------------------------------------ */
/* For status */

const char *
fleet_self(const struct fleet *f)
{
	return f->self;
}

unsigned int
fleet_live(const struct fleet *f)
{
	return count_live(f, now_ms());
}

unsigned int
fleet_quorum(const struct fleet *f)
{
	return quorum_of(f, fleet_live(f));
}

bool
fleet_isolated(const struct fleet *f)
{
	return isolated(f, now_ms());
}

size_t
fleet_npeers(const struct fleet *f)
{
	return f->npeers;
}

void
fleet_peer(const struct fleet *f, size_t i, struct fleet_peer_view *v)
{
	const struct peer *p = &f->peers[i];
	int64_t now = now_ms();

	v->address = p->address;
	v->live = peer_live(f, p, now);
	v->trusted = peer_trusted(f, p, now) && p->authenticated;
	v->last_seen = p->last_seen;
	v->error = p->error[0] != '\0' ? p->error : NULL;
	v->skew_known = p->skew_known;
	v->skew_ms = p->skew_ms;
	v->dry_run = p->dry_run;
}

const char *
fleet_actor(const struct fleet *f, const char *ip)
{
	if (isolated(f, now_ms()))
		return NULL;
	return actor_of(f, ip, now_ms());
}

size_t
fleet_verdicts(const struct fleet *f, const char *ip,
    struct fleet_verdict_view *out, size_t max)
{
	const struct backend *b = pool_find(f->pool, ip);
	const struct fleet_verdict_msg *v;
	int64_t now = now_ms();
	size_t i, n = 0;

	if (max == 0)
		return 0;
	out[n++] = (struct fleet_verdict_view){ .monitor = f->self,
	    .verdict = b != NULL ? own_verdict(f, b) : FLEET_VERDICT_UNKNOWN,
	    .reason = b != NULL && b->health != HEALTH_OK ? b->reason : NULL,
	    .at = b != NULL ? b->last_check : 0 };
	for (i = 0; i < f->npeers && n < max; i++) {
		const struct peer *p = &f->peers[i];

		if (!peer_trusted(f, p, now) || !p->authenticated)
			continue;
		v = peer_verdict(f, p, ip, now);
		out[n++] = (struct fleet_verdict_view){ .monitor = p->address,
		    .verdict = v != NULL ? v->verdict : FLEET_VERDICT_UNKNOWN,
		    .reason = v != NULL ? v->reason : NULL,
		    .at = v != NULL ? v->at : 0 };
	}
	return n;
}
