/* The daemon's state: one struct, passed to every module. */
#ifndef POOLMOND_POOLMOND_H
#define POOLMOND_POOLMOND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "check.h"
#include "config.h"
#include "director.h"
#include "policy.h"
#include "sandbox.h"
#include "state.h"

#define BACKEND_REASON_MAX	512

enum health {
	HEALTH_UNKNOWN,		/* not checked yet */
	HEALTH_OK,
	HEALTH_FAILED,
};

/*
 * The last result of one port. Kept small, with a reason only when there
 * is one: thousands of backends times their ports stay in the daemon.
 */
struct port_state {
	char *reason;			/* malloc'ed; NULL: ok, no warning */
	uint32_t latency_ms;
	uint16_t tries;
	uint8_t status;			/* enum check_status, in a byte */
	bool warning;
};
_Static_assert(CHECK_STATUS_COUNT <= UINT8_MAX + 1,
    "port_state.status holds an enum check_status in a byte");

/* Fields ordered to leave no padding: thousands of these stay. */
struct backend {
	struct director_host dh;	/* as the last HOST-LIST showed it */
	char *reason;			/* of the last failure; malloc'ed */
	time_t last_check;		/* wall clock, end of last check */
	struct port_state *ports;	/* cfg.nports of them */
	enum health health;
	bool flush_pending;		/* we sent HOST-DOWN, no flush yet */
	/* Hysteresis and ownership (policy.c). */
	bool operator_noted;		/* "down by operator" logged */
	bool spared;			/* kept up by the pool-wide guard */
	unsigned int fail_count;	/* consecutive failed scans */
	unsigned int ok_count;		/* consecutive healthy scans */
	enum owner owner;
	enum action action;		/* decided for this scan */
	/* Within a scan. */
	uint32_t scanned_in;		/* the last scan that selected it */
	uint32_t reported;		/* bit per port with a report */
	pid_t pid;			/* running check process, or 0 */
};

struct running_child {
	pid_t pid;
	size_t backend;			/* index into poolmond.backends */
	int64_t deadline;		/* monotonic ms: SIGKILL after */
	bool killed;
};

struct reaped_child {
	pid_t pid;
	int status;
};

/* One report per port, child to parent; small enough to be atomic. */
struct check_report {
	uint32_t magic;
	uint32_t scan_id;
	uint32_t backend;
	uint32_t port;
	struct check_result result;
};
#define CHECK_REPORT_MAGIC 0x706d6e31u

struct poolmond {
	struct config cfg;
	struct check_env env;
	struct sandbox sandbox;	/* of the check processes (sandbox.c) */
	sd_event *event;
	sd_event_source *scan_timer;
	sd_event_source *deadline_timer;
	sd_event_source *report_source;
	sd_event_source *start_source;	/* more check processes to fork */
	int report_pipe[2];
	int pidfile_fd;

	struct backend *backends;	/* sorted by address */
	size_t nbackends;
	char *tags;			/* the backends' dh.tag point here */

	/* The scan in progress. */
	bool scanning;
	uint32_t scan_id;
	size_t next_to_start;
	size_t selected;		/* backends in this scan */
	size_t finished;
	/* A requested scan (recheck): all backends, or only these. */
	bool recheck_pending;
	char **recheck_ips;
	size_t nrecheck_ips;
	int64_t scan_started;		/* monotonic ms */
	bool scan_is_recheck;		/* requested, not the interval's */
	int64_t interval_started;	/* start of the last interval scan */
	int64_t next_scan_at;		/* monotonic ms */
	struct running_child *children;
	size_t nchildren;
	struct reaped_child *reaped;	/* scratch of reap_children() */

	/* Operator safety (policy.c, state.c). */
	struct policy policy;
	struct state state;
	struct policy_outcome outcome;	/* of the last scan */
	bool ring_synced;		/* as DIRECTOR-LIST last said */
	bool ring_unsynced_noted;	/* logged once per episode */

	/* Director reachability, to log an outage once. */
	bool director_down;
	char director_error[256];

	uint64_t scans_completed;
	uint64_t children_forked;
	int64_t last_scan_ms;
	time_t last_scan_end;
	bool stopping;

	struct control *control;	/* poolmonctl's socket (control.c) */
};

/* In the scan in progress, or the last one: selected by scan scan_id. */
static inline bool
backend_in_scan(const struct backend *b, uint32_t scan_id)
{
	return b->scanned_in == scan_id;
}

/* scan.c */
int scan_init(struct poolmond *d);
void scan_shutdown(struct poolmond *d);
/*
 * Scan now (or right after the scan in progress): every backend when
 * nips is 0, else only those addresses. -ENOMEM.
 */
int scan_request(struct poolmond *d, const char *const *ips, size_t nips);
/* The backend with address ip, or NULL; as strchr(), a const table in,
 * a backend callers that own d may change out. */
struct backend *backend_find(const struct poolmond *d, const char *ip);

/* child.c: runs in the forked check process; never returns. */
void child_run(const struct poolmond *d, size_t backend, int report_fd,
    int64_t hard_deadline) __attribute__((noreturn));
int64_t child_budget_ms(const struct check_env *env);

/* actions.c */
void actions_apply(struct poolmond *d);
/*
 * Maintenance hold: recorded, then HOST-DOWN (and HOST-FLUSH with flush)
 * at once; the host stays down whatever its health until released.
 * 0, or -errno with err saying what was and was not done.
 */
int actions_hold(struct poolmond *d, const char *ip, const char *reason,
    uid_t uid, bool flush, char *err, size_t errlen);
/* Hand a held or operator-down host to poolmond, which brings it up once
 * healthy. 0 (err holds a note) or -errno with err set. */
int actions_release(struct poolmond *d, const char *ip, char *err,
    size_t errlen);
/* Write the state file; a failure is logged. 0 or -errno. */
int backend_state_save(struct poolmond *d);
/* "IMAP:143 connect: ... (4 tries); POP3:110 ..." for a failed backend. */
void backend_failure_reason(const struct poolmond *d, struct backend *b);

/* backend.c */
/* Zeroed port states for nports; -ENOMEM. */
int backend_init_ports(struct backend *b, size_t nports);
void backend_free(struct backend *b, size_t nports);
/* Store a check result; the reason is copied only when there is one. */
int port_state_set(struct port_state *ps, const struct check_result *res);
/* Replace the failure reason; NULL clears it. */
int backend_set_reason(struct backend *b, const char *reason);

/* pidfile.c */
int pidfile_acquire(const char *path, pid_t *holder);
int pidfile_write_pid(int fd, pid_t pid);
void pidfile_release(const char *path, int fd);

#endif
