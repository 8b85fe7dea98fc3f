/*
 * The statements of each request (luadir_job.h). A command is one
 * transaction that first locks and reads the backend's rows, so that the
 * decision (change, leave alone, CONFLICT) and the change see the same
 * rows: SQLite by BEGIN IMMEDIATE (one writer), PostgreSQL and MariaDB by
 * SELECT ... FOR UPDATE. A flush on PostgreSQL first takes SHARE ROW
 * EXCLUSIVE on user_backend: the routing script's INSERT, which reads the
 * backend's state without a row lock, then waits for the commit and sees
 * the new state (dovecot/lua-director.lua says why). Every id and address
 * in the SQL text is one poolmond checked: nothing from outside is
 * pasted into a statement.
 */
#include "luadir_job.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum stage {
	ST_NONE,
	ST_LIST,
	ST_GATE,
	ST_BEGIN,
	ST_LOCK,
	ST_SELECT,
	ST_UPDATE,
	ST_DELETE,
	ST_COMMIT,
	ST_ROLLBACK,
};

/* substr(): a name longer than the schema's 255 is seen as too long, and
 * never read whole. */
const char luadir_list_sql[] =
    "SELECT b.id, substr(b.hostname, 1, 256), substr(b.hostip, 1, 256), "
    "b.state, (SELECT count(*) FROM user_backend u "
    "WHERE u.backend_id = b.id) FROM backends b ORDER BY b.id LIMIT 65537";

/* Each statement, as logs name it. */
static const char *
stage_name(const struct luadir_job *job)
{
	switch ((enum stage)job->stage) {
	case ST_LIST: return "SELECT FROM backends";
	case ST_GATE: return "the gate";
	case ST_BEGIN: return "BEGIN";
	case ST_LOCK: return "LOCK TABLE user_backend";
	case ST_SELECT: return job->dialect == LUADIR_SQLITE ?
	    "SELECT FROM backends" : "SELECT FROM backends FOR UPDATE";
	case ST_UPDATE: return "UPDATE backends";
	case ST_DELETE: return "DELETE FROM user_backend";
	case ST_COMMIT: return "COMMIT";
	case ST_ROLLBACK: return "ROLLBACK";
	case ST_NONE: break;
	}
	return NULL;
}

static const char *
gate_sql(enum luadir_kind dialect)
{
	switch (dialect) {
	case LUADIR_POSTGRESQL:
		return "SELECT pg_is_in_recovery(), "
		    "current_setting('transaction_read_only')";
	case LUADIR_MARIADB:
		return "SELECT @@global.read_only, @@global.innodb_read_only";
	case LUADIR_SQLITE:
		break;
	}
	/* Whether the file opened read-write, the driver says. */
	return "SELECT count(*) FROM backends";
}

static const char *
begin_sql(enum luadir_kind dialect)
{
	switch (dialect) {
	case LUADIR_SQLITE: return "BEGIN IMMEDIATE";
	case LUADIR_MARIADB: return "START TRANSACTION";
	case LUADIR_POSTGRESQL: break;
	}
	return "BEGIN";
}

struct luadir_job *
luadir_job_new(enum luadir_job_kind kind, enum luadir_kind dialect,
    enum router_cmd cmd, const char *ip, const int32_t *known, size_t nknown)
{
	struct luadir_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->kind = kind;
	job->dialect = dialect;
	job->cmd = cmd;
	str_copy(job->ip, ip != NULL ? ip : "", sizeof(job->ip));
	if (nknown > 0) {
		if ((job->known = calloc(nknown, sizeof(*known))) == NULL) {
			free(job);
			return NULL;
		}
		memcpy(job->known, known, nknown * sizeof(*known));
		job->nknown = nknown;
	}
	return job;
}

void
luadir_job_free(struct luadir_job *job)
{
	if (job == NULL)
		return;
	free(job->known);
	free(job->sql);
	free(job->rows);
	free(job);
}

