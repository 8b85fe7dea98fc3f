/*
 * The Lua director's driver without a database: DSNs (their parts, and
 * every refusal, a password's above all), rows of backends (bounds,
 * NULLs, garbage), backends grouped by address and their states, and
 * the statements of each request fed made-up results (the SQL each
 * dialect gets, compare-and-set, CONFLICT, NOTFOUND, errors and
 * ROLLBACK, the gate).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luadir.h"
#include "luadir_dsn.h"
#include "luadir_job.h"
#include "luadir_rows.h"
#include "util.h"
#include "unit.h"

/* ------------------------------------------------------------------ */
/* DSNs */

static void
test_dsn_sqlite(void)
{
	struct luadir_dsn d;
	char err[512];

	CHECK(luadir_dsn_parse("sqlite:/var/lib/poolmon/lua director.db", &d,
	    err, sizeof(err)) == 0);
	CHECK(d.kind == LUADIR_SQLITE);
	CHECK_STR(d.path, "/var/lib/poolmon/lua director.db");
	CHECK_STR(d.target, "sqlite:/var/lib/poolmon/lua director.db");
	CHECK(luadir_dsn_check("sqlite:relative.db", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(strstr(err, "--lua-director") != NULL);
	CHECK(strstr(err, "absolute") != NULL);
	CHECK(luadir_dsn_check("sqlite:", err, sizeof(err)) == -EINVAL);
	CHECK(luadir_dsn_check("sqlite:/a\nb", err, sizeof(err)) == -EINVAL);
	CHECK(luadir_dsn_check("", err, sizeof(err)) == -EINVAL);
	CHECK(luadir_dsn_check(NULL, err, sizeof(err)) == -EINVAL);
	CHECK(luadir_dsn_check("mysqlx://h/db", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "--lua-director") != NULL);
}

static void
test_dsn_postgresql(void)
{
	struct luadir_dsn d;
	char err[512];

	CHECK(luadir_dsn_parse("postgresql://poolmon@db.example.org:5433/"
	    "pool?passfile=/etc/poolmon/pgpass&sslmode=require", &d, err,
	    sizeof(err)) == 0);
	CHECK(d.kind == LUADIR_POSTGRESQL);
	CHECK_STR(d.host, "db.example.org");
	CHECK(d.port == 5433 && d.needs_lookup);
	CHECK(luadir_dsn_parse("postgres://192.0.2.7/pool", &d, err,
	    sizeof(err)) == 0);
	CHECK(!d.needs_lookup && d.port == 0);
	CHECK(luadir_dsn_parse("postgresql://[2001:db8::1]:5432/pool", &d, err,
	    sizeof(err)) == 0);
	CHECK_STR(d.host, "2001:db8::1");
	CHECK(!d.needs_lookup && d.port == 5432);
	/* A socket directory: nothing to look up. */
	CHECK(luadir_dsn_parse("postgresql://%2Frun%2Fpostgresql/pool", &d,
	    err, sizeof(err)) == 0);
	CHECK_STR(d.host, "/run/postgresql");
	CHECK(!d.needs_lookup);
	CHECK(luadir_dsn_parse("postgresql:///pool?host=/run/postgresql", &d,
	    err, sizeof(err)) == 0);
	CHECK(!d.needs_lookup);
	/* hostaddr= given: libpq needs no lookup either. */
	CHECK(luadir_dsn_parse("postgresql://db.example.org/pool?hostaddr="
	    "192.0.2.7", &d, err, sizeof(err)) == 0);
	CHECK(!d.needs_lookup);

	CHECK(luadir_dsn_check("postgresql://db.example.org", err,
	    sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "database name") != NULL);
	CHECK(luadir_dsn_check("postgresql://h:0/db", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(luadir_dsn_check("postgresql://h:65536/db", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(luadir_dsn_check("postgresql://h1,h2/db", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(luadir_dsn_check("postgresql://[nothex]/db", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(luadir_dsn_check("postgresql://h/db?novalue", err,
	    sizeof(err)) == -EINVAL);
	CHECK(luadir_dsn_check("postgresql://h/d b", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(luadir_dsn_check("postgresql://h/db?x=%zz", err, sizeof(err)) ==
	    -EINVAL);
}

/* A refused password: where it goes, and never the password itself. */
static void
check_password_refused(const char *dsn, const char *where)
{
	char err[512];

	CHECK(luadir_dsn_check(dsn, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "--lua-director") != NULL);
	CHECK(strstr(err, "password") != NULL);
	CHECK(strstr(err, where) != NULL);
	CHECK(strstr(err, "s3cret") == NULL);
}

static void
test_dsn_password(void)
{
	check_password_refused("postgresql://u:s3cret@h/db", "passfile");
	check_password_refused("postgresql://u:@h/db", "passfile");
	check_password_refused("postgres://u@h/db?password=s3cret",
	    "PGPASSFILE");
	check_password_refused("postgresql://u@h/db?sslmode=require&"
	    "%70assword=s3cret", ".pgpass");
	check_password_refused("postgresql://u@h/db?PASSWORD=s3cret",
	    "passfile");
	/* Before any other fault is looked at. */
	check_password_refused("postgresql://u:s3cret@h:99999", "passfile");
	check_password_refused("mariadb://u:s3cret@h/db", "option file");
	check_password_refused("mysql://u@h/db?password=s3cret",
	    "option_file");
}

static void
test_dsn_mariadb(void)
{
	struct luadir_dsn d;
	char err[512];

	CHECK(luadir_dsn_parse("mariadb://poolmon@db.example.org:3307/pool?"
	    "option_file=/etc/poolmon/my.cnf", &d, err, sizeof(err)) == 0);
	CHECK(d.kind == LUADIR_MARIADB);
	CHECK_STR(d.user, "poolmon");
	CHECK_STR(d.host, "db.example.org");
	CHECK_STR(d.dbname, "pool");
	CHECK_STR(d.option_file, "/etc/poolmon/my.cnf");
	CHECK(d.port == 3307 && d.needs_lookup);
	/* localhost: the server's socket, as the library has it. */
	CHECK(luadir_dsn_parse("mysql://localhost/pool", &d, err,
	    sizeof(err)) == 0);
	CHECK(!d.needs_lookup && d.user[0] == '\0' &&
	    d.option_file[0] == '\0');
	CHECK(luadir_dsn_parse("mariadb://u%40x@127.0.0.1/p%2Dq", &d, err,
	    sizeof(err)) == 0);
	CHECK_STR(d.user, "u@x");
	CHECK_STR(d.dbname, "p-q");

	CHECK(luadir_dsn_check("mariadb:///pool", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(strstr(err, "no host") != NULL);
	CHECK(luadir_dsn_check("mariadb://h", err, sizeof(err)) == -EINVAL);
	CHECK(luadir_dsn_check("mariadb://h/", err, sizeof(err)) == -EINVAL);
	CHECK(luadir_dsn_check("mariadb://h/a/b", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(luadir_dsn_check("mariadb://h/db?ssl=1", err, sizeof(err)) ==
	    -EINVAL);
	CHECK(strstr(err, "unknown option") != NULL);
	CHECK(luadir_dsn_check("mariadb://h/db?option_file=rel.cnf", err,
	    sizeof(err)) == -EINVAL);
	CHECK(luadir_dsn_check("mariadb://@h/db", err, sizeof(err)) ==
	    -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Rows */

static int
parse5(const char *id, const char *name, const char *ip, const char *state,
    const char *users, struct luadir_row *row, const char **why)
{
	const char *cells[5] = { id, name, ip, state, users };
	size_t lens[5];
	int i;

	for (i = 0; i < 5; i++)
		lens[i] = cells[i] != NULL ? strlen(cells[i]) : 0;
	return luadir_row_parse(cells, lens, 5, row, why);
}

static void
test_row_parse(void)
{
	struct luadir_row row;
	const char *why = NULL;
	char longname[300];

	CHECK(parse5("7", "b1.example.org", "192.0.2.1", "0", "12", &row,
	    &why) == 0);
	CHECK(row.id == 7 && row.state == 0 && row.users == 12);
	CHECK_STR(row.hostname, "b1.example.org");
	CHECK_STR(row.addr, "192.0.2.1");
	/* NULL and empty hostip: its hostname, an address or a name. */
	CHECK(parse5("-3", "192.0.2.9", NULL, "2", "0", &row, &why) == 0);
	CHECK(row.id == -3 && row.hostip[0] == '\0');
	CHECK_STR(row.addr, "192.0.2.9");
	CHECK(parse5("3", "b3.example.org", "", "1", "0", &row, &why) == 0);
	CHECK(row.addr[0] == '\0' && row.state == 1);
	/* Addresses canonical: one backend however it is written. */
	CHECK(parse5("1", "b", "2001:DB8:0::1", "0", "0", &row, &why) == 0);
	CHECK_STR(row.addr, "2001:db8::1");

	CHECK(parse5(NULL, "b", "192.0.2.1", "0", "0", &row, &why) == -EINVAL);
	CHECK(parse5("x", "b", "192.0.2.1", "0", "0", &row, &why) == -EINVAL);
	CHECK(parse5("4294967296", "b", "192.0.2.1", "0", "0", &row, &why) ==
	    -EINVAL);
	CHECK(parse5("1", NULL, "192.0.2.1", "0", "0", &row, &why) == -EINVAL);
	CHECK(parse5("1", "", "192.0.2.1", "0", "0", &row, &why) == -EINVAL);
	CHECK(parse5("1", "-h", "192.0.2.1", "0", "0", &row, &why) ==
	    -EINVAL);
	CHECK(parse5("1", "a b", "192.0.2.1", "0", "0", &row, &why) ==
	    -EINVAL);
	CHECK(parse5("1", "b", "192.0.2.300", "0", "0", &row, &why) ==
	    -EINVAL);
	CHECK(strstr(why, "hostip") != NULL);
	CHECK(parse5("1", "b", " 192.0.2.1", "0", "0", &row, &why) ==
	    -EINVAL);
	CHECK(parse5("1", "b", "192.0.2.1", NULL, "0", &row, &why) ==
	    -EINVAL);
	CHECK(parse5("1", "b", "192.0.2.1", "0.5", "0", &row, &why) ==
	    -EINVAL);
	CHECK(parse5("1", "b", "192.0.2.1", "0", "-1", &row, &why) ==
	    -EINVAL);
	/* 255 bytes is the schema's; the 256th means longer. */
	memset(longname, 'a', 255);
	longname[255] = '\0';
	CHECK(parse5("1", longname, NULL, "0", "0", &row, &why) == 0);
	longname[255] = 'a';
	longname[256] = '\0';
	CHECK(parse5("1", longname, NULL, "0", "0", &row, &why) == -EINVAL);
	{
		/* A NUL inside a cell: its length says more than strlen. */
		const char *cells[5] = { "1", "b\0x", "192.0.2.1", "0", "0" };
		size_t lens[5] = { 1, 3, 9, 1, 1 };

		CHECK(luadir_row_parse(cells, lens, 5, &row, &why) == -EINVAL);
		lens[1] = 1;
		CHECK(luadir_row_parse(cells, lens, 5, &row, &why) == 0);
		CHECK(luadir_row_parse(cells, lens, 3, &row, &why) == -EINVAL);
	}
}

static struct luadir_row
row_of(int32_t id, const char *name, const char *addr, int32_t state,
    uint32_t users)
{
	struct luadir_row r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.state = state;
	r.users = users;
	str_copy(r.hostname, name, sizeof(r.hostname));
	str_copy(r.addr, addr, sizeof(r.addr));
	return r;
}

static void
test_judge(void)
{
	struct luadir_row rows[3];
	enum router_mark mark;
	bool up;
	int shown;

	rows[0] = row_of(1, "a", "192.0.2.1", 0, 0);
	rows[1] = row_of(2, "b", "192.0.2.1", 0, 0);
	luadir_judge_rows(rows, 2, &up, &mark, &shown);
	CHECK(up && shown == 0);
	rows[1].state = 2;
	luadir_judge_rows(rows, 2, &up, &mark, &shown);
	CHECK(!up && mark == ROUTER_MARK_POOLMON && shown == 2);
	rows[0].state = 1;
	luadir_judge_rows(rows, 2, &up, &mark, &shown);
	CHECK(!up && mark == ROUTER_MARK_OTHER && shown == 1);
	rows[1].state = 7;
	rows[2] = row_of(3, "c", "192.0.2.1", 2, 0);
	luadir_judge_rows(rows, 3, &up, &mark, &shown);
	CHECK(!up && mark == ROUTER_MARK_OTHER && shown == 1);
	rows[0].state = 0;
	luadir_judge_rows(rows, 3, &up, &mark, &shown);
	CHECK(!up && mark == ROUTER_MARK_OTHER && shown == 7);
	rows[0].state = -1;
	luadir_judge_rows(rows, 1, &up, &mark, &shown);
	CHECK(!up && mark == ROUTER_MARK_OTHER && shown == -1);
}

static void
test_pool(void)
{
	struct luadir_row *rows = calloc(6, sizeof(*rows));
	struct router_host_list list;
	const struct luadir_backend *b;
	struct luadir_pool pool;

	CHECK(rows != NULL);
	if (rows == NULL)
		return;
	rows[0] = row_of(9, "b2", "192.0.2.2", 0, 5);
	rows[1] = row_of(4, "b1-alias", "192.0.2.1", 2, 1);
	rows[2] = row_of(1, "b1", "192.0.2.1", 0, 2);
	rows[3] = row_of(5, "unresolved.example", "", 0, 9);
	rows[4] = row_of(3, "b3", "2001:db8::3", 3, 0);
	rows[5] = row_of(6, "b2-x", "192.0.2.2", 0, UINT32_MAX);
	CHECK(luadir_pool_build(&pool, rows, 6) == 0);
	CHECK(pool.nbackends == 3 && pool.nrows == 5 && pool.unplaced == 1);
	b = luadir_pool_find(&pool, "192.0.2.1");
	CHECK(b != NULL && b->n == 2 && !b->up && b->state == 2 &&
	    b->mark == ROUTER_MARK_POOLMON && b->users == 3);
	/* Its rows by id. */
	CHECK(b != NULL && pool.rows[b->first].id == 1 &&
	    pool.rows[b->first + 1].id == 4);
	b = luadir_pool_find(&pool, "192.0.2.2");
	CHECK(b != NULL && b->up && b->users == UINT32_MAX);
	CHECK(luadir_pool_find(&pool, "192.0.2.9") == NULL);
	CHECK(luadir_pool_list(&pool, &list) == 0);
	CHECK(list.n == 3 && list.tags == NULL);
	CHECK_STR(list.hosts[0].ip, "192.0.2.1");
	CHECK(!list.hosts[0].up && list.hosts[0].state == 2);
	CHECK_STR(list.hosts[2].ip, "2001:db8::3");
	CHECK(list.hosts[2].mark == ROUTER_MARK_OTHER &&
	    list.hosts[2].state == 3);
	CHECK(!list.hosts[1].has_vhosts && list.hosts[1].vhost_count == 0);
	CHECK_STR(list.hosts[1].tag, "");
	router_host_list_free(&list);
	luadir_pool_free(&pool);

	/* Nothing at all. */
	CHECK(luadir_pool_build(&pool, NULL, 0) == 0);
	CHECK(pool.nbackends == 0 && luadir_pool_find(&pool, "::1") == NULL);
	CHECK(luadir_pool_list(&pool, &list) == 0 && list.n == 0);
	luadir_pool_free(&pool);
}

/* ------------------------------------------------------------------ */
/* Statements */

static const struct luadir_stmt_end ok_end = { .readonly = -1 };

static void
feed_row(struct luadir_job *job, const char *id, const char *name,
    const char *ip, const char *state)
{
	const char *cells[4] = { id, name, ip, state };
	size_t lens[4];
	int i;

	for (i = 0; i < 4; i++)
		lens[i] = cells[i] != NULL ? strlen(cells[i]) : 0;
	CHECK(luadir_job_row(job, cells, lens, 4) == 0);
}

static struct luadir_stmt_end
affected(long long n)
{
	struct luadir_stmt_end e = ok_end;

	e.affected = n;
	return e;
}

static void
test_job_downflush_pg(void)
{
	int32_t known[] = { 7 };
	struct luadir_job *job = luadir_job_new(LUADIR_JOB_COMMAND,
	    LUADIR_POSTGRESQL, ROUTER_DOWN_FLUSH, "192.0.2.1", known, 1);
	struct luadir_stmt_end e;
	const char *sql;

	CHECK_STR(luadir_job_next(job, NULL), "BEGIN");
	CHECK_STR(luadir_job_next(job, &ok_end),
	    "LOCK TABLE user_backend IN SHARE ROW EXCLUSIVE MODE");
	sql = luadir_job_next(job, &ok_end);
	CHECK_STR(sql, "SELECT id, substr(hostname, 1, 256), substr(hostip, "
	    "1, 256), state FROM backends WHERE hostip = '192.0.2.1' OR "
	    "((hostip IS NULL OR hostip = '') AND hostname = '192.0.2.1') OR "
	    "id IN (7) FOR UPDATE");
	feed_row(job, "1", "b1", "192.0.2.1", "0");
	feed_row(job, "4", "b1-alias", "192.0.2.1", "2");
	/* A known id whose name resolved to the address: the backend's. */
	feed_row(job, "7", "b7.example", NULL, "0");
	/* Since moved to another address: not the backend's any more. */
	feed_row(job, "8", "b8", "192.0.2.8", "0");
	CHECK_STR(luadir_job_next(job, &ok_end), "UPDATE backends SET state = "
	    "2 WHERE state = 0 AND id IN (1, 7)");
	e = affected(2);
	CHECK_STR(luadir_job_next(job, &e), "DELETE FROM user_backend WHERE "
	    "backend_id IN (1, 4, 7)");
	e = affected(12);
	CHECK_STR(luadir_job_next(job, &e), "COMMIT");
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->done && job->committed && job->error == 0);
	CHECK(job->reply == ROUTER_REPLY_OK);
	CHECK(strstr(job->line, "state 0 -> 2") != NULL);
	CHECK(strstr(job->line, "12 user_backend rows deleted") != NULL);
	/* The backend's rows, for the kick's host strings. */
	CHECK(job->nrows == 3);
	CHECK_STR(job->rows[2].hostname, "b7.example");
	luadir_job_free(job);
}

static void
test_job_dialects(void)
{
	struct luadir_job *job;
	const char *sql;

	/* SQLite: one writer from BEGIN IMMEDIATE; no FOR UPDATE, no LOCK. */
	job = luadir_job_new(LUADIR_JOB_COMMAND, LUADIR_SQLITE,
	    ROUTER_DOWN_FLUSH, "192.0.2.1", NULL, 0);
	CHECK_STR(luadir_job_next(job, NULL), "BEGIN IMMEDIATE");
	sql = luadir_job_next(job, &ok_end);
	CHECK(sql != NULL && strstr(sql, "SELECT id") == sql &&
	    strstr(sql, "FOR UPDATE") == NULL && strstr(sql, "id IN") == NULL);
	luadir_job_free(job);
	/* MariaDB: START TRANSACTION, FOR UPDATE, no table lock. */
	job = luadir_job_new(LUADIR_JOB_COMMAND, LUADIR_MARIADB,
	    ROUTER_DOWN_FLUSH, "192.0.2.1", NULL, 0);
	CHECK_STR(luadir_job_next(job, NULL), "START TRANSACTION");
	sql = luadir_job_next(job, &ok_end);
	CHECK(sql != NULL && strstr(sql, "FOR UPDATE") != NULL);
	luadir_job_free(job);
	/* PostgreSQL without a flush: no table lock. */
	job = luadir_job_new(LUADIR_JOB_COMMAND, LUADIR_POSTGRESQL, ROUTER_UP,
	    "192.0.2.1", NULL, 0);
	CHECK_STR(luadir_job_next(job, NULL), "BEGIN");
	sql = luadir_job_next(job, &ok_end);
	CHECK(sql != NULL && strstr(sql, "SELECT id") == sql);
	luadir_job_free(job);
}

/* A command over rows with these states: its statements after SELECT. */
static struct luadir_job *
command_over(enum router_cmd cmd, const char *states)
{
	struct luadir_job *job = luadir_job_new(LUADIR_JOB_COMMAND,
	    LUADIR_SQLITE, cmd, "192.0.2.1", NULL, 0);
	char id[16], st[16];
	int i;

	(void)luadir_job_next(job, NULL);
	(void)luadir_job_next(job, &ok_end);
	for (i = 0; states[i] != '\0'; i++) {
		snprintf(id, sizeof(id), "%d", i + 1);
		snprintf(st, sizeof(st), "%c", states[i]);
		feed_row(job, id, "b", "192.0.2.1", st);
	}
	return job;
}

static void
test_job_conflicts(void)
{
	struct luadir_job *job;
	struct luadir_stmt_end e;

	/* The operator's state: never changed, down or up. */
	job = command_over(ROUTER_DOWN_FLUSH, "01");
	CHECK_STR(luadir_job_next(job, &ok_end), "ROLLBACK");
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->reply == ROUTER_REPLY_CONFLICT && !job->committed &&
	    job->error == 0);
	CHECK(strstr(job->line, "state 1 is the operator's") != NULL);
	luadir_job_free(job);
	job = command_over(ROUTER_UP, "23");
	CHECK_STR(luadir_job_next(job, &ok_end), "ROLLBACK");
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->reply == ROUTER_REPLY_CONFLICT);
	luadir_job_free(job);
	/* A flush of a backend back in service: nothing deleted. */
	job = command_over(ROUTER_FLUSH, "00");
	CHECK_STR(luadir_job_next(job, &ok_end), "ROLLBACK");
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->reply == ROUTER_REPLY_CONFLICT);
	luadir_job_free(job);
	/* A flush deletes the users of the rows out of service only. */
	job = command_over(ROUTER_FLUSH, "201");
	CHECK_STR(luadir_job_next(job, &ok_end), "DELETE FROM user_backend "
	    "WHERE backend_id IN (1, 3)");
	luadir_job_free(job);
	/* Already as asked: OK, nothing to change. */
	job = command_over(ROUTER_UP, "00");
	CHECK_STR(luadir_job_next(job, &ok_end), "COMMIT");
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->reply == ROUTER_REPLY_OK && job->committed);
	luadir_job_free(job);
	job = command_over(ROUTER_DOWN, "22");
	CHECK_STR(luadir_job_next(job, &ok_end), "COMMIT");
	luadir_job_free(job);
	/* The UPDATE changed fewer rows than it locked: theirs stands. */
	job = command_over(ROUTER_UP, "22");
	CHECK_STR(luadir_job_next(job, &ok_end), "UPDATE backends SET state = "
	    "0 WHERE state = 2 AND id IN (1, 2)");
	e = affected(1);
	CHECK_STR(luadir_job_next(job, &e), "ROLLBACK");
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->reply == ROUTER_REPLY_CONFLICT && !job->committed);
	luadir_job_free(job);
	/* No row: not found. */
	job = command_over(ROUTER_DOWN, "");
	CHECK_STR(luadir_job_next(job, &ok_end), "ROLLBACK");
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->reply == ROUTER_REPLY_NOTFOUND);
	luadir_job_free(job);
}

static void
test_job_errors(void)
{
	struct luadir_stmt_end e = ok_end;
	struct luadir_job *job;

	/* BEGIN fails: no transaction, nothing to roll back. */
	job = luadir_job_new(LUADIR_JOB_COMMAND, LUADIR_SQLITE, ROUTER_DOWN,
	    "192.0.2.1", NULL, 0);
	(void)luadir_job_next(job, NULL);
	e.error = -ETIMEDOUT;
	e.unreachable = true;
	e.errmsg = "the database is locked\n";
	CHECK(luadir_job_next(job, &e) == NULL);
	CHECK(job->done && job->error == -ETIMEDOUT && job->unreachable);
	CHECK_STR(job->what, "BEGIN");
	CHECK_STR(job->err, "the database is locked");
	luadir_job_free(job);
	/* A failure inside: ROLLBACK, the first error stands. */
	job = command_over(ROUTER_DOWN, "0");
	CHECK(job->stage != 0);
	e.error = -EROFS;
	e.unreachable = false;
	e.errmsg = "cannot execute UPDATE in a read-only transaction";
	(void)luadir_job_next(job, &ok_end);	/* the UPDATE */
	CHECK_STR(luadir_job_next(job, &e), "ROLLBACK");
	e.error = -EIO;
	CHECK(luadir_job_next(job, &e) == NULL);
	CHECK(job->error == -EROFS && !job->committed);
	CHECK(strstr(job->err, "read-only") != NULL);
	CHECK_STR(job->what, "UPDATE backends");
	luadir_job_free(job);
	/* A COMMIT that fails: not committed. */
	job = command_over(ROUTER_DOWN, "2");
	CHECK_STR(luadir_job_next(job, &ok_end), "COMMIT");
	e.error = -ECONNRESET;
	e.unreachable = true;
	CHECK_STR(luadir_job_next(job, &e), "ROLLBACK");
	CHECK(luadir_job_next(job, &e) == NULL);
	CHECK(!job->committed && job->error == -ECONNRESET);
	luadir_job_free(job);
	/* The driver could not even connect. */
	job = luadir_job_new(LUADIR_JOB_LIST, LUADIR_MARIADB, ROUTER_DOWN,
	    NULL, NULL, 0);
	luadir_job_fail(job, -ECONNREFUSED, true, "cannot connect to %s",
	    "x\ny");
	CHECK(job->done && job->unreachable && job->what == NULL);
	CHECK_STR(job->err, "cannot connect to x?y");
	CHECK(luadir_job_next(job, NULL) == NULL);
	luadir_job_free(job);
}

static void
test_job_list(void)
{
	struct luadir_job *job = luadir_job_new(LUADIR_JOB_LIST,
	    LUADIR_POSTGRESQL, ROUTER_DOWN, NULL, NULL, 0);
	const char *good[5] = { "1", "b1", "192.0.2.1", "0", "3" };
	const char *bad[5] = { "2", "b 2", NULL, "0", "0" };
	size_t lens[5];
	size_t i;

	CHECK_STR(luadir_job_next(job, NULL), luadir_list_sql);
	for (i = 0; i < 5; i++)
		lens[i] = good[i] != NULL ? strlen(good[i]) : 0;
	CHECK(luadir_job_row(job, good, lens, 5) == 0);
	for (i = 0; i < 5; i++)
		lens[i] = bad[i] != NULL ? strlen(bad[i]) : 0;
	CHECK(luadir_job_row(job, bad, lens, 5) == 0);
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->error == 0 && job->nrows == 1 && job->bad_rows == 1);
	CHECK(strstr(job->bad_first, "row id 2: hostname") == job->bad_first);
	luadir_job_free(job);

	/* More than ROUTER_MAX_HOSTS rows: the listing fails. */
	job = luadir_job_new(LUADIR_JOB_LIST, LUADIR_SQLITE, ROUTER_DOWN, NULL,
	    NULL, 0);
	(void)luadir_job_next(job, NULL);
	for (i = 0; i < 5; i++)
		lens[i] = strlen(good[i]);
	for (i = 0; i < ROUTER_MAX_HOSTS; i++)
		if (luadir_job_row(job, good, lens, 5) < 0)
			break;
	CHECK(i == ROUTER_MAX_HOSTS);
	CHECK(luadir_job_row(job, good, lens, 5) == -E2BIG);
	CHECK(luadir_job_next(job, &ok_end) == NULL);
	CHECK(job->error == -EPROTO && job->nrows == 0);
	luadir_job_free(job);
}

/* The gate's answer to rows a, b (NULL: no row) or SQLite's readonly. */
static struct luadir_job *
gate(enum luadir_kind kind, const char *a, const char *b, int readonly)
{
	struct luadir_job *job = luadir_job_new(LUADIR_JOB_GATE, kind,
	    ROUTER_DOWN, NULL, NULL, 0);
	const char *cells[2] = { a, b };
	size_t lens[2] = { a != NULL ? strlen(a) : 0, b != NULL ? strlen(b) :
	    0 };
	struct luadir_stmt_end e = ok_end;

	(void)luadir_job_next(job, NULL);
	if (a != NULL)
		(void)luadir_job_row(job, cells, lens, 2);
	e.readonly = readonly;
	CHECK(luadir_job_next(job, &e) == NULL);
	return job;
}

static void
test_job_gate(void)
{
	struct luadir_job *job;

	job = gate(LUADIR_POSTGRESQL, "f", "off", -1);
	CHECK(job->can_act && job->error == 0);
	CHECK_STR(job->act_state, "read-write");
	luadir_job_free(job);
	job = gate(LUADIR_POSTGRESQL, "t", "on", -1);
	CHECK(!job->can_act);
	CHECK_STR(job->act_state, "read-only: a standby");
	luadir_job_free(job);
	job = gate(LUADIR_POSTGRESQL, "f", "on", -1);
	CHECK(!job->can_act && strstr(job->act_state, "read-only") != NULL);
	luadir_job_free(job);
	job = gate(LUADIR_POSTGRESQL, NULL, NULL, -1);
	CHECK(!job->can_act && job->error == -EPROTO);
	luadir_job_free(job);
	job = gate(LUADIR_MARIADB, "1", "0", -1);
	CHECK(!job->can_act);
	CHECK_STR(job->act_state, "read-only: read_only is set");
	luadir_job_free(job);
	job = gate(LUADIR_MARIADB, "0", "1", -1);
	CHECK(!job->can_act && strstr(job->act_state, "innodb") != NULL);
	luadir_job_free(job);
	job = gate(LUADIR_MARIADB, "0", "0", -1);
	CHECK(job->can_act);
	luadir_job_free(job);
	job = gate(LUADIR_SQLITE, "3", NULL, 1);
	CHECK(!job->can_act && strstr(job->act_state, "not writable") != NULL);
	luadir_job_free(job);
	job = gate(LUADIR_SQLITE, "3", NULL, 0);
	CHECK(job->can_act);
	luadir_job_free(job);
}

static void
test_router_strings(void)
{
	CHECK_STR(router_kind_str(ROUTER_LUA_DIRECTOR), "lua-director");
	CHECK_STR(router_kind_str(ROUTER_DIRECTOR), "director");
	CHECK_STR(router_cmd_str(ROUTER_DOWN_FLUSH), "down and flush");
	CHECK_STR(router_reply_str(ROUTER_REPLY_OK), "OK");
}

int
main(void)
{
	RUN(test_dsn_sqlite);
	RUN(test_dsn_postgresql);
	RUN(test_dsn_password);
	RUN(test_dsn_mariadb);
	RUN(test_row_parse);
	RUN(test_judge);
	RUN(test_pool);
	RUN(test_job_downflush_pg);
	RUN(test_job_dialects);
	RUN(test_job_conflicts);
	RUN(test_job_errors);
	RUN(test_job_list);
	RUN(test_job_gate);
	RUN(test_router_strings);
	return UNIT_EXIT();
}
