/*
 * The Lua director's MariaDB database through the client library's
 * non-blocking API on the event loop (MYSQL_OPT_NONBLOCK): each call is a
 * _start, then _cont each time what it waits for (its socket readable or
 * writable, or its own timeout) happens. A host name is resolved first by
 * poolmond (luadir_resolve.h), as the library would resolve it blocking;
 * "localhost" is the server's socket, as the library has it. The password
 * (and the user, when the DSN names none) comes from an option file: the
 * DSN's ?option_file=PATH, else the default files (/etc/mysql/my.cnf,
 * ~/.my.cnf ...), their [client], [client-server], [client-mariadb] and
 * [poolmond] groups. Each connection bounds what the server waits for
 * (lock_wait_timeout, innodb_lock_wait_timeout, max_statement_time), so
 * that a session poolmond gave up on never keeps its locks for long.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "dlib.h"
#include "luadir_conn.h"
#include "util.h"

#define MAX_COLS	8

struct my_api {
	__typeof__(mysql_init) *init;
	__typeof__(mysql_options) *options;
	__typeof__(mysql_real_connect_start) *connect_start;
	__typeof__(mysql_real_connect_cont) *connect_cont;
	__typeof__(mysql_real_query_start) *query_start;
	__typeof__(mysql_real_query_cont) *query_cont;
	__typeof__(mysql_store_result_start) *store_start;
	__typeof__(mysql_store_result_cont) *store_cont;
	__typeof__(mysql_fetch_row) *fetch_row;
	__typeof__(mysql_fetch_lengths) *fetch_lengths;
	__typeof__(mysql_num_fields) *num_fields;
	__typeof__(mysql_field_count) *field_count;
	__typeof__(mysql_affected_rows) *affected_rows;
	__typeof__(mysql_free_result) *free_result;
	__typeof__(mysql_error) *error;
	__typeof__(mysql_errno) *errnum;
	__typeof__(mysql_get_socket) *get_socket;
	__typeof__(mysql_get_timeout_value_ms) *timeout_value_ms;
	__typeof__(mysql_close) *close;
};

static struct my_api my;
static const struct dlib_sym my_syms[] = {
	DLIB_SYM(struct my_api, init, mysql_init),
	DLIB_SYM(struct my_api, options, mysql_options),
	DLIB_SYM(struct my_api, connect_start, mysql_real_connect_start),
	DLIB_SYM(struct my_api, connect_cont, mysql_real_connect_cont),
	DLIB_SYM(struct my_api, query_start, mysql_real_query_start),
	DLIB_SYM(struct my_api, query_cont, mysql_real_query_cont),
	DLIB_SYM(struct my_api, store_start, mysql_store_result_start),
	DLIB_SYM(struct my_api, store_cont, mysql_store_result_cont),
	DLIB_SYM(struct my_api, fetch_row, mysql_fetch_row),
	DLIB_SYM(struct my_api, fetch_lengths, mysql_fetch_lengths),
	DLIB_SYM(struct my_api, num_fields, mysql_num_fields),
	DLIB_SYM(struct my_api, field_count, mysql_field_count),
	DLIB_SYM(struct my_api, affected_rows, mysql_affected_rows),
	DLIB_SYM(struct my_api, free_result, mysql_free_result),
	DLIB_SYM(struct my_api, error, mysql_error),
	DLIB_SYM(struct my_api, errnum, mysql_errno),
	DLIB_SYM(struct my_api, get_socket, mysql_get_socket),
	DLIB_SYM(struct my_api, timeout_value_ms, mysql_get_timeout_value_ms),
	DLIB_SYM(struct my_api, close, mysql_close),
};
static struct dlib my_lib = DLIB_INIT("libmariadb.so.3", "libmariadb3",
    my_syms, &my);

/* The library call under way, continued with its _cont. */
enum my_op {
	OP_NONE,
	OP_CONNECT,
	OP_QUERY,
	OP_STORE,
};