static void __attribute__((format(printf, 4, 0)))
set_error(struct luadir_job *job, int error, bool unreachable,
    const char *fmt, va_list ap)
{
	char raw[sizeof(job->err)];

	if (job->error != 0)
		return;			/* the first error says why */
	vsnprintf(raw, sizeof(raw), fmt, ap);
	str_sanitize_r(raw, strlen(raw), job->err, sizeof(job->err));
	job->error = error;
	job->unreachable = unreachable;
}

void
luadir_job_fail(struct luadir_job *job, int error, bool unreachable,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(job, error, unreachable, fmt, ap);
	va_end(ap);
	job->done = true;
}

static void __attribute__((format(printf, 4, 5)))
job_error(struct luadir_job *job, int error, bool unreachable,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(job, error, unreachable, fmt, ap);
	va_end(ap);
}

/* The database's message without its trailing newlines; the statement
 * that failed is job->what. */
static void
stmt_error(struct luadir_job *job, const struct luadir_stmt_end *end)
{
	const char *m = end->errmsg != NULL ? end->errmsg : "";
	size_t len = strlen(m);

	while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == '\r' ||
	    m[len - 1] == ' '))
		len--;
	if (job->error == 0)
		job->what = stage_name(job);
	job_error(job, end->error, end->unreachable, "%.*s",
	    (int)(len < 200 ? len : 200), len > 0 ? m : "failed");
}

static const char *
finish(struct luadir_job *job)
{
	free(job->sql);
	job->sql = NULL;
	job->done = true;
	return NULL;
}

static const char *
stmt(struct luadir_job *job, enum stage stage, const char *sql)
{
	free(job->sql);
	if ((job->sql = strdup(sql)) == NULL) {
		job_error(job, -ENOMEM, false, "out of memory");
		return finish(job);
	}
	job->stage = stage;
	return job->sql;
}

/* ------------------------------------------------------------------ */
/* Rows */

static int
grow_rows(struct luadir_job *job)
{
	size_t alloc = job->rows_alloc ? job->rows_alloc * 2 : 16;
	struct luadir_row *r;

	if (alloc > ROUTER_MAX_HOSTS)
		alloc = ROUTER_MAX_HOSTS;
	if ((r = reallocarray(job->rows, alloc, sizeof(*r))) == NULL)
		return -ENOMEM;
	job->rows = r;
	job->rows_alloc = alloc;
	return 0;
}

static void
note_bad_row(struct luadir_job *job, const char *const *cells,
    const size_t *lens, size_t ncells, const char *why)
{
	char id[24];

	if (job->bad_rows++ > 0)
		return;
	if (ncells > 0 && cells[0] != NULL)
		str_sanitize_r(cells[0], lens[0], id, sizeof(id));
	else
		str_copy(id, "NULL", sizeof(id));
	snprintf(job->bad_first, sizeof(job->bad_first), "row id %s: %s", id,
	    why);
}

static void
gate_row(struct luadir_job *job, const char *const *cells, size_t ncells)
{
	const char *a = ncells > 0 && cells[0] != NULL ? cells[0] : "";
	const char *b = ncells > 1 && cells[1] != NULL ? cells[1] : "";

	job->gate_seen = true;
	if (job->dialect == LUADIR_POSTGRESQL) {
		job->gate_standby = strcmp(a, "t") == 0;
		job->gate_readonly = strcmp(b, "on") == 0;
	} else if (job->dialect == LUADIR_MARIADB) {
		job->gate_readonly = strcmp(a, "0") != 0;
		job->gate_innodb_ro = strcmp(b, "0") != 0;
	}
}

