/*
 * The fleet: the poolmond instances of one director ring agreeing before
 * they act. After each scan this monitor offers its peers its verdicts,
 * its ownership records and its holds (fleet_net.c carries them); before
 * acting it counts the live monitors' fresh verdicts on each backend, and
 * only the backend's actor (the live monitor with the highest rendezvous
 * hash of backend and monitor address) sends its commands.
 */
#ifndef POOLMOND_FLEET_H
#define POOLMOND_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "fleet_msg.h"
#include "pool.h"
#include "state.h"

/* Intervals without a word from a peer before it counts as gone; a
 * verdict older than this many of its monitor's intervals is no verdict. */
#define FLEET_GONE_INTERVALS	3
/*
 * How far a peer's clock may be from this monitor's, as measured at its
 * last exchange: beyond it, its records and verdicts are refused and it
 * is not trusted. Records stamped further ahead than this are refused.
 */
#define FLEET_SKEW_MAX_MS	60000

struct fleet;

struct fleet_config {
	const char *listen;		/* ADDR[:PORT] */
	const char *const *peers;	/* ADDR[:PORT] each */
	size_t npeers;
	bool ring;			/* and every director of the ring */
	const char *key_path;
	int quorum;			/* 0: a majority of the live */
	int interval_s;
	int timeout_s;
	int fall, rise;
	/* The daemon's dry-run switch, which poolmonctl may turn: a
	 * monitor in dry-run never acts and says so in its offers. */
	const bool *dry_run;
	/* A peer was found gone: its backends have another actor now, who
	 * should judge them without waiting for the next interval. */
	void (*peer_gone)(void *arg);
	/* A peer's verdicts came: the pool is to be judged again. */
	void (*judge)(void *arg);
	void *arg;
};

/*
 * Load the key, listen. The pool and state stay the caller's; the fleet
 * reads the pool and merges its peers' records into the state. 0 or
 * -errno with err saying what is wrong.
 */
int fleet_new(sd_event *event, const struct fleet_config *cfg,
    struct pool *pool, struct state *state, struct fleet **out, char *err,
    size_t errlen);
void fleet_free(struct fleet *f);

/* This monitor, "ADDR:PORT". */
const char *fleet_self(const struct fleet *f);
/* --fleet-peer=ring: the ring's members (addresses, DIRECTOR-LIST). */
void fleet_set_ring(struct fleet *f, const char *const *ips, size_t n);
/*
 * A scan ended (or could not start): offer the verdicts and records to
 * every peer. can_act: the director is reachable and its ring synced.
 */
void fleet_scan_done(struct fleet *f, uint64_t scans, bool can_act);
/*
 * Before the policy decides: the fleet's verdict on every backend
 * (b->fleet_health and its votes) and whether this monitor acts for it
 * (b->acting). False when this monitor may act on nothing: no peer
 * trusts it (logged).
 */
bool fleet_judge(struct fleet *f);
/* A record changed here (hold, release, HOST-DOWN, HOST-UP): offer it now. */
void fleet_records_changed(struct fleet *f);
/*
 * Results were judged: when this monitor's verdict on a backend changed,
 * offer it now rather than at the scan's end. At most one exchange per
 * peer is in flight: an offer made meanwhile follows when it ends.
 */
void fleet_verdicts_changed(struct fleet *f);

/* For status (fleet_status.c). */
struct fleet_peer_view {
	const char *address;
	bool live;
	bool trusted;
	time_t last_seen;		/* 0: never heard */
	const char *error;		/* NULL: none */
	bool skew_known;		/* measured at an exchange of ours */
	int64_t skew_ms;		/* its clock minus ours */
	bool dry_run;			/* it said so */
};
struct fleet_verdict_view {
	const char *monitor;
	enum fleet_verdict verdict;
	const char *reason;
	time_t at;
};
unsigned int fleet_quorum(const struct fleet *f);
unsigned int fleet_live(const struct fleet *f);
bool fleet_isolated(const struct fleet *f);
size_t fleet_npeers(const struct fleet *f);
void fleet_peer(const struct fleet *f, size_t i, struct fleet_peer_view *v);
/* The actor of host ip; NULL: none live. */
const char *fleet_actor(const struct fleet *f, const char *ip);
/* The live monitors' verdicts on ip, this one's first: up to max. */
size_t fleet_verdicts(const struct fleet *f, const char *ip,
    struct fleet_verdict_view *out, size_t max);

/* For tests and fuzzing. */
uint64_t fleet_rendezvous(const char *ip, const char *monitor);
/* The interval a monitor offers, in s, when two of its scans ended gap_ms
 * apart at -i interval_s: its own, unless its scans are slow. */
unsigned int fleet_offered_interval(int64_t gap_ms, unsigned int interval_s);
/* A fleet without its transport: nothing is sent, nothing listens. */
int fleet_new_offline(const struct fleet_config *cfg, struct pool *pool,
    struct state *state, struct fleet **out, char *err, size_t errlen);
/*
 * A peer's message, as the transport hands it over. outgoing: the answer
 * to an exchange of ours with the peer's --fleet-listen address, started
 * at sent_wall_ms (wall clock), which alone decides whether the peer is
 * live and trusted and measures its clock; else a message the peer sent
 * us, taken only from a peer our own exchanges trust. 0, or -errno when
 * it was refused (logged).
 */
int fleet_receive(struct fleet *f, const char *from, bool outgoing,
    int64_t sent_wall_ms, const uint8_t *msg, size_t len);

#endif
