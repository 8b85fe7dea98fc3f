/*
 * The Lua director's PostgreSQL database through libpq's asynchronous
 * API on the event loop: PQconnectStartParams/PQconnectPoll, then each
 * statement with PQsendQuery, PQflush, PQconsumeInput and PQgetResult,
 * the connection non-blocking, its socket watched by sd-event. A host
 * name is resolved first by poolmond (luadir_resolve.h) and given to
 * libpq as hostaddr= beside the name (which its password file and TLS
 * still match), as libpq would resolve it blocking. The password comes
 * from libpq's own places only: ~/.pgpass, PGPASSFILE, ?passfile=.
 * Each connection bounds what the server waits for (lock_timeout,
 * statement_timeout), so that a session poolmond gave up on at its
 * deadline never keeps its locks for long.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <libpq-fe.h>

#include "dlib.h"
#include "log.h"
#include "luadir_db.h"
#include "luadir_resolve.h"
#include "util.h"

#define MAX_COLS	8

struct pq_api {
	__typeof__(PQconnectStartParams) *connect_start_params;
	__typeof__(PQconnectPoll) *connect_poll;
	__typeof__(PQstatus) *status;
	__typeof__(PQtransactionStatus) *transaction_status;
	__typeof__(PQsocket) *socket;
	__typeof__(PQerrorMessage) *error_message;
	__typeof__(PQfinish) *finish;
	__typeof__(PQsetnonblocking) *set_nonblocking;
	__typeof__(PQsetNoticeProcessor) *set_notice_processor;
	__typeof__(PQsendQuery) *send_query;
	__typeof__(PQflush) *flush;
	__typeof__(PQconsumeInput) *consume_input;
	__typeof__(PQisBusy) *is_busy;
	__typeof__(PQgetResult) *get_result;
	__typeof__(PQresultStatus) *result_status;
	__typeof__(PQresultErrorMessage) *result_error_message;
	__typeof__(PQresultErrorField) *result_error_field;
	__typeof__(PQntuples) *ntuples;
	__typeof__(PQnfields) *nfields;
	__typeof__(PQgetvalue) *getvalue;
	__typeof__(PQgetlength) *getlength;
	__typeof__(PQgetisnull) *getisnull;
	__typeof__(PQcmdTuples) *cmd_tuples;
	__typeof__(PQclear) *clear;
	__typeof__(PQconninfoParse) *conninfo_parse;
	__typeof__(PQconninfoFree) *conninfo_free;
	__typeof__(PQfreemem) *freemem;
};

static struct pq_api pq;
static const struct dlib_sym pq_syms[] = {
	DLIB_SYM(struct pq_api, connect_start_params, PQconnectStartParams),
	DLIB_SYM(struct pq_api, connect_poll, PQconnectPoll),
	DLIB_SYM(struct pq_api, status, PQstatus),
	DLIB_SYM(struct pq_api, transaction_status, PQtransactionStatus),
	DLIB_SYM(struct pq_api, socket, PQsocket),
	DLIB_SYM(struct pq_api, error_message, PQerrorMessage),
	DLIB_SYM(struct pq_api, finish, PQfinish),
	DLIB_SYM(struct pq_api, set_nonblocking, PQsetnonblocking),
	DLIB_SYM(struct pq_api, set_notice_processor, PQsetNoticeProcessor),
	DLIB_SYM(struct pq_api, send_query, PQsendQuery),
	DLIB_SYM(struct pq_api, flush, PQflush),
	DLIB_SYM(struct pq_api, consume_input, PQconsumeInput),
	DLIB_SYM(struct pq_api, is_busy, PQisBusy),
	DLIB_SYM(struct pq_api, get_result, PQgetResult),
	DLIB_SYM(struct pq_api, result_status, PQresultStatus),
	DLIB_SYM(struct pq_api, result_error_message, PQresultErrorMessage),
	DLIB_SYM(struct pq_api, result_error_field, PQresultErrorField),
	DLIB_SYM(struct pq_api, ntuples, PQntuples),
	DLIB_SYM(struct pq_api, nfields, PQnfields),
	DLIB_SYM(struct pq_api, getvalue, PQgetvalue),
	DLIB_SYM(struct pq_api, getlength, PQgetlength),
	DLIB_SYM(struct pq_api, getisnull, PQgetisnull),
	DLIB_SYM(struct pq_api, cmd_tuples, PQcmdTuples),
	DLIB_SYM(struct pq_api, clear, PQclear),
	DLIB_SYM(struct pq_api, conninfo_parse, PQconninfoParse),
	DLIB_SYM(struct pq_api, conninfo_free, PQconninfoFree),
	DLIB_SYM(struct pq_api, freemem, PQfreemem),
};
static struct dlib pq_lib = DLIB_INIT("libpq.so.5", "libpq5", pq_syms, &pq);

enum pg_state {
	PG_CLOSED,
	PG_RESOLVING,		/* the host's address */
	PG_CONNECTING,		/* PQconnectPoll */
	PG_SETUP,		/* the session's timeouts */
	PG_READY,
	PG_QUERY,		/* a job's statement */
};

