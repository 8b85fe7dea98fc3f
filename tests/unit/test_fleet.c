/*
 * The fleet's core without its transport: offers packed and parsed with
 * their bounds, peers' verdicts counted against the quorum, one actor per
 * backend, records merged by their latest change, and the state file's
 * fleet fields.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "fleet.pb-c.h"
#include "fleet_msg.h"
#include "log.h"
#include "pool.h"
#include "policy.h"
#include "state.h"
#include "util.h"
#include "unit.h"

#define SELF	"127.0.0.1:9094"
#define PEER2	"127.0.0.2:9094"
#define PEER3	"127.0.0.3:9094"

static const char *const backends[] = { "10.0.0.1", "10.0.0.2",
    "10.0.0.3" };

struct world {
	struct pool pool;
	struct state state;
	struct fleet *fleet;
};

static void
world_init(struct world *w, int quorum)
{
	static const char *const peers[] = { PEER2, "127.0.0.3" };
	const struct fleet_config cfg = { .listen = "127.0.0.1",
	    .peers = peers, .npeers = 2, .quorum = quorum, .interval_s = 1,
	    .timeout_s = 1, .fall = 1, .rise = 1 };
	struct router_host_list l = { .n = ARRAY_SIZE(backends) };
	char err[256], dup[64];
	size_t i, dups;

	memset(w, 0, sizeof(*w));
	pool_init(&w->pool, 1);
	l.hosts = calloc(l.n, sizeof(*l.hosts));
	l.tags = calloc(1, 1);
	for (i = 0; i < l.n; i++) {
		strcpy(l.hosts[i].ip, backends[i]);
		l.hosts[i].up = true;
		l.hosts[i].tag = l.tags;
	}
	CHECK(pool_merge(&w->pool, &l, 0, &dups, dup, sizeof(dup)) == 0);
	router_host_list_free(&l);
	CHECK(fleet_new_offline(&cfg, &w->pool, &w->state, &w->fleet, err,
	    sizeof(err)) == 0);
}

static void
world_free(struct world *w)
{
	fleet_free(w->fleet);
	pool_free(&w->pool);
	state_free(&w->state);
}

static void
set_health(struct world *w, const char *ip, enum health h)
{
	struct backend *b = pool_find(&w->pool, ip);

	b->health = h;
	b->last_check = time(NULL);
	b->fail_count = h == HEALTH_FAILED ? 1 : 0;
	b->ok_count = h == HEALTH_OK ? 1 : 0;
}

/*
 * A peer's offer with one verdict per backend: 'o'k, 'f'ailed, '?',
 * its checks age_s old, its clock skew_ms off ours; outgoing: the answer
 * to an exchange of ours, else one the peer opened.
 */
static int
offer_ex(struct world *w, const char *monitor, const char *from,
    const char *verdicts, bool outgoing, time_t age_s, int64_t skew_ms,
    const struct fleet_record_msg *rec)
{
	struct fleet_verdict_msg v[ARRAY_SIZE(backends)];
	struct fleet_offer o = { .verdicts = v, .can_act = true,
	    .interval_s = 1, .sent_at_ms = wall_ms() + skew_ms,
	    .records = (struct fleet_record_msg *)rec, .nrecords = rec != NULL };
	uint8_t *buf;
	size_t i, len;
	int r;

	memset(v, 0, sizeof(v));
	strcpy(o.monitor, monitor);
	for (i = 0; i < ARRAY_SIZE(backends) && verdicts[i] != '\0'; i++) {
		strcpy(v[i].host, backends[i]);
		v[i].verdict = verdicts[i] == 'o' ? FLEET_VERDICT_OK :
		    verdicts[i] == 'f' ? FLEET_VERDICT_FAILED :
		    FLEET_VERDICT_UNKNOWN;
		v[i].reason = verdicts[i] == 'f' ? "IMAP:143 connect: refused" :
		    NULL;
		v[i].at = time(NULL) + skew_ms / 1000 - age_s;
		o.nverdicts++;
	}
	if (fleet_offer_pack(&o, &buf, &len) < 0)
		return -ENOMEM;
	r = fleet_receive(w->fleet, from, outgoing, wall_ms(), buf, len);
	free(buf);
	return r;
}

