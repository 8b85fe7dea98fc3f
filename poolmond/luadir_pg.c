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
#include "luadir_conn.h"
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

struct luadir_pg {
	struct luadir_conn base;	/* first */
	PGconn *conn;
	bool want_write;		/* PQflush said 1, or connecting */
};

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
pg_close(struct luadir_conn *c)
{
	struct luadir_pg *p = (struct luadir_pg *)c;

	c->io = sd_event_source_disable_unref(c->io);
	if (p->conn != NULL) {
		/* Non-blocking: its goodbye is never waited for. */
		(void)pq.set_nonblocking(p->conn, 1);
		pq.finish(p->conn);
	}
	p->conn = NULL;
	c->fd = -1;
	c->state = LUADIR_CONN_CLOSED;
	p->want_write = false;
}

/* A connection left in a transaction or broken goes after the job. */
static bool
pg_spent(struct luadir_conn *c, const struct luadir_job *job)
{
	struct luadir_pg *p = (struct luadir_pg *)c;

	(void)job;
	return p->conn != NULL && (pq.status(p->conn) != CONNECTION_OK ||
	    pq.transaction_status(p->conn) != PQTRANS_IDLE);
}

/* The connection failed before or between statements: the job with it. */
static void
conn_failed(struct luadir_pg *p, int error, const char *what)
{
	char msg[256];
	const char *m = p->conn != NULL ? pq.error_message(p->conn) : "";

	snprintf(msg, sizeof(msg), "%s", m);
	msg[strcspn(msg, "\n")] = '\0';
	luadir_conn_fail(&p->base, error, what, msg);
}

/* Watch libpq's socket (it may change while connecting). */
static int
watch(struct luadir_pg *p)
{
	int fd = pq.socket(p->conn);

	if (fd < 0)
		return -EBADF;
	return luadir_conn_watch(&p->base, fd,
	    EPOLLIN | (p->want_write ? EPOLLOUT : 0));
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
	struct luadir_stmt_end *end = &p->base.end;
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
		for (r = 0; r < nr && p->base.job != NULL; r++) {
			for (c = 0; c < nc; c++) {
				bool null = pq.getisnull(res, r, c);

				cells[c] = null ? NULL : pq.getvalue(res, r, c);
				lens[c] = null ? 0 :
				    (size_t)pq.getlength(res, r, c);
			}
			if (luadir_job_row(p->base.job, cells, lens,
			    (size_t)nc) < 0)
				break;
		}
		break;
	case PGRES_COMMAND_OK:
		n = strtoll(pq.cmd_tuples(res), NULL, 10);
		end->affected = n;
		break;
	default:
		if (end->error != 0)
			break;
		end->error = sqlstate_errno(pq.result_error_field(res,
		    PG_DIAG_SQLSTATE), &end->unreachable);
		snprintf(p->base.errbuf, sizeof(p->base.errbuf), "%s",
		    pq.result_error_message(res));
		end->errmsg = p->base.errbuf;
		break;
	}
}

static void
pg_send(struct luadir_conn *c, const char *sql)
{
	struct luadir_pg *p = (struct luadir_pg *)c;
	int r;

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

/* Every result of the statement is in: what it means. */
static void
stmt_over(struct luadir_pg *p)
{
	int error;

	if ((error = luadir_conn_stmt_over(&p->base)) != 0)
		conn_failed(p, error, "setting up the session with");
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
	    "SET statement_timeout = %d", p->base.timeout_ms,
	    p->base.timeout_ms);
	luadir_conn_send(&p->base, LUADIR_CONN_SETUP, sql);
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
	if (p->base.state == LUADIR_CONN_CONNECTING) {
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
		if (p->base.state == LUADIR_CONN_SETUP ||
		    p->base.state == LUADIR_CONN_QUERY)
			read_results(p);
		else if (!pq.consume_input(p->conn))	/* gone while idle */
			pg_close(&p->base);		/* reopened later */
	}
	return 0;
}

static void
pg_connect(struct luadir_conn *c, const char *addr)
{
	struct luadir_pg *p = (struct luadir_pg *)c;
	const char *keys[4] = { "dbname", "fallback_application_name",
	    NULL, NULL };
	const char *values[4] = { c->dsn->target, "poolmond", NULL, NULL };

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
	c->state = LUADIR_CONN_CONNECTING;
	p->want_write = true;
	if (watch(p) < 0)
		conn_failed(p, -EIO, "watching the connection to");
}

static void
pg_free(struct luadir_db *db)
{
	struct luadir_pg *p = (struct luadir_pg *)db;

	if (p == NULL)
		return;
	luadir_conn_release(&p->base);
	free(p);
}

static const struct luadir_db_ops pg_db_ops = {
	.run = luadir_conn_run,
	.abandon = luadir_conn_abandon,
	.free = pg_free,
};

static const struct luadir_conn_ops pg_conn_ops = {
	.connect = pg_connect,
	.send = pg_send,
	.close = pg_close,
	.spent = pg_spent,
	.on_io = on_io,
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
	if ((r = luadir_conn_init(&p->base, &pg_db_ops, &pg_conn_ops, event,
	    dsn, resolver, timeout_ms, done, arg, err, errlen)) < 0) {
		pg_free(&p->base.db);
		return r;
	}
	*out = &p->base.db;
	return 0;
}