struct luadir_pg {
	struct luadir_db base;
	sd_event *event;
	const struct luadir_dsn *dsn;	/* the router's, lives as long */
	struct luadir_resolver *resolver;
	int timeout_ms;
	enum pg_state state;
	PGconn *conn;
	int fd;
	sd_event_source *io;
	sd_event_source *starter;	/* moves a new job on from the loop */
	bool want_write;		/* PQflush said 1, or connecting */
	struct luadir_job *job;
	/* The statement under way: */
	struct luadir_stmt_end end;
	char errbuf[256];
};

static void pg_step(struct luadir_pg *p);

/* libpq's notices (a WARNING, say) are the log's, never stderr's. */
static void
on_notice(void *arg, const char *message)
{
	char shown[256];
	size_t len = strcspn(message, "\n");

	(void)arg;
	str_sanitize_r(message, len, shown, sizeof(shown));
	log_debug("lua-director: PostgreSQL: %s", shown);
}

static void
pg_close(struct luadir_pg *p)
{
	p->io = sd_event_source_disable_unref(p->io);
	if (p->conn != NULL) {
		/* Non-blocking: its goodbye is never waited for. */
		(void)pq.set_nonblocking(p->conn, 1);
		pq.finish(p->conn);
	}
	p->conn = NULL;
	p->fd = -1;
	p->state = PG_CLOSED;
	p->want_write = false;
}

static void
job_done(struct luadir_pg *p)
{
	struct luadir_job *job = p->job;

	p->job = NULL;
	/* A connection left in a transaction or broken goes now. */
	if (p->conn != NULL && (pq.status(p->conn) != CONNECTION_OK ||
	    pq.transaction_status(p->conn) != PQTRANS_IDLE))
		pg_close(p);
	if (p->state == PG_QUERY)
		p->state = PG_READY;
	p->base.done(job, p->base.done_arg);
}

/* The connection failed before or between statements: the job with it. */
static void
conn_failed(struct luadir_pg *p, int error, const char *what)
{
	char msg[256];
	const char *m = p->conn != NULL ? pq.error_message(p->conn) : "";

	snprintf(msg, sizeof(msg), "%s", m);
	msg[strcspn(msg, "\n")] = '\0';
	pg_close(p);
	if (p->job != NULL) {
		luadir_job_fail(p->job, error, true, "%s %s: %s", what,
		    p->dsn->target, msg[0] != '\0' ? msg : strerror(-error));
		job_done(p);
	}
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *arg);

/* Watch libpq's socket (it may change while connecting). */
static int
watch(struct luadir_pg *p)
{
	int fd = pq.socket(p->conn);
	uint32_t ev = EPOLLIN | (p->want_write ? EPOLLOUT : 0);

	if (fd < 0)
		return -EBADF;
	if (fd != p->fd) {
		p->io = sd_event_source_disable_unref(p->io);
		p->fd = fd;
	}
	if (p->io == NULL)
		return sd_event_add_io(p->event, &p->io, fd, ev, on_io, p);
	return sd_event_source_set_io_events(p->io, ev);
}