int
luadir_job_row(struct luadir_job *job, const char *const *cells,
    const size_t *lens, size_t ncells)
{
	const char *why;
	int r;

	if (job->stage == ST_GATE) {
		gate_row(job, cells, ncells);
		return 0;
	}
	if (job->stage != ST_LIST && job->stage != ST_SELECT)
		return 0;
	if (job->too_many)
		return -E2BIG;
	if (job->nrows == ROUTER_MAX_HOSTS) {
		job->too_many = true;
		return -E2BIG;
	}
	if (job->nrows == job->rows_alloc && (r = grow_rows(job)) < 0) {
		job_error(job, r, false, "out of memory for the rows");
		job->too_many = true;
		return r;
	}
	if (luadir_row_parse(cells, lens, ncells, &job->rows[job->nrows],
	    &why) < 0) {
		note_bad_row(job, cells, lens, ncells, why);
		return 0;
	}
	job->nrows++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* List and gate */

static const char *
list_next(struct luadir_job *job, const struct luadir_stmt_end *end)
{
	if (job->stage == ST_NONE)
		return stmt(job, ST_LIST, luadir_list_sql);
	if (end->error != 0)
		stmt_error(job, end);
	else if (job->too_many)
		job_error(job, -EPROTO, false, "more than %d rows in backends",
		    ROUTER_MAX_HOSTS);
	if (job->error != 0)
		job->nrows = 0;
	return finish(job);
}

static const char *
gate_next(struct luadir_job *job, const struct luadir_stmt_end *end)
{
	if (job->stage == ST_NONE)
		return stmt(job, ST_GATE, gate_sql(job->dialect));
	if (end->error != 0) {
		stmt_error(job, end);
		return finish(job);
	}
	job->can_act = false;
	if (job->dialect == LUADIR_SQLITE) {
		if (end->readonly == 1)
			str_copy(job->act_state, "read-only: the file is not "
			    "writable", sizeof(job->act_state));
		else
			job->can_act = true;
	} else if (!job->gate_seen)
		job_error(job, -EPROTO, false, "no answer to whether it takes "
		    "writes");
	else if (job->gate_standby)
		str_copy(job->act_state, "read-only: a standby",
		    sizeof(job->act_state));
	else if (job->gate_readonly)
		str_copy(job->act_state, job->dialect == LUADIR_MARIADB ?
		    "read-only: read_only is set" :
		    "read-only: transactions are read-only",
		    sizeof(job->act_state));
	else if (job->gate_innodb_ro)
		str_copy(job->act_state, "read-only: innodb_read_only is set",
		    sizeof(job->act_state));
	else
		job->can_act = true;
	if (job->can_act)
		str_copy(job->act_state, "read-write", sizeof(job->act_state));
	return finish(job);
}

/* ------------------------------------------------------------------ */
/* Commands */

static bool
is_flush(const struct luadir_job *job)
{
	return job->cmd == ROUTER_DOWN_FLUSH || job->cmd == ROUTER_FLUSH;
}

static bool
known_id(const struct luadir_job *job, int32_t id)
{
	size_t i;

	for (i = 0; i < job->nknown; i++)
		if (job->known[i] == id)
			return true;
	return false;
}

/* A row read in the transaction is the backend's: its address is ip, or
 * it has none of its own and its name resolved to ip at the listing. */
static bool
belongs(const struct luadir_job *job, const struct luadir_row *row)
{
	if (row->addr[0] != '\0')
		return strcmp(row->addr, job->ip) == 0;
	return known_id(job, row->id);
}

/* The ids of the backend's rows whose state test() accepts, as SQL. */
static char *
id_list(const struct luadir_job *job, bool (*test)(int32_t), size_t *count)
{
	size_t i, len = 0, cap = job->nrows * 13 + 1;
	char *s = malloc(cap);

	*count = 0;
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < job->nrows; i++) {
		if (!test(job->rows[i].state))
			continue;
		len += (size_t)snprintf(s + len, cap - len, "%s%d",
		    *count > 0 ? ", " : "", job->rows[i].id);
		(*count)++;
	}
	return s;
}

static bool
state_any(int32_t s)
{
	(void)s;
	return true;
}

static bool
state_zero(int32_t s)
{
	return s == 0;
}

static bool
state_poolmon(int32_t s)
{
	return s == ROUTER_STATE_POOLMON;
}

static bool
state_nonzero(int32_t s)
{
	return s != 0;
}

static bool
state_operator(int32_t s)
{
	return s != 0 && s != ROUTER_STATE_POOLMON;
}

static int32_t
first_state(const struct luadir_job *job, bool (*test)(int32_t))
{
	size_t i;

	for (i = 0; i < job->nrows; i++)
		if (test(job->rows[i].state))
			return job->rows[i].state;
	return 0;
}

