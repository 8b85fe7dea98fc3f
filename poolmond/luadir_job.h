/*
 * What one request asks of the Lua director's database, as the SQL
 * statements it runs one after the other, each result deciding the next:
 *
 *   list     SELECT every backends row with its user count
 *   gate     whether the database takes writes (a standby, read_only, a
 *            file opened read-only cannot)
 *   command  in one transaction: the backend's rows locked and read, then
 *            compare-and-set of their state, and for a flush the deletion
 *            of their user_backend rows; ROLLBACK when the rows say
 *            "someone else's" (CONFLICT) or anything fails
 *
 * A database driver (luadir_db.h) runs a job: luadir_job_next() with no
 * result gives the first statement; the driver runs it, hands each row to
 * luadir_job_row() and its end to luadir_job_next(), which gives the next
 * statement or NULL when the job is over. Pure and self-contained, so that
 * SQLite's worker thread can run it whole: no I/O, no logging, no globals.
 */
#ifndef POOLMOND_LUADIR_JOB_H
#define POOLMOND_LUADIR_JOB_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luadir_dsn.h"
#include "luadir_rows.h"
#include "router.h"

enum luadir_job_kind {
	LUADIR_JOB_LIST,
	LUADIR_JOB_GATE,
	LUADIR_JOB_COMMAND,
};

/* How a statement ended, as the driver reports it. */
struct luadir_stmt_end {
	int error;		/* 0, or -errno */
	bool unreachable;	/* the database could not be reached, or it
				 * stalled (a lock or statement timeout) */
	const char *errmsg;	/* error: the database's own words */
	long long affected;	/* rows an UPDATE or DELETE changed */
	int readonly;		/* SQLite: 1 opened read-only, 0, -1 unknown */
};

struct luadir_job {
	enum luadir_job_kind kind;
	enum luadir_kind dialect;
	enum router_cmd cmd;
	char ip[INET6_ADDRSTRLEN];
	/* Command: ids whose hostname resolved to ip at the last listing. */
	int32_t *known;
	size_t nknown;

	/* Progress: the job's own. */
	int stage;
	bool in_txn;
	char *sql;			/* the statement handed out last */
	struct luadir_row *rows;	/* the statement's rows, parsed */
	size_t nrows, rows_alloc;
	bool too_many;
	long long expect;		/* rows the UPDATE must change */
	long long users_deleted;
	char change[96];		/* what the command changed */
	bool gate_seen;
	bool gate_standby, gate_readonly, gate_innodb_ro;

	/* Outcome, once luadir_job_next() returned NULL. */
	bool done;
	int error;			/* 0, or -errno with err */
	bool unreachable;
	char err[256];
	/* The statement that failed, in SQL's words ("UPDATE backends");
	 * NULL when none did (no connection). */
	const char *what;
	/* List: rows that did not parse, left out; the first's id and why. */
	size_t bad_rows;
	char bad_first[160];
	/* Gate: */
	bool can_act;
	char act_state[64];
	/* Command: */
	enum router_reply reply;
	char line[200];
	bool committed;			/* the change is in the database */
	/* Command, done: the backend's rows as read in the transaction
	 * (rows, nrows), whose hostnames a kick names. */
};

/* known: ids of ip's rows with no address of their own (may be NULL). */
struct luadir_job *luadir_job_new(enum luadir_job_kind kind,
    enum luadir_kind dialect, enum router_cmd cmd, const char *ip,
    const int32_t *known, size_t nknown);
void luadir_job_free(struct luadir_job *job);

/*
 * The next statement, given how the one before ended (NULL: the first);
 * NULL when the job is done. The text lives until the next call.
 */
const char *luadir_job_next(struct luadir_job *job,
    const struct luadir_stmt_end *end);
/*
 * A row of the current statement: cells (NULL for SQL NULL) and their
 * lengths. 0, or -E2BIG when a listing has more than ROUTER_MAX_HOSTS
 * rows (the driver may stop reading; the job fails at its end).
 */
int luadir_job_row(struct luadir_job *job, const char *const *cells,
    const size_t *lens, size_t ncells);
/* The job cannot run at all (no connection): done with this error. */
void luadir_job_fail(struct luadir_job *job, int error, bool unreachable,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The listing's statement (tests). */
extern const char luadir_list_sql[];

#endif
