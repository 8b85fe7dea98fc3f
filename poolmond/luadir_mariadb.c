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
#include "luadir_db.h"
#include "luadir_resolve.h"
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

enum my_state {
	MY_CLOSED,
	MY_RESOLVING,
	MY_CONNECTING,
	MY_SETUP,		/* the session's timeouts */
	MY_READY,
	MY_QUERY,		/* a job's statement */
};

/* The library call under way, continued with its _cont. */
enum my_op {
	OP_NONE,
	OP_CONNECT,
	OP_QUERY,
	OP_STORE,
};

struct luadir_mariadb {
	struct luadir_db base;
	sd_event *event;
	const struct luadir_dsn *dsn;	/* the router's, lives as long */
	struct luadir_resolver *resolver;
	int timeout_ms;
	enum my_state state;
	enum my_op op;
	MYSQL *m;
	int fd;
	sd_event_source *io;
	sd_event_source *timer;		/* the library's own timeout */
	sd_event_source *starter;
	struct luadir_job *job;
	struct luadir_stmt_end end;
	char errbuf[256];
};

static void my_step(struct luadir_mariadb *p);
static void op_wait(struct luadir_mariadb *p, int status);
static void setup_session(struct luadir_mariadb *p);

static void
my_close(struct luadir_mariadb *p)
{
	p->io = sd_event_source_disable_unref(p->io);
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
	p->fd = -1;
	p->state = MY_CLOSED;
	p->op = OP_NONE;
}

static void
job_done(struct luadir_mariadb *p)
{
	struct luadir_job *job = p->job;

	p->job = NULL;
	/* After an error, a fresh connection for the next job. */
	if (job->error != 0)
		my_close(p);
	if (p->state == MY_QUERY)
		p->state = MY_READY;
	p->base.done(job, p->base.done_arg);
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
	my_close(p);
	if (p->job != NULL) {
		luadir_job_fail(p->job, error, true, "%s %s: %s", what,
		    p->dsn->target, msg[0] != '\0' ? msg : strerror(-error));
		job_done(p);
	}
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *arg);

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
	while (p->job != NULL && (row = my.fetch_row(res)) != NULL) {
		l = my.fetch_lengths(res);
		for (i = 0; i < nc; i++) {
			cells[i] = row[i];
			lens[i] = row[i] != NULL && l != NULL ? l[i] : 0;
		}
		if (luadir_job_row(p->job, cells, lens, nc) < 0)
			break;
	}
}

static void
stmt_error(struct luadir_mariadb *p)
{
	p->end.error = my_errno(my.errnum(p->m), &p->end.unreachable);
	snprintf(p->errbuf, sizeof(p->errbuf), "%s", my.error(p->m));
	p->end.errmsg = p->errbuf;
}

static void next_stmt(struct luadir_mariadb *p,
    const struct luadir_stmt_end *end);

/* The statement is over, its end in p->end. */
static void
stmt_over(struct luadir_mariadb *p)
{
	p->op = OP_NONE;
	if (p->state == MY_SETUP) {
		if (p->end.error != 0) {
			conn_failed(p, "setting up the session with");
			return;
		}
		p->state = MY_READY;
		my_step(p);
		return;
	}
	if (p->job != NULL)
		next_stmt(p, &p->end);
}