static int
sqlstate_errno(const char *state, bool *unreachable)
{
	*unreachable = false;
	if (state == NULL)
		return -EIO;
	if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0) {
		/* lock_timeout, statement_timeout: it stalled */
		*unreachable = true;
		return -ETIMEDOUT;
	}
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) {
		*unreachable = true;
		return -ECONNRESET;
	}
	if (strcmp(state, "25006") == 0)
		return -EROFS;
	if (strcmp(state, "42501") == 0)
		return -EACCES;
	if (strcmp(state, "42P01") == 0)
		return -ENOENT;
	if (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0)
		return -EDEADLK;
	return -EIO;
}

static void
take_result(struct luadir_pg *p, PGresult *res)
{
	const char *cells[MAX_COLS];
	size_t lens[MAX_COLS];
	int r, c, nr, nc;
	long long n;

	switch (pq.result_status(res)) {
	case PGRES_TUPLES_OK:
		nr = pq.ntuples(res);
		nc = pq.nfields(res);
		if (nc > MAX_COLS)
			nc = MAX_COLS;
		for (r = 0; r < nr && p->job != NULL; r++) {
			for (c = 0; c < nc; c++) {
				bool null = pq.getisnull(res, r, c);

				cells[c] = null ? NULL : pq.getvalue(res, r, c);
				lens[c] = null ? 0 :
				    (size_t)pq.getlength(res, r, c);
			}
			if (luadir_job_row(p->job, cells, lens, (size_t)nc) < 0)
				break;
		}
		break;
	case PGRES_COMMAND_OK:
		n = strtoll(pq.cmd_tuples(res), NULL, 10);
		p->end.affected = n;
		break;
	default:
		if (p->end.error != 0)
			break;
		p->end.error = sqlstate_errno(pq.result_error_field(res,
		    PG_DIAG_SQLSTATE), &p->end.unreachable);
		snprintf(p->errbuf, sizeof(p->errbuf), "%s",
		    pq.result_error_message(res));
		p->end.errmsg = p->errbuf;
		break;
	}
}

static void
send_sql(struct luadir_pg *p, const char *sql)
{
	int r;

	memset(&p->end, 0, sizeof(p->end));
	p->end.readonly = -1;
	if (!pq.send_query(p->conn, sql)) {
		conn_failed(p, -ECONNRESET, "lost");
		return;
	}
	if ((r = pq.flush(p->conn)) < 0) {
		conn_failed(p, -ECONNRESET, "lost");
		return;
	}
	p->want_write = r == 1;
	if (watch(p) < 0)
		conn_failed(p, -EIO, "watching the connection to");
}

/* The job's next statement, or its end. */
static void
next_stmt(struct luadir_pg *p, const struct luadir_stmt_end *end)
{
	const char *sql = luadir_job_next(p->job, end);

	if (sql == NULL) {
		job_done(p);
		return;
	}
	p->state = PG_QUERY;
	send_sql(p, sql);
}

/* Every result of the statement is in: what it means. */
static void
stmt_over(struct luadir_pg *p)
{
	if (p->state == PG_SETUP) {
		if (p->end.error != 0) {
			conn_failed(p, p->end.error, "setting up the session "
			    "with");
			return;
		}
		p->state = PG_READY;
		pg_step(p);
		return;
	}
	if (p->job != NULL)
		next_stmt(p, &p->end);
}

static void
read_results(struct luadir_pg *p)
{
	PGresult *res;

	if (!pq.consume_input(p->conn)) {
		conn_failed(p, -ECONNRESET, "lost");
		return;
	}
	while (p->conn != NULL && !pq.is_busy(p->conn)) {
		if ((res = pq.get_result(p->conn)) == NULL) {
			stmt_over(p);
			return;
		}
		take_result(p, res);
		pq.clear(res);
	}
}