/* The fresh answer to an exchange of ours. */
static int
offer_from(struct world *w, const char *monitor, const char *from,
    const char *verdicts)
{
	return offer_ex(w, monitor, from, verdicts, true, 0, 0, NULL);
}

static void
test_rendezvous_spreads(void)
{
	const char *mon[] = { SELF, PEER2, PEER3 };
	unsigned int wins[3] = { 0 };
	char ip[32];
	int i;

	CHECK(fleet_rendezvous("10.0.0.1", SELF) ==
	    fleet_rendezvous("10.0.0.1", SELF));
	CHECK(fleet_rendezvous("10.0.0.1", SELF) !=
	    fleet_rendezvous("10.0.0.1", PEER2));
	for (i = 0; i < 300; i++) {
		size_t best = 0, m;

		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250 + 1);
		for (m = 1; m < 3; m++)
			if (fleet_rendezvous(ip, mon[m]) >
			    fleet_rendezvous(ip, mon[best]))
				best = m;
		wins[best]++;
	}
	/* Each of three monitors acts for a fair share of 300. */
	for (i = 0; i < 3; i++)
		CHECK(wins[i] > 50);
}

static void
test_offer_round_trip(void)
{
	struct fleet_verdict_msg v = { .host = "2001:db8::1",
	    .verdict = FLEET_VERDICT_FAILED, .reason = "POP3:110 timeout",
	    .at = 42 };
	struct fleet_record_msg rec = { .host = "10.0.0.9",
	    .kind = FLEET_RECORD_HOLD, .at = { 1700000000000LL, 3 },
	    .origin = PEER2, .hold = { .uid = 7, .since = 99, .flush = true,
	    .reason = "by=alice:\tdisk swap \xc3\xa9" } };
	struct fleet_offer o = { .monitor = PEER3, .sent_at_ms = 5,
	    .interval_s = 30, .scans = 12, .can_act = true, .verdicts = &v,
	    .nverdicts = 1, .records = &rec, .nrecords = 1 }, back;
	char why[128];
	uint8_t *buf;
	size_t len;

	CHECK(fleet_offer_pack(&o, &buf, &len) == 0);
	CHECK(fleet_offer_parse(buf, len, &back, why, sizeof(why)) == 0);
	CHECK_STR(back.monitor, PEER3);
	CHECK(back.interval_s == 30 && back.scans == 12 && back.can_act);
	CHECK(back.nverdicts == 1 && back.verdicts[0].verdict ==
	    FLEET_VERDICT_FAILED && back.verdicts[0].at == 42);
	CHECK_STR(back.verdicts[0].host, "2001:db8::1");
	CHECK_STR(back.verdicts[0].reason, "POP3:110 timeout");
	CHECK(back.nrecords == 1 && back.records[0].kind ==
	    FLEET_RECORD_HOLD && back.records[0].hold.uid == 7 &&
	    back.records[0].hold.flush);
	/* Word for word: a tab and non-ASCII included. */
	CHECK_STR(back.records[0].hold.reason, "by=alice:\tdisk swap \xc3\xa9");
	CHECK_STR(back.records[0].origin, PEER2);
	CHECK(back.records[0].at.ms == 1700000000000LL &&
	    back.records[0].at.count == 3);
	fleet_offer_free(&back);
	/* Truncated: refused whole, nothing kept. */
	CHECK(fleet_offer_parse(buf, len - 1, &back, why, sizeof(why)) < 0);
	CHECK(back.nverdicts == 0 && back.verdicts == NULL);
	fleet_offer_free(&back);
	free(buf);
}

static int
parse_packed(Poolmon__Fleet__Offer *m, char *why, size_t whylen)
{
	struct fleet_offer back;
	size_t len = poolmon__fleet__offer__get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	int r;

	poolmon__fleet__offer__pack(m, buf);
	r = fleet_offer_parse(buf, len, &back, why, whylen);
	fleet_offer_free(&back);
	free(buf);
	return r;
}

