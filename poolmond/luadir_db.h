/*
 * A database driver of the Lua director's router (luadir.c): runs one
 * job (luadir_job.h) at a time against SQLite (a worker thread),
 * PostgreSQL (libpq's asynchronous API) or MariaDB (its non-blocking
 * API), all on the event loop, each client library loaded at run time
 * (dlib.h). A connection is opened for the first job and kept; after an
 * error that may have left it unusable, or a job abandoned at its
 * deadline, it is dropped and opened again for the next job.
 */
#ifndef POOLMOND_LUADIR_DB_H
#define POOLMOND_LUADIR_DB_H

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "luadir_dsn.h"
#include "luadir_job.h"

struct luadir_db;
struct luadir_resolver;

/* A job is over (job->done): from the event loop, never from run(). */
typedef void luadir_db_done_fn(struct luadir_job *job, void *arg);

struct luadir_db_ops {
	/*
	 * Run job; deadline is monotonic ms, which the driver keeps its
	 * own waits (busy timeout, connect) within. 0, or -errno with err
	 * (then done is never called for it).
	 */
	int (*run)(struct luadir_db *db, struct luadir_job *job,
	    int64_t deadline, char *err, size_t errlen);
	/*
	 * The running job's deadline passed: done is never called for it;
	 * the driver frees it, now or once its worker lets go of it, and
	 * drops the connection.
	 */
	void (*abandon)(struct luadir_db *db);
	void (*free)(struct luadir_db *db);
};

struct luadir_db {
	const struct luadir_db_ops *ops;
	luadir_db_done_fn *done;
	void *done_arg;
};

/* Each loads its client library (an error names --lua-director and the
 * package to install). 0 or -errno with err. */
int luadir_sqlite_new(sd_event *event, const struct luadir_dsn *dsn,
    int timeout_ms, luadir_db_done_fn *done, void *arg,
    struct luadir_db **out, char *err, size_t errlen);
int luadir_pg_new(sd_event *event, const struct luadir_dsn *dsn,
    struct luadir_resolver *resolver, int timeout_ms, luadir_db_done_fn *done,
    void *arg, struct luadir_db **out, char *err, size_t errlen);
int luadir_mariadb_new(sd_event *event, const struct luadir_dsn *dsn,
    struct luadir_resolver *resolver, int timeout_ms, luadir_db_done_fn *done,
    void *arg, struct luadir_db **out, char *err, size_t errlen);

#endif