static void
setup_session(struct luadir_pg *p)
{
	char sql[160];

	/* The server's own bounds: a lock or statement that waits past
	 * them ends there, even when poolmond has hung up. */
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d; "
	    "SET statement_timeout = %d", p->timeout_ms, p->timeout_ms);
	p->state = PG_SETUP;
	send_sql(p, sql);
}

static void
poll_connect(struct luadir_pg *p)
{
	switch (pq.connect_poll(p->conn)) {
	case PGRES_POLLING_READING:
		p->want_write = false;
		break;
	case PGRES_POLLING_WRITING:
		p->want_write = true;
		break;
	case PGRES_POLLING_OK:
		p->want_write = false;
		if (pq.set_nonblocking(p->conn, 1) < 0) {
			conn_failed(p, -EIO, "cannot use");
			return;
		}
		setup_session(p);
		return;
	case PGRES_POLLING_FAILED:
	default:
		conn_failed(p, -ECONNREFUSED, "cannot connect to");
		return;
	}
	if (watch(p) < 0)
		conn_failed(p, -EIO, "watching the connection to");
}

static int
on_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct luadir_pg *p = arg;
	int r;

	(void)s;
	(void)fd;
	if (p->state == PG_CONNECTING) {
		poll_connect(p);
		return 0;
	}
	if (p->conn == NULL)
		return 0;
	if (p->want_write && (revents & EPOLLOUT)) {
		if ((r = pq.flush(p->conn)) < 0) {
			conn_failed(p, -ECONNRESET, "lost");
			return 0;
		}
		p->want_write = r == 1;
		(void)watch(p);
	}
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (p->state == PG_SETUP || p->state == PG_QUERY)
			read_results(p);
		else if (!pq.consume_input(p->conn))
			pg_close(p);	/* gone while idle: reopened later */
	}
	return 0;
}

static void
start_connect(struct luadir_pg *p, const char *addr)
{
	const char *keys[4] = { "dbname", "fallback_application_name",
	    NULL, NULL };
	const char *values[4] = { p->dsn->target, "poolmond", NULL, NULL };

	if (addr != NULL) {
		keys[2] = "hostaddr";
		values[2] = addr;
	}
	p->conn = pq.connect_start_params(keys, values, 1);
	if (p->conn == NULL) {
		conn_failed(p, -ENOMEM, "out of memory for");
		return;
	}
	pq.set_notice_processor(p->conn, on_notice, p);
	if (pq.status(p->conn) == CONNECTION_BAD) {
		conn_failed(p, -ECONNREFUSED, "cannot connect to");
		return;
	}
	p->state = PG_CONNECTING;
	p->want_write = true;
	if (watch(p) < 0)
		conn_failed(p, -EIO, "watching the connection to");
}

/* Move on: connect when needed, else the job's first statement. */
static void
pg_step(struct luadir_pg *p)
{
	char addr[INET6_ADDRSTRLEN], err[128];
	int r;

	if (p->job == NULL)
		return;
	switch (p->state) {
	case PG_CLOSED:
	case PG_RESOLVING:
		if (!p->dsn->needs_lookup) {
			start_connect(p, NULL);
			return;
		}
		r = luadir_resolve(p->resolver, p->dsn->host, addr, err,
		    sizeof(err));
		if (r == 0) {
			p->state = PG_RESOLVING;
			return;
		}
		if (r < 0) {
			p->state = PG_CLOSED;
			luadir_job_fail(p->job, r, true, "cannot resolve %s: "
			    "%s", p->dsn->host, err);
			job_done(p);
			return;
		}
		start_connect(p, addr);
		return;
	case PG_READY:
		next_stmt(p, NULL);
		return;
	case PG_CONNECTING:
	case PG_SETUP:
	case PG_QUERY:
		return;
	}
}

static void
on_resolved(void *arg)
{
	struct luadir_pg *p = arg;

	if (p->state == PG_RESOLVING)
		pg_step(p);
}

