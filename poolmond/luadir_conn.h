/*
 * What the Lua director's PostgreSQL and MariaDB drivers (luadir_pg.c,
 * luadir_mariadb.c) share: one job at a time, moved on from the event
 * loop; a connection opened for the first job (the server's name looked
 * up by poolmond first, luadir_resolve.h), its session set up once, then
 * kept; the job's statements run one after the other; the connection
 * dropped when a job is abandoned or leaves it unusable. Each driver
 * embeds a struct luadir_conn first and does what is its library's:
 * connecting, sending a statement and reading its end, closing.
 */
#ifndef POOLMOND_LUADIR_CONN_H
#define POOLMOND_LUADIR_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "luadir_db.h"
#include "luadir_dsn.h"
#include "luadir_job.h"

enum luadir_conn_state {
	LUADIR_CONN_CLOSED,
	LUADIR_CONN_RESOLVING,	/* the server's address */
	LUADIR_CONN_CONNECTING,
	LUADIR_CONN_SETUP,	/* the session's timeouts */
	LUADIR_CONN_READY,
	LUADIR_CONN_QUERY,	/* a job's statement */
};

struct luadir_conn;

struct luadir_conn_ops {
	/*
	 * Open a connection to addr (NULL: to the DSN's host as it stands)
	 * and set up its session (luadir_conn_send() in state SETUP); or
	 * fail the job (luadir_conn_fail(), or luadir_conn_job_done()).
	 */
	void (*connect)(struct luadir_conn *c, const char *addr);
	/* Send sql (c->end cleared), its end into c->end, then
	 * luadir_conn_stmt_over(); or luadir_conn_fail(). */
	void (*send)(struct luadir_conn *c, const char *sql);
	/* Drop the connection, if any: state CLOSED, fd -1, no io. */
	void (*close)(struct luadir_conn *c);
	/* The connection cannot serve the job after job. */
	bool (*spent)(struct luadir_conn *c, const struct luadir_job *job);
	/* The connection's socket is ready (luadir_conn_watch()). */
	sd_event_io_handler_t on_io;
};

struct luadir_conn {
	struct luadir_db db;	/* first: what luadir_db_ops are given */
	const struct luadir_conn_ops *ops;
	sd_event *event;
	const struct luadir_dsn *dsn;	/* the router's, lives as long */
	struct luadir_resolver *resolver;	/* NULL: no name to look up */
	int timeout_ms;
	enum luadir_conn_state state;
	int fd;
	sd_event_source *io;
	sd_event_source *starter;	/* moves a new job on from the loop */
	struct luadir_job *job;
	/* The statement under way: */
	struct luadir_stmt_end end;
	char errbuf[256];
};

/*
 * c zeroed (calloc); the starter made, and the resolver watched when the
 * DSN names a host to look up. 0, or -errno with err: then free c with
 * luadir_conn_release() (safe on what init left half done).
 */
int luadir_conn_init(struct luadir_conn *c, const struct luadir_db_ops *dbops,
    const struct luadir_conn_ops *ops, sd_event *event,
    const struct luadir_dsn *dsn, struct luadir_resolver *resolver,
    int timeout_ms, luadir_db_done_fn *done, void *arg, char *err,
    size_t errlen);
/* The job freed, the connection closed, the starter and watch gone; c
 * itself is the driver's to free. */
void luadir_conn_release(struct luadir_conn *c);

/* luadir_db_ops' run and abandon. */
int luadir_conn_run(struct luadir_db *db, struct luadir_job *job,
    int64_t deadline, char *err, size_t errlen);
void luadir_conn_abandon(struct luadir_db *db);

/* Move on: connect when needed, else the job's first statement. */
void luadir_conn_step(struct luadir_conn *c);
/* Run sql in state (SETUP or QUERY), its end cleared. */
void luadir_conn_send(struct luadir_conn *c, enum luadir_conn_state state,
    const char *sql);
/*
 * The statement under way ended (c->end): the session set up and the job
 * moved on, or its next statement. -errno when setting up the session
 * failed: the caller fails the connection.
 */
int luadir_conn_stmt_over(struct luadir_conn *c);
/* The job is over: done() with it. */
void luadir_conn_job_done(struct luadir_conn *c);
/* The connection failed: closed, and the job with it, msg the library's
 * words ("" when it had none). */
void luadir_conn_fail(struct luadir_conn *c, int error, const char *what,
    const char *msg);
/* Watch fd (it may change while connecting) for events; fd -1: nothing
 * to watch. 0 or -errno. */
int luadir_conn_watch(struct luadir_conn *c, int fd, uint32_t events);

#endif