struct luadir_mariadb {
	struct luadir_conn base;	/* first */
	enum my_op op;
	MYSQL *m;
	sd_event_source *timer;		/* the library's own timeout */
};

static void op_wait(struct luadir_mariadb *p, int status);
static void setup_session(struct luadir_mariadb *p);

static void
my_close(struct luadir_conn *c)
{
	struct luadir_mariadb *p = (struct luadir_mariadb *)c;

	c->io = sd_event_source_disable_unref(c->io);
	(void)sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
	if (p->m != NULL) {
		int fd = (int)my.get_socket(p->m);

		/* mysql_close() says goodbye on the socket: shut, so that
		 * it cannot wait. */
		if (fd >= 0)
			(void)shutdown(fd, SHUT_RDWR);
		my.close(p->m);
	}
	p->m = NULL;
	c->fd = -1;
	c->state = LUADIR_CONN_CLOSED;
	p->op = OP_NONE;
}

/* After an error, a fresh connection for the next job. */
static bool
my_spent(struct luadir_conn *c, const struct luadir_job *job)
{
	(void)c;
	return job->error != 0;
}

static int
my_errno(unsigned int e, bool *unreachable)
{
	*unreachable = false;
	switch (e) {
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_UNKNOWN_HOST:
		*unreachable = true;
		return -ECONNREFUSED;
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
		*unreachable = true;
		return -ECONNRESET;
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_STATEMENT_TIMEOUT:
		*unreachable = true;
		return -ETIMEDOUT;
	case ER_OPTION_PREVENTS_STATEMENT:
		return -EROFS;
	case ER_ACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
	case ER_COLUMNACCESS_DENIED_ERROR:
		return -EACCES;
	case ER_NO_SUCH_TABLE:
		return -ENOENT;
	case ER_LOCK_DEADLOCK:
		return -EDEADLK;
	}
	return -EIO;
}

/* The connection failed: the job with it. */
static void
conn_failed(struct luadir_mariadb *p, const char *what)
{
	unsigned int e = p->m != NULL ? my.errnum(p->m) : 0;
	char msg[200];
	bool unreachable;
	int error;

	snprintf(msg, sizeof(msg), "%s", p->m != NULL ? my.error(p->m) : "");
	error = e != 0 ? my_errno(e, &unreachable) : -EIO;
	luadir_conn_fail(&p->base, error, what, msg);
}

/* ------------------------------------------------------------------ */
/* Statements */

static void
take_rows(struct luadir_mariadb *p, MYSQL_RES *res)
{
	const char *cells[MAX_COLS];
	size_t lens[MAX_COLS];
	unsigned long *l;
	unsigned int i, nc = my.num_fields(res);
	MYSQL_ROW row;

	if (nc > MAX_COLS)
		nc = MAX_COLS;
	/* Stored: every row is in memory, fetching never waits. */
	while (p->base.job != NULL && (row = my.fetch_row(res)) != NULL) {
		l = my.fetch_lengths(res);
		for (i = 0; i < nc; i++) {
			cells[i] = row[i];
			lens[i] = row[i] != NULL && l != NULL ? l[i] : 0;
		}
		if (luadir_job_row(p->base.job, cells, lens, nc) < 0)
			break;
	}
}

static void
stmt_error(struct luadir_mariadb *p)
{
	struct luadir_conn *c = &p->base;

	c->end.error = my_errno(my.errnum(p->m), &c->end.unreachable);
	snprintf(c->errbuf, sizeof(c->errbuf), "%s", my.error(p->m));
	c->end.errmsg = c->errbuf;
}

/* The statement is over, its end in p->base.end. */
static void
stmt_over(struct luadir_mariadb *p)
{
	p->op = OP_NONE;
	if (luadir_conn_stmt_over(&p->base) != 0)
		conn_failed(p, "setting up the session with");
}