static int
on_start(sd_event_source *s, void *arg)
{
	(void)s;
	pg_step(arg);
	return 0;
}

static int
pg_run(struct luadir_db *db, struct luadir_job *job, int64_t deadline,
    char *err, size_t errlen)
{
	struct luadir_pg *p = (struct luadir_pg *)db;

	(void)deadline;
	if (p->job != NULL)
		return err_set(err, errlen, -EBUSY, "a job is running");
	p->job = job;
	/* From the loop: done() never comes from inside run(). */
	if (sd_event_source_set_enabled(p->starter, SD_EVENT_ONESHOT) < 0) {
		p->job = NULL;
		return err_set(err, errlen, -EIO, "cannot schedule the job");
	}
	return 0;
}

static void
pg_abandon(struct luadir_db *db)
{
	struct luadir_pg *p = (struct luadir_pg *)db;

	luadir_job_free(p->job);
	p->job = NULL;
	/* A reply may still come, or a lock be held: a fresh connection
	 * for the next job. */
	pg_close(p);
}

static void
pg_free(struct luadir_db *db)
{
	struct luadir_pg *p = (struct luadir_pg *)db;

	if (p == NULL)
		return;
	luadir_job_free(p->job);
	p->job = NULL;
	pg_close(p);
	if (p->resolver != NULL)
		luadir_resolver_unwatch(p->resolver, on_resolved, p);
	sd_event_source_disable_unref(p->starter);
	free(p);
}

static const struct luadir_db_ops pg_ops = {
	.run = pg_run,
	.abandon = pg_abandon,
	.free = pg_free,
};

/* libpq's own check of the URI (its options' names and values). */
static int
check_uri(const char *uri, char *err, size_t errlen)
{
	PQconninfoOption *opts, *o;
	char *msg = NULL;
	int r = 0;

	if ((opts = pq.conninfo_parse(uri, &msg)) == NULL) {
		char shown[200];

		if (msg == NULL)
			return err_set(err, errlen, -ENOMEM, "out of memory");
		str_sanitize_r(msg, strcspn(msg, "\n"), shown, sizeof(shown));
		pq.freemem(msg);
		return err_set(err, errlen, -EINVAL, "--lua-director: libpq: "
		    "%s", shown);
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL &&
		    o->val[0] != '\0')
			r = err_set(err, errlen, -EINVAL, "--lua-director: the "
			    "DSN holds a password");
	pq.conninfo_free(opts);
	return r;
}

int
luadir_pg_new(sd_event *event, const struct luadir_dsn *dsn,
    struct luadir_resolver *resolver, int timeout_ms, luadir_db_done_fn *done,
    void *arg, struct luadir_db **out, char *err, size_t errlen)
{
	struct luadir_pg *p;
	int r;

	*out = NULL;
	if ((r = dlib_load(&pq_lib, "--lua-director (PostgreSQL)", err,
	    errlen)) < 0)
		return r;
	if ((r = check_uri(dsn->target, err, errlen)) < 0)
		return r;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	p->base.ops = &pg_ops;
	p->base.done = done;
	p->base.done_arg = arg;
	p->event = event;
	p->dsn = dsn;
	p->timeout_ms = timeout_ms;
	p->fd = -1;
	if ((r = sd_event_add_defer(event, &p->starter, on_start, p)) < 0 ||
	    (r = sd_event_source_set_enabled(p->starter, SD_EVENT_OFF)) < 0) {
		pg_free(&p->base);
		return err_set(err, errlen, r, "sd_event_add_defer: %s",
		    strerror(-r));
	}
	if (dsn->needs_lookup) {
		p->resolver = resolver;
		if ((r = luadir_resolver_watch(resolver, on_resolved, p)) < 0) {
			p->resolver = NULL;
			pg_free(&p->base);
			return err_set(err, errlen, r, "resolver: %s",
			    strerror(-r));
		}
	}
	*out = &p->base;
	return 0;
}