static void
test_offer_bounds(void)
{
	Poolmon__Fleet__Offer m = POOLMON__FLEET__OFFER__INIT;
	Poolmon__Fleet__Record rec = POOLMON__FLEET__RECORD__INIT;
	Poolmon__Fleet__Record *recs[] = { &rec };
	Poolmon__Fleet__BackendVerdict v = POOLMON__FLEET__BACKEND_VERDICT__INIT;
	Poolmon__Fleet__BackendVerdict *vs[] = { &v };
	char why[128];

	m.version = 1;
	m.monitor = "127.0.0.2:9094";
	CHECK(parse_packed(&m, why, sizeof(why)) == 0);
	m.version = 2;
	CHECK(parse_packed(&m, why, sizeof(why)) == -EPROTONOSUPPORT);
	m.version = 1;
	m.monitor = "not an address";
	CHECK(parse_packed(&m, why, sizeof(why)) == -EINVAL);
	m.monitor = "127.0.0.2:9094";
	/* A verdict on no address, an unknown verdict value. */
	v.host = "backend.example";
	m.n_verdicts = 1;
	m.verdicts = vs;
	CHECK(parse_packed(&m, why, sizeof(why)) == -EINVAL);
	v.host = "10.0.0.1";
	v.verdict = 7;
	CHECK(parse_packed(&m, why, sizeof(why)) == -EINVAL);
	v.verdict = POOLMON__FLEET__VERDICT__VERDICT_OK;
	CHECK(parse_packed(&m, why, sizeof(why)) == 0);
	/* A record from a clock far ahead would win every merge. */
	rec.host = "10.0.0.1";
	rec.kind = POOLMON__FLEET__RECORD__KIND__OWNED;
	rec.at_ms = wall_ms() + 7LL * 24 * 3600 * 1000;
	m.n_records = 1;
	m.records = recs;
	CHECK(parse_packed(&m, why, sizeof(why)) == -EINVAL);
	rec.at_ms = wall_ms();
	CHECK(parse_packed(&m, why, sizeof(why)) == 0);
	rec.kind = 9;
	CHECK(parse_packed(&m, why, sizeof(why)) == -EINVAL);
	/* A hold by uid (uid_t)-1, which the state file would not read
	 * back (fuzz_fleet found it); the largest real uid is taken. */
	rec.kind = POOLMON__FLEET__RECORD__KIND__HOLD;
	rec.has_uid = 1;
	rec.uid = UINT32_MAX;
	CHECK(parse_packed(&m, why, sizeof(why)) == -EINVAL);
	rec.uid = UINT32_MAX - 1;
	CHECK(parse_packed(&m, why, sizeof(why)) == 0);
	/* Garbage. */
	CHECK(fleet_offer_parse((const uint8_t *)"\xff\xff\xff", 3,
	    &(struct fleet_offer){ 0 }, why, sizeof(why)) == -EINVAL);
}

static void
test_majority_decides(void)
{
	struct world w;
	struct backend *b;

	world_init(&w, 0);
	/* Peers: 10.0.0.1 failed by both, 10.0.0.2 failed by one only. */
	CHECK(offer_from(&w, PEER2, "127.0.0.2", "ffo") == 0);
	CHECK(offer_from(&w, PEER3, "127.0.0.3", "foo") == 0);
	set_health(&w, "10.0.0.1", HEALTH_OK);
	set_health(&w, "10.0.0.2", HEALTH_OK);
	set_health(&w, "10.0.0.3", HEALTH_OK);
	CHECK(fleet_judge(w.fleet));
	CHECK(fleet_live(w.fleet) == 3 && fleet_quorum(w.fleet) == 2);
	b = pool_find(&w.pool, "10.0.0.1");
	CHECK(b->fleet_judged && b->fleet_health == HEALTH_FAILED);
	CHECK(b->fleet_votes == 2 && b->fleet_voters == 3);
	/* One failed of three: no agreement to act on. */
	b = pool_find(&w.pool, "10.0.0.2");
	CHECK(b->fleet_health == HEALTH_OK && b->fleet_votes == 2);
	b = pool_find(&w.pool, "10.0.0.3");
	CHECK(b->fleet_health == HEALTH_OK && b->fleet_votes == 3);
	world_free(&w);
}

