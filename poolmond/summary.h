/*
 * What status, the metrics and systemd's STATUS= show of the daemon
 * besides the pool: a snapshot that main's wiring fills when asked, so
 * these modules read the daemon without seeing struct poolmond.
 */
#ifndef POOLMOND_SUMMARY_H
#define POOLMOND_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

struct daemon_summary {
	time_t started;			/* wall clock; 0: not known */
	/* What routes users: "director" or "lua-director", its socket or
	 * its DSN (never a password); NULL: not known (tests). */
	const char *router_kind;
	const char *router_target;
	const char *act_state;		/* "ring synced", "read-only: ..." */
	bool director_reachable;
	const char *director_error;	/* why not, when not */
	bool ring_known;		/* asked since the director was back */
	bool ring_synced;		/* as DIRECTOR-LIST last said */
	bool dry_run;
	bool scanning;
	uint32_t scan_id;		/* of the last scan started */
	uint64_t scans_completed;
	bool has_children_forked;
	uint64_t children_forked;
	uint64_t checks_unknown;	/* poolmond's own fault */
	time_t last_scan_end;
	int64_t last_scan_ms;
	bool guard_active;		/* the last scan spared hosts */
	bool all_failed;		/* ... because every backend failed */
	/* With --fleet-listen only. */
	bool fleet;
	unsigned int fleet_peers_live;
	unsigned int fleet_peers_trusted;
	unsigned int fleet_quorum;
	bool fleet_isolated;
};

/* Where a module gets the snapshot from. */
struct summary_source {
	void (*read)(void *arg, struct daemon_summary *s);
	void *arg;
};

static inline void
summary_read(const struct summary_source *src, struct daemon_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->director_reachable = true;
	s->ring_known = true;
	s->ring_synced = true;
	if (src->read != NULL)
		src->read(src->arg, s);
}

#endif
