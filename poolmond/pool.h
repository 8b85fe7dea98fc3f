/*
 * The pool: the director's hosts as poolmond knows them, one struct
 * backend each, sorted by address, each address once. This module owns
 * the table: merging a new HOST-LIST into it, looking hosts up, storing
 * check results and summing up health for status, systemd and the policy.
 */
#ifndef POOLMOND_POOL_H
#define POOLMOND_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "director.h"
#include "policy.h"
#include "state.h"

#define BACKEND_REASON_MAX	512

enum health {
	HEALTH_UNCHECKED,	/* not checked yet */
	HEALTH_OK,
	HEALTH_FAILED,
	/*
	 * The check could not be made for a reason of poolmond's own (fork
	 * failed, check process killed by someone else, out of descriptors):
	 * neither healthy nor failed, and never acted on.
	 */
	HEALTH_UNKNOWN,
};

/*
 * The last result of one port. Kept small, with a reason only when there
 * is one: thousands of backends times their ports stay in the daemon.
 */
struct port_state {
	char *reason;			/* malloc'ed; NULL: ok, no warning */
	uint64_t failures;		/* through the backend, for metrics */
	uint32_t latency_ms;
	uint16_t tries;
	uint8_t status;			/* enum check_status, in a byte */
	bool warning;
};
_Static_assert(sizeof(struct port_state) <= 24,
    "port_state stays small: one per backend and port");
_Static_assert(CHECK_STATUS_COUNT <= UINT8_MAX + 1,
    "port_state.status holds an enum check_status in a byte");

/* Fields ordered to leave no padding: thousands of these stay. */
struct backend {
	struct router_host dh;	/* as the last HOST-LIST showed it */
	/* When a command of ours on it was last answered OK (monotonic ms):
	 * a host list asked before then shows it as it was before. */
	int64_t commanded_ms;
	char *reason;			/* of the last failure; malloc'ed */
	time_t last_check;		/* wall clock, end of last check */
	struct port_state *ports;	/* pool.nports of them */
	enum health health;
	bool flush_pending;		/* we sent HOST-DOWN, no flush yet */
	/* Hysteresis and ownership (policy.c). */
	bool operator_noted;		/* "down by operator" logged */
	bool spared;			/* kept up by the pool-wide guard */
	/* It offered STARTTLS/STLS once: never log in in clear again. */
	bool tls_seen;
	bool cleartext_noted;		/* "credentials sent in clear" logged */
	bool awaiting_name;		/* its PTR lookup, to be forked */
	unsigned int fail_count;	/* consecutive failed scans */
	unsigned int ok_count;		/* consecutive healthy scans */
	enum owner owner;
	enum action action;		/* decided for this scan */
	/*
	 * With a fleet (fleet.c): the fleet's verdict, from its live
	 * monitors' (fleet_votes of fleet_voters agreed), which the policy
	 * follows instead of this monitor's own; acting: this monitor is
	 * the backend's actor and sends its commands.
	 */
	enum health fleet_health;
	bool fleet_judged;
	bool acting;
	uint8_t offered;		/* this monitor's verdict, as offered */
	uint16_t fleet_votes;
	uint16_t fleet_voters;
	/* Within a scan. */
	uint32_t scanned_in;		/* the last scan that selected it */
	bool fresh;			/* a result not judged yet */
	uint32_t result_scan;		/* the scan of its latest result */
	/* No more commands for it in this scan: one failed (tried again
	 * at the next), or dry-run said what it would have sent. */
	uint32_t skip_scan;
	uint32_t reported;		/* bit per port with a report */
	pid_t pid;			/* running check process, or 0 */
};

/*
 * One port's result, check process to daemon, written in one piece
 * (supervise.h); scan_id and backend say which entry of which table.
 */
struct check_report {
	uint32_t magic;
	uint32_t scan_id;
	uint32_t backend;		/* index into pool.backends */
	uint32_t port;
	struct check_result result;
};
#define CHECK_REPORT_MAGIC 0x706d6e31u

struct pool {
	struct backend *backends;	/* sorted by address, no duplicates */
	size_t n;
	size_t nports;			/* port_state of each backend */
	char *tags;			/* the backends' dh.tag point here */
};

/* Health of every backend, summed up. */
struct pool_counts {
	size_t healthy;
	size_t failed;
	size_t unknown;			/* poolmond's own fault */
	size_t unchecked;
	size_t director_up;
};

/* In the scan in progress, or the last one: selected by scan scan_id. */
static inline bool
backend_in_scan(const struct backend *b, uint32_t scan_id)
{
	return b->scanned_in == scan_id;
}

void pool_init(struct pool *p, size_t nports);
void pool_free(struct pool *p);
/*
 * Replace the table by a HOST-LIST, keeping what is known of hosts listed
 * before; the table takes list->tags over. A host listed twice is kept
 * once, as first listed; *duplicates says how many copies were dropped
 * and dup_ip the first address concerned. 0, or -ENOMEM with the table
 * as it was.
 */
int pool_merge(struct pool *p, struct router_host_list *list,
    int64_t asked_ms, size_t *duplicates, char *dup_ip, size_t dup_iplen);
/* A command of ours on b was answered OK: it is up, or down, now. */
void pool_commanded(struct backend *b, bool up);
/* The backend with address ip, or NULL; as strchr(), a const table in,
 * a backend its owner may change out. */
struct backend *pool_find(const struct pool *p, const char *ip);
void pool_count(const struct pool *p, struct pool_counts *c);
/*
 * Store a check process's report for scan scan_id into its backend's
 * port. -EINVAL for a report that names no such scan, backend or port
 * or has no valid status; -ESRCH for a backend with no check running
 * (a stale report); -ENOMEM.
 */
int pool_store_report(struct pool *p, uint32_t scan_id,
    const struct check_report *rep);

/* backend.c: one backend's memory. */
/* Zeroed port states for nports; -ENOMEM. */
int backend_init_ports(struct backend *b, size_t nports);
void backend_free(struct backend *b, size_t nports);
/*
 * Store a check result; the reason is copied only when there is one. A
 * failure through the backend (not poolmond's own) is counted.
 */
int port_state_set(struct port_state *ps, const struct check_result *res);
/* Replace the failure reason; NULL clears it. */
int backend_set_reason(struct backend *b, const char *reason);
/*
 * After its check: the backend's health from its ports' results. A port
 * that failed through the backend's fault makes it failed; otherwise one
 * that could not be checked through poolmond's own makes it unknown.
 * Sets the reason ("PROTO:PORT connect: ... (4 tries); ...") of
 * a failed or unknown backend.
 */
void backend_judge(struct backend *b, const struct portspec *ports,
    size_t nports);

#endif