static void
test_one_actor(void)
{
	struct world w;
	size_t i;

	world_init(&w, 0);
	CHECK(offer_from(&w, PEER2, "127.0.0.2", "fff") == 0);
	CHECK(offer_from(&w, PEER3, "127.0.0.3", "fff") == 0);
	for (i = 0; i < ARRAY_SIZE(backends); i++)
		set_health(&w, backends[i], HEALTH_FAILED);
	/* Without a director to act through, this monitor is no actor. */
	fleet_scan_done(w.fleet, 1, true);
	CHECK(fleet_judge(w.fleet));
	for (i = 0; i < ARRAY_SIZE(backends); i++) {
		const struct backend *b = pool_find(&w.pool, backends[i]);
		const char *actor = fleet_actor(w.fleet, backends[i]);
		const char *mons[] = { SELF, PEER2, PEER3 };
		size_t m, best = 0;

		for (m = 1; m < 3; m++)
			if (fleet_rendezvous(backends[i], mons[m]) >
			    fleet_rendezvous(backends[i], mons[best]))
				best = m;
		CHECK_STR(actor, mons[best]);
		CHECK(b->acting == (best == 0));
	}
	world_free(&w);
}

static void
test_quorum_option(void)
{
	struct world w;

	/* --fleet-quorum=3 of three live: two failed are not enough. */
	world_init(&w, 3);
	CHECK(offer_from(&w, PEER2, "127.0.0.2", "f") == 0);
	CHECK(offer_from(&w, PEER3, "127.0.0.3", "o") == 0);
	set_health(&w, "10.0.0.1", HEALTH_FAILED);
	CHECK(fleet_judge(w.fleet));
	CHECK(fleet_quorum(w.fleet) == 3);
	CHECK(pool_find(&w.pool, "10.0.0.1")->fleet_health ==
	    HEALTH_UNKNOWN);
	world_free(&w);
}

static void
test_strangers_refused(void)
{
	struct world w;

	world_init(&w, 0);
	/* Not a peer; a peer's name from another address. */
	CHECK(offer_from(&w, "127.0.0.9:9094", "127.0.0.9", "f") == -ENOENT);
	CHECK(offer_from(&w, PEER2, "127.0.0.3", "f") == -EPERM);
	set_health(&w, "10.0.0.1", HEALTH_FAILED);
	CHECK(fleet_judge(w.fleet));
	CHECK(pool_find(&w.pool, "10.0.0.1")->fleet_health ==
	    HEALTH_UNKNOWN);
	world_free(&w);
}

static void
test_records_latest_wins(void)
{
	struct state st = { .fleet = true, .self = SELF };
	struct hold_info hold = { .uid = 0, .since = 1, .reason = "x" };
	struct state_entry *e;

	CHECK(state_set(&st, "10.0.0.1", OWNER_HOLD, &hold) == 0);
	e = state_find(&st, "10.0.0.1");
	CHECK(e != NULL && e->at.ms > 0);
	CHECK_STR(e->origin, SELF);
	/* An older release loses, a newer one wins. */
	CHECK(state_merge(&st, "10.0.0.1", OWNER_POOLMOND,
	    (struct hlc_stamp){ e->at.ms - 1, 0 }, PEER2, NULL) == 0);
	CHECK(state_find(&st, "10.0.0.1")->owner == OWNER_HOLD);
	CHECK(state_merge(&st, "10.0.0.1", OWNER_POOLMOND,
	    (struct hlc_stamp){ e->at.ms + 1, 0 }, PEER2, NULL) == 1);
	CHECK(state_find(&st, "10.0.0.1")->owner == OWNER_POOLMOND);
	/* Removed: kept as no one's, and an older hold cannot return. */
	CHECK(state_remove(&st, "10.0.0.1"));
	CHECK(state_find(&st, "10.0.0.1") == NULL);
	CHECK(state_record(&st, "10.0.0.1") != NULL);
	CHECK(state_merge(&st, "10.0.0.1", OWNER_HOLD,
	    (struct hlc_stamp){ 5, 0 }, PEER3, &hold) == 0);
	CHECK(state_find(&st, "10.0.0.1") == NULL);
	state_free(&st);
}