/* Its result set read (stored: in memory, fetched without waiting). */
static void
store_done(struct luadir_mariadb *p, MYSQL_RES *res)
{
	if (res != NULL) {
		take_rows(p, res);
		my.free_result(res);
	} else if (my.field_count(p->m) == 0)
		p->base.end.affected = (long long)my.affected_rows(p->m);
	else
		stmt_error(p);
	stmt_over(p);
}

static void
query_done(struct luadir_mariadb *p, int err)
{
	MYSQL_RES *res = NULL;
	int status;

	if (err != 0) {
		stmt_error(p);
		stmt_over(p);
		return;
	}
	p->op = OP_STORE;
	if ((status = my.store_start(&res, p->m)) != 0) {
		op_wait(p, status);
		return;
	}
	store_done(p, res);
}

static void
my_send(struct luadir_conn *c, const char *sql)
{
	struct luadir_mariadb *p = (struct luadir_mariadb *)c;
	int err = 0, status;

	p->op = OP_QUERY;
	if ((status = my.query_start(&err, p->m, sql, strlen(sql))) != 0) {
		op_wait(p, status);
		return;
	}
	query_done(p, err);
}

/* ------------------------------------------------------------------ */
/* Waiting for the library */

/* What the library waits for, watched. */
static void
op_wait(struct luadir_mariadb *p, int status)
{
	uint32_t ev = 0;
	int r;

	if (status & MYSQL_WAIT_READ)
		ev |= EPOLLIN;
	if (status & MYSQL_WAIT_WRITE)
		ev |= EPOLLOUT;
	if (status & MYSQL_WAIT_EXCEPT)
		ev |= EPOLLPRI;
	r = luadir_conn_watch(&p->base, (int)my.get_socket(p->m), ev);
	if (r >= 0 && (status & MYSQL_WAIT_TIMEOUT)) {
		r = sd_event_source_set_time_relative(p->timer,
		    (uint64_t)my.timeout_value_ms(p->m) * 1000);
		if (r >= 0)
			r = sd_event_source_set_enabled(p->timer,
			    SD_EVENT_ONESHOT);
	} else
		(void)sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
	if (r < 0)
		conn_failed(p, "watching the connection to");
}

static void
op_continue(struct luadir_mariadb *p, int happened)
{
	MYSQL *ret = NULL;
	MYSQL_RES *res = NULL;
	int status = 0, err = 0;

	switch (p->op) {
	case OP_CONNECT:
		if ((status = my.connect_cont(&ret, p->m, happened)) != 0)
			break;
		p->op = OP_NONE;
		if (ret == NULL) {
			conn_failed(p, "cannot connect to");
			return;
		}
		setup_session(p);
		return;
	case OP_QUERY:
		if ((status = my.query_cont(&err, p->m, happened)) != 0)
			break;
		query_done(p, err);
		return;
	case OP_STORE:
		if ((status = my.store_cont(&res, p->m, happened)) != 0)
			break;
		store_done(p, res);
		return;
	case OP_NONE:
		return;
	}
	op_wait(p, status);
}

static int
on_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct luadir_mariadb *p = arg;
	int happened = 0;

	(void)s;
	(void)fd;
	if (p->op == OP_NONE) {
		/* Idle and the server spoke (or hung up): reopened later. */
		my_close(&p->base);
		return 0;
	}
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
		happened |= MYSQL_WAIT_READ;
	if (revents & (EPOLLOUT | EPOLLERR))
		happened |= MYSQL_WAIT_WRITE;
	if (revents & EPOLLPRI)
		happened |= MYSQL_WAIT_EXCEPT;
	op_continue(p, happened);
	return 0;
}

static int
on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	(void)s;
	(void)usec;
	op_continue(arg, MYSQL_WAIT_TIMEOUT);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Connecting */