/* Its result set read (stored: in memory, fetched without waiting). */
static void
store_done(struct luadir_mariadb *p, MYSQL_RES *res)
{
	if (res != NULL) {
		take_rows(p, res);
		my.free_result(res);
	} else if (my.field_count(p->m) == 0)
		p->end.affected = (long long)my.affected_rows(p->m);
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
send_query(struct luadir_mariadb *p, const char *sql)
{
	int err = 0, status;

	memset(&p->end, 0, sizeof(p->end));
	p->end.readonly = -1;
	p->op = OP_QUERY;
	if ((status = my.query_start(&err, p->m, sql, strlen(sql))) != 0) {
		op_wait(p, status);
		return;
	}
	query_done(p, err);
}

static void
next_stmt(struct luadir_mariadb *p, const struct luadir_stmt_end *end)
{
	const char *sql = luadir_job_next(p->job, end);

	if (sql == NULL) {
		job_done(p);
		return;
	}
	p->state = MY_QUERY;
	send_query(p, sql);
}

/* ------------------------------------------------------------------ */
/* Waiting for the library */

/* What the library waits for, watched. */
static void
op_wait(struct luadir_mariadb *p, int status)
{
	uint32_t ev = 0;
	int fd = (int)my.get_socket(p->m), r = 0;

	if (status & MYSQL_WAIT_READ)
		ev |= EPOLLIN;
	if (status & MYSQL_WAIT_WRITE)
		ev |= EPOLLOUT;
	if (status & MYSQL_WAIT_EXCEPT)
		ev |= EPOLLPRI;
	if (fd != p->fd) {
		p->io = sd_event_source_disable_unref(p->io);
		p->fd = fd;
	}
	if (fd >= 0 && p->io == NULL)
		r = sd_event_add_io(p->event, &p->io, fd, ev, on_io, p);
	else if (p->io != NULL)
		r = sd_event_source_set_io_events(p->io, ev);
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
		my_close(p);
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
	unsigned int secs = (unsigned int)(p->timeout_ms + 999) / 1000;

	my.options(p->m, MYSQL_OPT_NONBLOCK, 0);
	my.options(p->m, MYSQL_READ_DEFAULT_GROUP, "poolmond");
	if (p->dsn->option_file[0] != '\0')
		my.options(p->m, MYSQL_READ_DEFAULT_FILE, p->dsn->option_file);
	my.options(p->m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	my.options(p->m, MYSQL_OPT_READ_TIMEOUT, &secs);
	my.options(p->m, MYSQL_OPT_WRITE_TIMEOUT, &secs);
}

static void
start_connect(struct luadir_mariadb *p, const char *host)
{
	MYSQL *ret = NULL;
	int status;

	if ((p->m = my.init(NULL)) == NULL) {
		luadir_job_fail(p->job, -ENOMEM, false, "mysql_init: out of "
		    "memory");
		job_done(p);
		return;
	}
	set_options(p);
	p->state = MY_CONNECTING;
	p->op = OP_CONNECT;
	/* The password (and a user the DSN lacks) from the option file. */
	status = my.connect_start(&ret, p->m, host, p->dsn->user[0] != '\0' ?
	    p->dsn->user : NULL, NULL, p->dsn->dbname, p->dsn->port, NULL, 0);
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
	unsigned int secs = (unsigned int)(p->timeout_ms + 999) / 1000;
	char sql[200];

	snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %u, "
	    "SESSION innodb_lock_wait_timeout = %u, "
	    "SESSION max_statement_time = %u", secs, secs, secs);
	p->state = MY_SETUP;
	send_query(p, sql);
}

static void
my_step(struct luadir_mariadb *p)
{
	char addr[INET6_ADDRSTRLEN], err[128];
	const char *host = p->dsn->host;
	int r;

	if (p->job == NULL)
		return;
	switch (p->state) {
	case MY_CLOSED:
	case MY_RESOLVING:
		if (p->dsn->needs_lookup) {
			r = luadir_resolve(p->resolver, host, addr, err,
			    sizeof(err));
			if (r == 0) {
				p->state = MY_RESOLVING;
				return;
			}
			if (r < 0) {
				p->state = MY_CLOSED;
				luadir_job_fail(p->job, r, true, "cannot "
				    "resolve %s: %s", host, err);
				job_done(p);
				return;
			}
			host = addr;
		}
		start_connect(p, host);
		return;
	case MY_READY:
		next_stmt(p, NULL);
		return;
	case MY_CONNECTING:
	case MY_SETUP:
	case MY_QUERY:
		return;
	}
}

static void
on_resolved(void *arg)
{
	struct luadir_mariadb *p = arg;

	if (p->state == MY_RESOLVING)
		my_step(p);
}

static int
on_start(sd_event_source *s, void *arg)
{
	(void)s;
	my_step(arg);
	return 0;
}

static int
my_run(struct luadir_db *db, struct luadir_job *job, int64_t deadline,
    char *err, size_t errlen)
{
	struct luadir_mariadb *p = (struct luadir_mariadb *)db;

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
my_abandon(struct luadir_db *db)
{
	struct luadir_mariadb *p = (struct luadir_mariadb *)db;

	luadir_job_free(p->job);
	p->job = NULL;
	/* A reply may still come, or a lock be held: a fresh connection
	 * for the next job. */
	my_close(p);
}

static void
my_free(struct luadir_db *db)
{
	struct luadir_mariadb *p = (struct luadir_mariadb *)db;

	if (p == NULL)
		return;
	luadir_job_free(p->job);
	p->job = NULL;
	my_close(p);
	if (p->resolver != NULL)
		luadir_resolver_unwatch(p->resolver, on_resolved, p);
	sd_event_source_disable_unref(p->timer);
	sd_event_source_disable_unref(p->starter);
	free(p);
}

static const struct luadir_db_ops my_ops = {
	.run = my_run,
	.abandon = my_abandon,
	.free = my_free,
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
	p->base.ops = &my_ops;
	p->base.done = done;
	p->base.done_arg = arg;
	p->event = event;
	p->dsn = dsn;
	p->timeout_ms = timeout_ms;
	p->fd = -1;
	if ((r = sd_event_add_defer(event, &p->starter, on_start, p)) < 0 ||
	    (r = sd_event_source_set_enabled(p->starter, SD_EVENT_OFF)) < 0 ||
	    (r = sd_event_add_time(event, &p->timer, CLOCK_MONOTONIC,
	    UINT64_MAX, 1000, on_timer, p)) < 0 ||
	    (r = sd_event_source_set_enabled(p->timer, SD_EVENT_OFF)) < 0) {
		my_free(&p->base);
		return err_set(err, errlen, r, "sd-event: %s", strerror(-r));
	}
	if (dsn->needs_lookup) {
		p->resolver = resolver;
		if ((r = luadir_resolver_watch(resolver, on_resolved, p)) < 0) {
			p->resolver = NULL;
			my_free(&p->base);
			return err_set(err, errlen, r, "resolver: %s",
			    strerror(-r));
		}
	}
	*out = &p->base;
	return 0;
}