static void
test_state_file_fleet_fields(void)
{
	char path[] = "/tmp/poolmon-test-fleet-XXXXXX";
	struct state st = { .fleet = true, .self = SELF }, back = { 0 };
	struct hold_info hold = { .uid = 3, .since = 4, .reason = "r" };
	const struct state_entry *e;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	st.path = path;
	CHECK(state_set(&st, "10.0.0.1", OWNER_HOLD, &hold) == 0);
	CHECK(state_merge(&st, "10.0.0.2", OWNER_POOLMOND,
	    (struct hlc_stamp){ 1234, 7 }, PEER2, NULL) == 1);
	CHECK(state_set(&st, "10.0.0.3", OWNER_POOLMOND, NULL) == 0);
	CHECK(state_remove(&st, "10.0.0.3"));
	CHECK(state_save(&st) == 0);
	back.fleet = true;
	CHECK(state_load(&back, path) == 0);
	e = state_find(&back, "10.0.0.2");
	CHECK(e != NULL && e->owner == OWNER_POOLMOND && e->at.ms == 1234 &&
	    e->at.count == 7);
	CHECK_STR(e != NULL ? e->origin : NULL, PEER2);
	e = state_find(&back, "10.0.0.1");
	CHECK(e != NULL && e->owner == OWNER_HOLD && e->hold.uid == 3);
	CHECK(state_find(&back, "10.0.0.3") == NULL);
	e = state_record(&back, "10.0.0.3");
	CHECK(e != NULL && e->owner == OWNER_NONE && e->at.ms > 0);
	state_free(&st);
	state_free(&back);
	unlink(path);
}

/* Issue 19 item 5: a verdict older than 3 of its monitor's intervals
 * is no verdict, in the quorum too; this monitor's own as well. */
static void
test_stale_verdicts(void)
{
	struct world w;
	struct backend *b;

	world_init(&w, 0);
	/* Interval 1 s: checks 10 s old are stale, 1 s old fresh. */
	CHECK(offer_ex(&w, PEER2, "127.0.0.2", "ff", true, 10, 0, NULL) == 0);
	CHECK(offer_ex(&w, PEER3, "127.0.0.3", "ff", true, 1, 0, NULL) == 0);
	set_health(&w, "10.0.0.1", HEALTH_FAILED);
	set_health(&w, "10.0.0.2", HEALTH_FAILED);
	/* This monitor's check of 10.0.0.2 is old: its director is away. */
	pool_find(&w.pool, "10.0.0.2")->last_check = time(NULL) - 10;
	CHECK(fleet_judge(w.fleet));
	b = pool_find(&w.pool, "10.0.0.1");
	CHECK(b->fleet_health == HEALTH_FAILED && b->fleet_votes == 2);
	b = pool_find(&w.pool, "10.0.0.2");
	CHECK(b->fleet_health == HEALTH_UNKNOWN && b->fleet_votes == 1);
	world_free(&w);
}

/* Item 1: only our own exchanges make a peer live and trusted; what it
 * sends us on its own is taken only once they have. */
static void
test_incoming_does_not_decide(void)
{
	struct world w;
	struct fleet_peer_view v;

	world_init(&w, 0);
	CHECK(offer_ex(&w, PEER2, "127.0.0.2", "f", false, 0, 0, NULL) ==
	    -EAGAIN);
	fleet_peer(w.fleet, 0, &v);
	CHECK(!v.trusted);
	CHECK(offer_from(&w, PEER2, "127.0.0.2", "o") == 0);
	CHECK(offer_ex(&w, PEER2, "127.0.0.2", "f", false, 0, 0, NULL) == 0);
	set_health(&w, "10.0.0.1", HEALTH_FAILED);
	CHECK(fleet_judge(w.fleet));
	CHECK(pool_find(&w.pool, "10.0.0.1")->fleet_votes == 2);
	world_free(&w);
}

/* Item 3: a peer's clock beyond the bound: its records and verdicts
 * refused, not trusted, its skew shown; within it, a change made here
 * after its record was seen orders after it. */