static size_t
count_state(const struct luadir_job *job, bool (*test)(int32_t))
{
	size_t i, n = 0;

	for (i = 0; i < job->nrows; i++)
		if (test(job->rows[i].state))
			n++;
	return n;
}

static const char *
rollback(struct luadir_job *job)
{
	if (!job->in_txn)
		return finish(job);
	job->in_txn = false;
	return stmt(job, ST_ROLLBACK, "ROLLBACK");
}

static const char *
conflict(struct luadir_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *
conflict(struct luadir_job *job, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(job->line, sizeof(job->line), fmt, ap);
	va_end(ap);
	job->reply = ROUTER_REPLY_CONFLICT;
	return rollback(job);
}

static const char *
select_rows(struct luadir_job *job)
{
	size_t i, len, cap = 512 + job->nknown * 13;
	char *sql = malloc(cap);
	const char *next;

	if (sql == NULL) {
		job_error(job, -ENOMEM, false, "out of memory");
		return rollback(job);
	}
	len = (size_t)snprintf(sql, cap, "SELECT id, substr(hostname, 1, "
	    "256), substr(hostip, 1, 256), state FROM backends WHERE "
	    "hostip = '%s' OR ((hostip IS NULL OR hostip = '') AND "
	    "hostname = '%s')", job->ip, job->ip);
	if (job->nknown > 0) {
		len += (size_t)snprintf(sql + len, cap - len, " OR id IN (");
		for (i = 0; i < job->nknown; i++)
			len += (size_t)snprintf(sql + len, cap - len, "%s%d",
			    i > 0 ? ", " : "", job->known[i]);
		len += (size_t)snprintf(sql + len, cap - len, ")");
	}
	if (job->dialect != LUADIR_SQLITE)
		snprintf(sql + len, cap - len, " FOR UPDATE");
	next = stmt(job, ST_SELECT, sql);
	free(sql);
	return next;
}

/* UPDATE backends SET state = to WHERE state = from AND id IN (...). */
static const char *
update_state(struct luadir_job *job, int to, int from, bool (*test)(int32_t))
{
	char *ids, *sql;
	const char *next;
	size_t n;

	if ((ids = id_list(job, test, &n)) == NULL ||
	    asprintf(&sql, "UPDATE backends SET state = %d WHERE state = %d "
	    "AND id IN (%s)", to, from, ids) < 0) {
		free(ids);
		job_error(job, -ENOMEM, false, "out of memory");
		return rollback(job);
	}
	snprintf(job->change, sizeof(job->change), "state %d -> %d (id %s)",
	    from, to, ids);
	job->expect = (long long)n;
	free(ids);
	next = stmt(job, ST_UPDATE, sql);
	free(sql);
	return next;
}

static const char *
commit(struct luadir_job *job)
{
	return stmt(job, ST_COMMIT, "COMMIT");
}

static const char *
delete_users(struct luadir_job *job, bool (*test)(int32_t))
{
	char *ids, *sql;
	const char *next;
	size_t n;

	if ((ids = id_list(job, test, &n)) == NULL) {
		job_error(job, -ENOMEM, false, "out of memory");
		return rollback(job);
	}
	if (n == 0) {
		free(ids);
		return commit(job);
	}
	if (asprintf(&sql, "DELETE FROM user_backend WHERE backend_id IN "
	    "(%s)", ids) < 0) {
		free(ids);
		job_error(job, -ENOMEM, false, "out of memory");
		return rollback(job);
	}
	free(ids);
	next = stmt(job, ST_DELETE, sql);
	free(sql);
	return next;
}

/* The rows are read and locked: what the command does with them. */
static const char *
decide(struct luadir_job *job)
{
	size_t i, n = 0;

	for (i = 0; i < job->nrows; i++)
		if (belongs(job, &job->rows[i]))
			job->rows[n++] = job->rows[i];
	job->nrows = n;
	if (n == 0) {
		job->reply = ROUTER_REPLY_NOTFOUND;
		snprintf(job->line, sizeof(job->line), "no row of backends "
		    "has the address %s", job->ip);
		return rollback(job);
	}
	switch (job->cmd) {
	case ROUTER_DOWN:
	case ROUTER_DOWN_FLUSH:
		if (first_state(job, state_operator) != 0)
			return conflict(job, "state %d is the operator's: left "
			    "alone", first_state(job, state_operator));
		if (count_state(job, state_zero) > 0)
			return update_state(job, ROUTER_STATE_POOLMON, 0,
			    state_zero);
		str_copy(job->change, "state 2 already", sizeof(job->change));
		if (job->cmd == ROUTER_DOWN_FLUSH)
			return delete_users(job, state_any);
		return commit(job);
	case ROUTER_FLUSH:
		if (count_state(job, state_nonzero) == 0)
			return conflict(job, "in service again (state 0): not "
			    "flushed");
		return delete_users(job, state_nonzero);
	case ROUTER_UP:
		if (first_state(job, state_operator) != 0)
			return conflict(job, "state %d is the operator's: left "
			    "alone", first_state(job, state_operator));
		if (count_state(job, state_poolmon) > 0)
			return update_state(job, 0, ROUTER_STATE_POOLMON,
			    state_poolmon);
		str_copy(job->change, "state 0 already", sizeof(job->change));
		return commit(job);
	}
	job_error(job, -EINVAL, false, "unknown command");
	return rollback(job);
}

static void
describe_commit(struct luadir_job *job)
{
	int n = snprintf(job->line, sizeof(job->line), "%s", job->change);

	if (is_flush(job) && n >= 0 && (size_t)n < sizeof(job->line))
		snprintf(job->line + n, sizeof(job->line) - (size_t)n,
		    "%s%lld user_backend rows deleted", n > 0 ? "; " : "",
		    job->users_deleted);
}

static const char *
command_next(struct luadir_job *job, const struct luadir_stmt_end *end)
{
	if (job->stage == ST_NONE)
		return stmt(job, ST_BEGIN, begin_sql(job->dialect));
	if (end->error != 0) {
		/* A failed ROLLBACK: the connection goes; the outcome
		 * stands. */
		if (job->stage == ST_ROLLBACK) {
			if (job->reply == ROUTER_REPLY_OK && job->error == 0)
				stmt_error(job, end);
			return finish(job);
		}
		stmt_error(job, end);
		return rollback(job);
	}
	switch ((enum stage)job->stage) {
	case ST_BEGIN:
		job->in_txn = true;
		if (job->dialect == LUADIR_POSTGRESQL && is_flush(job))
			return stmt(job, ST_LOCK, "LOCK TABLE user_backend IN "
			    "SHARE ROW EXCLUSIVE MODE");
		return select_rows(job);
	case ST_LOCK:
		return select_rows(job);
	case ST_SELECT:
		if (job->too_many) {
			job_error(job, -EPROTO, false, "too many rows");
			return rollback(job);
		}
		return decide(job);
	case ST_UPDATE:
		/* Locked rows change as read; anything else is someone
		 * else's doing: theirs stands. */
		if (end->affected != job->expect)
			return conflict(job, "changed meanwhile (%lld of %lld "
			    "rows changed)", end->affected, job->expect);
		if (job->cmd == ROUTER_DOWN_FLUSH)
			return delete_users(job, state_any);
		return commit(job);
	case ST_DELETE:
		job->users_deleted = end->affected;
		return commit(job);
	case ST_COMMIT:
		job->in_txn = false;
		job->committed = true;
		job->reply = ROUTER_REPLY_OK;
		describe_commit(job);
		return finish(job);
	case ST_ROLLBACK:
		return finish(job);
	case ST_NONE:
	case ST_LIST:
	case ST_GATE:
		break;
	}
	job_error(job, -EPROTO, false, "internal: statement out of order");
	return rollback(job);
}

const char *
luadir_job_next(struct luadir_job *job, const struct luadir_stmt_end *end)
{
	static const struct luadir_stmt_end none = { .readonly = -1 };

	if (job->done)
		return NULL;
	if (end == NULL)
		end = &none;
	switch (job->kind) {
	case LUADIR_JOB_LIST: return list_next(job, end);
	case LUADIR_JOB_GATE: return gate_next(job, end);
	case LUADIR_JOB_COMMAND: return command_next(job, end);
	}
	return finish(job);
}