static void
set_options(struct luadir_mariadb *p)
{
	unsigned int secs = (unsigned int)(p->base.timeout_ms + 999) / 1000;

	my.options(p->m, MYSQL_OPT_NONBLOCK, 0);
	my.options(p->m, MYSQL_READ_DEFAULT_GROUP, "poolmond");
	if (p->base.dsn->option_file[0] != '\0')
		my.options(p->m, MYSQL_READ_DEFAULT_FILE,
		    p->base.dsn->option_file);
	my.options(p->m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	my.options(p->m, MYSQL_OPT_READ_TIMEOUT, &secs);
	my.options(p->m, MYSQL_OPT_WRITE_TIMEOUT, &secs);
}

/* To addr, else the DSN's host ("localhost": the server's socket). */
static void
my_connect(struct luadir_conn *c, const char *addr)
{
	struct luadir_mariadb *p = (struct luadir_mariadb *)c;
	const char *host = addr != NULL ? addr : c->dsn->host;
	MYSQL *ret = NULL;
	int status;

	if ((p->m = my.init(NULL)) == NULL) {
		luadir_job_fail(c->job, -ENOMEM, false, "mysql_init: out of "
		    "memory");
		luadir_conn_job_done(c);
		return;
	}
	set_options(p);
	c->state = LUADIR_CONN_CONNECTING;
	p->op = OP_CONNECT;
	/* The password (and a user the DSN lacks) from the option file. */
	status = my.connect_start(&ret, p->m, host, c->dsn->user[0] != '\0' ?
	    c->dsn->user : NULL, NULL, c->dsn->dbname, c->dsn->port, NULL, 0);
	if (status != 0) {
		op_wait(p, status);
		return;
	}
	p->op = OP_NONE;
	if (ret == NULL) {
		conn_failed(p, "cannot connect to");
		return;
	}
	setup_session(p);
}

/* The server's own bounds, set once per connection. */
static void
setup_session(struct luadir_mariadb *p)
{
	unsigned int secs = (unsigned int)(p->base.timeout_ms + 999) / 1000;
	char sql[200];

	snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %u, "
	    "SESSION innodb_lock_wait_timeout = %u, "
	    "SESSION max_statement_time = %u", secs, secs, secs);
	luadir_conn_send(&p->base, LUADIR_CONN_SETUP, sql);
}

static void
my_free(struct luadir_db *db)
{
	struct luadir_mariadb *p = (struct luadir_mariadb *)db;

	if (p == NULL)
		return;
	luadir_conn_release(&p->base);
	sd_event_source_disable_unref(p->timer);
	free(p);
}

static const struct luadir_db_ops my_db_ops = {
	.run = luadir_conn_run,
	.abandon = luadir_conn_abandon,
	.free = my_free,
};

static const struct luadir_conn_ops my_conn_ops = {
	.connect = my_connect,
	.send = my_send,
	.close = my_close,
	.spent = my_spent,
	.on_io = on_io,
};

int
luadir_mariadb_new(sd_event *event, const struct luadir_dsn *dsn,
    struct luadir_resolver *resolver, int timeout_ms, luadir_db_done_fn *done,
    void *arg, struct luadir_db **out, char *err, size_t errlen)
{
	struct luadir_mariadb *p;
	int r;

	*out = NULL;
	if ((r = dlib_load(&my_lib, "--lua-director (MariaDB)", err,
	    errlen)) < 0)
		return r;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	if ((r = luadir_conn_init(&p->base, &my_db_ops, &my_conn_ops, event,
	    dsn, resolver, timeout_ms, done, arg, err, errlen)) < 0) {
		my_free(&p->base.db);
		return r;
	}
	if ((r = sd_event_add_time(event, &p->timer, CLOCK_MONOTONIC,
	    UINT64_MAX, 1000, on_timer, p)) < 0 ||
	    (r = sd_event_source_set_enabled(p->timer, SD_EVENT_OFF)) < 0) {
		my_free(&p->base.db);
		return err_set(err, errlen, r, "sd-event: %s", strerror(-r));
	}
	*out = &p->base.db;
	return 0;
}