static void
test_clock_skew(void)
{
	struct world w;
	struct fleet_record_msg rec = { .host = "10.0.0.1",
	    .kind = FLEET_RECORD_CLEARED, .origin = PEER3 };
	struct hold_info hold = { .reason = "maintenance" };
	struct fleet_peer_view v;
	const struct state_entry *e;
	size_t i;

	world_init(&w, 0);
	w.state.fleet = true;
	CHECK(offer_from(&w, PEER2, "127.0.0.2", "o") == 0);
	/* Five minutes fast: refused, shown. */
	rec.at.ms = wall_ms() + 5 * 60 * 1000;
	CHECK(offer_ex(&w, PEER3, "127.0.0.3", "f", true, 0, 5 * 60 * 1000,
	    &rec) == 0);
	for (i = 0; i < fleet_npeers(w.fleet); i++) {
		fleet_peer(w.fleet, i, &v);
		if (strcmp(v.address, PEER3) == 0)
			break;
	}
	CHECK(v.skew_known && v.skew_ms > 290000 && v.skew_ms < 310000);
	CHECK(!v.trusted);
	CHECK(state_record(&w.state, "10.0.0.1") == NULL);
	set_health(&w, "10.0.0.1", HEALTH_OK);
	CHECK(fleet_judge(w.fleet));
	CHECK(pool_find(&w.pool, "10.0.0.1")->fleet_voters == 2);
	/* 50 s fast: taken; a hold placed here after it orders after it. */
	rec.at.ms = wall_ms() + 50 * 1000;
	CHECK(offer_ex(&w, PEER2, "127.0.0.2", "o", true, 0, 50 * 1000,
	    &rec) == 0);
	e = state_record(&w.state, "10.0.0.1");
	CHECK(e != NULL && e->owner == OWNER_NONE);
	CHECK(state_set(&w.state, "10.0.0.1", OWNER_HOLD, &hold) == 0);
	e = state_find(&w.state, "10.0.0.1");
	CHECK(e != NULL && e->owner == OWNER_HOLD && e->at.ms >= rec.at.ms);
	/* The peer's record offered again loses to the later hold. */
	CHECK(offer_ex(&w, PEER2, "127.0.0.2", "o", true, 0, 50 * 1000,
	    &rec) == 0);
	CHECK(state_find(&w.state, "10.0.0.1") != NULL &&
	    state_find(&w.state, "10.0.0.1")->owner == OWNER_HOLD);
	world_free(&w);
}

/* Item 6: a monitor in dry-run is never an actor; its offer says so, and
 * a peer in dry-run is never one either. */
static void
test_dry_run_never_acts(void)
{
	static const char *const peers[] = { PEER2 };
	bool dry = true;
	const struct fleet_config cfg = { .listen = "127.0.0.1",
	    .peers = peers, .npeers = 1, .interval_s = 1, .timeout_s = 1,
	    .fall = 1, .rise = 1, .dry_run = &dry };
	struct world w;
	char err[256];
	size_t i;

	world_init(&w, 0);
	fleet_free(w.fleet);
	CHECK(fleet_new_offline(&cfg, &w.pool, &w.state, &w.fleet, err,
	    sizeof(err)) == 0);
	CHECK(offer_from(&w, PEER2, "127.0.0.2", "fff") == 0);
	fleet_scan_done(w.fleet, 1, true);
	for (i = 0; i < ARRAY_SIZE(backends); i++)
		set_health(&w, backends[i], HEALTH_FAILED);
	CHECK(fleet_judge(w.fleet));
	for (i = 0; i < ARRAY_SIZE(backends); i++) {
		CHECK_STR(fleet_actor(w.fleet, backends[i]), PEER2);
		CHECK(!pool_find(&w.pool, backends[i])->acting);
	}
	world_free(&w);
}

/*
 * The interval a monitor offers: its own while its scans end on schedule
 * (the first scan at once and the spread second one 3.1 s later at -i 2
 * included), the scans' spacing, rounded down, once they are slow.
 */
static void
test_offered_interval(void)
{
	CHECK(fleet_offered_interval(2000, 2) == 2);
	CHECK(fleet_offered_interval(3070, 2) == 2);
	CHECK(fleet_offered_interval(4000, 2) == 2);
	CHECK(fleet_offered_interval(4001, 2) == 4);
	CHECK(fleet_offered_interval(5900, 2) == 5);
	CHECK(fleet_offered_interval(61000, 10) == 61);
	CHECK(fleet_offered_interval(0, 10) == 10);
	/* Peers wait 3 offered intervals: always more than the spacing. */
	CHECK(3 * 1000 * (int64_t)fleet_offered_interval(5900, 2) > 5900);
}

int
main(void)
{
	log_init("test_fleet", "/dev/null", false);
	RUN(test_rendezvous_spreads);
	RUN(test_offer_round_trip);
	RUN(test_offer_bounds);
	RUN(test_majority_decides);
	RUN(test_one_actor);
	RUN(test_quorum_option);
	RUN(test_strangers_refused);
	RUN(test_records_latest_wins);
	RUN(test_state_file_fleet_fields);
	RUN(test_stale_verdicts);
	RUN(test_incoming_does_not_decide);
	RUN(test_clock_skew);
	RUN(test_dry_run_never_acts);
	RUN(test_offered_interval);
	return UNIT_EXIT();
}
