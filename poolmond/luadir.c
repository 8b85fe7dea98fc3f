/*
 * The Lua director's router (luadir.h): a queue of requests, one at a
 * time, each through its phases under one deadline:
 *
 *   database  its job (luadir_job.h) run by the database's driver
 *   resolve   a listing: hostnames of rows without hostip (bounded)
 *   kick      a flush: the backend's sessions on the proxies (kick.h)
 *
 * At the deadline, the phase under way is given up: the database job is
 * abandoned (its connection dropped: "unreachable"), a listing goes with
 * the addresses known, a kick is killed (the change stands, the flush is
 * still owed). Results are handed over from the event loop only.
 */
#include "luadir.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kick.h"
#include "log.h"
#include "luadir_db.h"
#include "luadir_dsn.h"
#include "luadir_job.h"
#include "luadir_kicks.h"
#include "luadir_resolve.h"
#include "luadir_rows.h"
#include "util.h"

enum phase {
	PH_QUEUED,
	PH_DATABASE,
	PH_RESOLVE,
	PH_KICK,
};

/* Rows of a listing waiting for their hostname's address. */
enum row_lookup {
	RL_NONE,		/* has an address, or none to be had */
	RL_WAIT,
};

struct request {
	struct request *next;
	enum luadir_job_kind kind;
	enum router_cmd cmd;
	char ip[INET6_ADDRSTRLEN];
	int64_t deadline;		/* monotonic ms; 0 until its turn */
	router_done_fn *done;		/* NULL: forgotten */
	void *arg;
	enum phase phase;
	struct luadir_job *job;		/* its database part, once over */
	uint8_t *lookup;		/* listing: enum row_lookup per row */
	size_t waiting;			/* listing: rows in RL_WAIT */
	struct kick *kick;
	char err[300];
	char line[300];
};

struct luadir {
	struct router router;		/* first: the engine's handle */
	sd_event *event;
	int timeout_ms;
	struct luadir_dsn dsn;
	struct luadir_db *db;
	struct luadir_resolver *resolver;
	struct kicker *kicker;
	struct luadir_kicks *kicks;
	struct request *head, **tail;
	size_t nreqs;
	sd_event_source *timer;		/* the head's deadline */
	sd_event_source *mover;		/* moves the queue from the loop */
	bool dispatching;
	struct luadir_pool pool;	/* as last listed */
	/* What was last logged of rows left out, to log changes only. */
	char rows_note[320];
};

static void move(struct luadir *ld);

int
luadir_dsn_check(const char *dsn, char *err, size_t errlen)
{
	struct luadir_dsn *d = malloc(sizeof(*d));
	int r;

	if (d == NULL)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	r = luadir_dsn_parse(dsn, d, err, errlen);
	free(d);
	return r;
}

/* ------------------------------------------------------------------ */
/* Ending requests */

static void
request_free(struct request *req)
{
	luadir_job_free(req->job);
	kick_cancel(req->kick);
	free(req->lookup);
	free(req);
}

/* The head ends with res; its callback may queue more. */
static void
finish_head(struct luadir *ld, struct router_result *res)
{
	struct request *req = ld->head;
	bool was = ld->dispatching;

	ld->head = req->next;
	if (ld->head == NULL)
		ld->tail = &ld->head;
	ld->nreqs--;
	ld->dispatching = true;
	if (req->done != NULL)
		req->done(res, req->arg);
	ld->dispatching = was;
	request_free(req);
	(void)sd_event_source_set_enabled(ld->mover, SD_EVENT_ONESHOT);
}

static void __attribute__((format(printf, 4, 5)))
fail_head(struct luadir *ld, int error, bool unreachable, const char *fmt,
    ...)
{
	struct request *req = ld->head;
	struct router_result res = { .error = error,
	    .unreachable = unreachable, .err = req->err,
	    .reply = ROUTER_REPLY_OTHER, .line = "" };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req->err, sizeof(req->err), fmt, ap);
	va_end(ap);
	finish_head(ld, &res);
}

/* The job's error, as the head's, naming the statement that failed. */
static void
fail_with_job(struct luadir *ld, const struct luadir_job *job)
{
	struct request *req = ld->head;
	struct router_result res = { .error = job->error,
	    .unreachable = job->unreachable, .err = req->err,
	    .what = job->what, .reply = ROUTER_REPLY_OTHER, .line = "" };

	str_copy(req->err, job->err, sizeof(req->err));
	finish_head(ld, &res);
}

/* ------------------------------------------------------------------ */
/* Listing */

static void
note_rows(struct luadir *ld, const struct luadir_job *job, size_t unplaced,
    const char *unplaced_first)
{
	char note[sizeof(ld->rows_note)];

	note[0] = '\0';
	if (job->bad_rows > 0)
		snprintf(note, sizeof(note), "%zu rows of backends left out "
		    "(the first: %s)", job->bad_rows, job->bad_first);
	else if (unplaced > 0)
		snprintf(note, sizeof(note), "%zu rows of backends left out: "
		    "no address (the first: %s)", unplaced, unplaced_first);
	if (strcmp(note, ld->rows_note) == 0)
		return;
	str_copy(ld->rows_note, note, sizeof(ld->rows_note));
	if (note[0] != '\0')
		log_warnx("lua-director %s: %s", ld->router.target, note);
	else
		log_info("lua-director %s: every row of backends is listed "
		    "again", ld->router.target);
}

/*
 * Rows whose hostname needs its address: all of them at first, then
 * those still looked up (RL_WAIT). Those whose lookup failed stay
 * without one.
 */
static void
resolve_rows(struct luadir *ld, struct request *req, bool first)
{
	struct luadir_job *job = req->job;
	char err[128];
	size_t i;
	int r;

	req->waiting = 0;
	for (i = 0; i < job->nrows; i++) {
		struct luadir_row *row = &job->rows[i];

		if (row->addr[0] != '\0' ||
		    (!first && req->lookup[i] != RL_WAIT))
			continue;
		r = luadir_resolve(ld->resolver, row->hostname, row->addr,
		    err, sizeof(err));
		req->lookup[i] = r == 0 ? RL_WAIT : RL_NONE;
		if (r == 0)
			req->waiting++;
	}
}

static void
finish_list(struct luadir *ld)
{
	struct request *req = ld->head;
	struct luadir_job *job = req->job;
	struct router_result res = { .err = "" };
	struct router_host_list list;
	struct luadir_pool pool;
	char first[LUADIR_NAME_MAX + 1] = "";
	size_t i;
	int r;

	for (i = 0; i < job->nrows; i++)
		if (job->rows[i].addr[0] == '\0') {
			str_copy(first, job->rows[i].hostname, sizeof(first));
			break;
		}
	/* The pool takes the rows. */
	r = luadir_pool_build(&pool, job->rows, job->nrows);
	job->rows = NULL;
	job->nrows = job->rows_alloc = 0;
	if (r < 0) {
		fail_head(ld, r, false, "out of memory for the pool");
		return;
	}
	note_rows(ld, job, pool.unplaced, first);
	if ((r = luadir_pool_list(&pool, &list)) < 0) {
		luadir_pool_free(&pool);
		fail_head(ld, r, false, "out of memory for the pool");
		return;
	}
	/* The kicks read the new pool: the old one goes after. */
	luadir_kicks_listed(ld->kicks, &pool);
	luadir_pool_free(&ld->pool);
	ld->pool = pool;
	res.list = &list;
	finish_head(ld, &res);
	router_host_list_free(&list);
}

static void
list_db_done(struct luadir *ld, struct request *req)
{
	if (req->job->error != 0) {
		fail_with_job(ld, req->job);
		return;
	}
	if (req->job->nrows > 0 &&
	    (req->lookup = calloc(req->job->nrows, 1)) == NULL) {
		fail_head(ld, -ENOMEM, false, "out of memory");
		return;
	}
	resolve_rows(ld, req, true);
	if (req->waiting > 0) {
		req->phase = PH_RESOLVE;
		return;
	}
	finish_list(ld);
}

static void
on_resolved(void *arg)
{
	struct luadir *ld = arg;
	struct request *req = ld->head;

	if (req == NULL || req->phase != PH_RESOLVE)
		return;
	resolve_rows(ld, req, false);
	if (req->waiting == 0)
		finish_list(ld);
}

/* ------------------------------------------------------------------ */
/* Gate and commands */

static void
gate_db_done(struct luadir *ld, struct request *req)
{
	struct router_result res = { .err = "" };

	if (req->job->error != 0) {
		fail_with_job(ld, req->job);
		return;
	}
	res.can_act = req->job->can_act;
	res.act_state = req->job->act_state;
	finish_head(ld, &res);
}

/* flush_err: why a flush the command asked for is still owed. */
static void
finish_command(struct luadir *ld, bool flushed, const char *flush_err)
{
	struct request *req = ld->head;
	struct router_result res = { .err = "" };

	res.reply = req->job->reply;
	res.line = req->line;
	res.flushed = flushed;
	res.flush_err = flush_err;
	finish_head(ld, &res);
}

static void
on_kicked(int error, const char *err, void *arg)
{
	struct luadir *ld = arg;
	struct request *req = ld->head;
	size_t n = strlen(req->line);

	req->kick = NULL;
	luadir_kicks_down(ld->kicks, req->ip, error == 0);
	if (error != 0) {
		snprintf(req->err, sizeof(req->err), "kicking its sessions "
		    "failed: %s", err);
		finish_command(ld, false, req->err);
		return;
	}
	snprintf(req->line + n, sizeof(req->line) - n, "%s",
	    kicker_proxies(ld->kicker) > 0 ? "; its sessions kicked" :
	    "; no --proxy: no session kicked");
	finish_command(ld, true, NULL);
}

static bool
is_flush(enum router_cmd cmd)
{
	return cmd == ROUTER_DOWN_FLUSH || cmd == ROUTER_FLUSH;
}

static void
command_db_done(struct luadir *ld, struct request *req)
{
	struct luadir_job *job = req->job;
	const char *hosts[KICK_HOSTS_MAX];
	size_t i, j, n = 0;

	if (job->error != 0) {
		fail_with_job(ld, job);
		return;
	}
	str_copy(req->line, job->line, sizeof(req->line));
	if (!job->committed) {
		finish_command(ld, false, NULL);
		return;
	}
	if (req->cmd == ROUTER_UP)
		luadir_kicks_up(ld->kicks, req->ip);
	else if (req->cmd == ROUTER_DOWN)
		luadir_kicks_down(ld->kicks, req->ip, false);
	if (!is_flush(req->cmd)) {
		finish_command(ld, false, NULL);
		return;
	}
	/* The rows read in the transaction name the host strings. */
	for (i = 0; i < job->nrows && n < KICK_HOSTS_MAX; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(hosts[j], job->rows[i].hostname) == 0)
				break;
		if (j == n)
			hosts[n++] = job->rows[i].hostname;
	}
	req->kick = kick_start(ld->kicker, req->ip, hosts, n, req->deadline,
	    on_kicked, ld);
	if (req->kick == NULL) {
		on_kicked(-errno, strerror(errno), ld);
		return;
	}
	req->phase = PH_KICK;
}

/* ------------------------------------------------------------------ */
/* The queue */

static void
on_db_done(struct luadir_job *job, void *arg)
{
	struct luadir *ld = arg;
	struct request *req = ld->head;

	if (req == NULL || req->phase != PH_DATABASE) {
		/* Cannot be: a job ends only while its request waits. */
		luadir_job_free(job);
		return;
	}
	req->job = job;
	switch (req->kind) {
	case LUADIR_JOB_LIST:
		list_db_done(ld, req);
		break;
	case LUADIR_JOB_GATE:
		gate_db_done(ld, req);
		break;
	case LUADIR_JOB_COMMAND:
		command_db_done(ld, req);
		break;
	}
	move(ld);
}

/* The ids of ip's rows that have no address of their own. */
static int32_t *
known_ids(const struct luadir *ld, const char *ip, size_t *n)
{
	const struct luadir_backend *b = luadir_pool_find(&ld->pool, ip);
	int32_t *ids;
	size_t i;

	*n = 0;
	if (b == NULL || (ids = calloc(b->n, sizeof(*ids))) == NULL)
		return NULL;
	for (i = b->first; i < b->first + b->n; i++)
		if (ld->pool.rows[i].hostip[0] == '\0')
			ids[(*n)++] = ld->pool.rows[i].id;
	return ids;
}

static int
start_head(struct luadir *ld, struct request *req)
{
	struct luadir_job *job;
	int32_t *known = NULL;
	size_t nknown = 0;
	int r;

	if (req->kind == LUADIR_JOB_COMMAND)
		known = known_ids(ld, req->ip, &nknown);
	job = luadir_job_new(req->kind, ld->dsn.kind, req->cmd, req->ip,
	    known, nknown);
	free(known);
	if (job == NULL)
		return err_set(req->err, sizeof(req->err), -ENOMEM,
		    "out of memory");
	req->phase = PH_DATABASE;
	if ((r = ld->db->ops->run(ld->db, job, req->deadline, req->err,
	    sizeof(req->err))) < 0) {
		luadir_job_free(job);
		req->phase = PH_QUEUED;
		return r;
	}
	return 0;
}

static void
arm_timer(struct luadir *ld)
{
	if (ld->head == NULL || ld->head->deadline == 0) {
		(void)sd_event_source_set_enabled(ld->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(ld->timer,
	    (uint64_t)ld->head->deadline * 1000);
	(void)sd_event_source_set_enabled(ld->timer, SD_EVENT_ONESHOT);
}

/* Fail what is past its deadline; start the head. */
static void
move(struct luadir *ld)
{
	struct request *req;
	int r;

	if (ld->dispatching)
		return;
	while ((req = ld->head) != NULL && req->phase == PH_QUEUED) {
		if (req->deadline == 0)
			req->deadline = now_ms() + ld->timeout_ms;
		if (now_ms() >= req->deadline) {
			fail_head(ld, -ETIMEDOUT, true, "waited %d ms for the "
			    "requests before it", ld->timeout_ms);
			continue;
		}
		if ((r = start_head(ld, req)) < 0) {
			fail_head(ld, r, false, "%s", req->err);
			continue;
		}
	}
	arm_timer(ld);
}

static int
on_deadline(sd_event_source *s, uint64_t usec, void *arg)
{
	struct luadir *ld = arg;
	struct request *req = ld->head;

	(void)s;
	(void)usec;
	if (req == NULL || req->deadline == 0 || now_ms() < req->deadline) {
		move(ld);
		return 0;
	}
	switch (req->phase) {
	case PH_QUEUED:
		break;
	case PH_DATABASE:
		/* The connection goes with it: a late answer must never be
		 * taken for the next job's. */
		ld->db->ops->abandon(ld->db);
		fail_head(ld, -ETIMEDOUT, true, "%s: no answer within the "
		    "deadline", luadir_kind_str(ld->dsn.kind));
		break;
	case PH_RESOLVE:
		/* What is known now: the rest have no address. */
		finish_list(ld);
		break;
	case PH_KICK:
		kick_cancel(req->kick);
		req->kick = NULL;
		on_kicked(-ETIMEDOUT, "doveadm did not end within the deadline",
		    ld);
		break;
	}
	move(ld);
	return 0;
}

static int
on_move(sd_event_source *s, void *arg)
{
	(void)s;
	move(arg);
	return 0;
}

static int
submit(struct luadir *ld, enum luadir_job_kind kind, enum router_cmd cmd,
    const char *ip, int64_t deadline, router_done_fn *done, void *arg)
{
	struct request *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return -ENOMEM;
	req->kind = kind;
	req->cmd = cmd;
	if (ip != NULL)
		str_copy(req->ip, ip, sizeof(req->ip));
	req->deadline = deadline;
	req->done = done;
	req->arg = arg;
	*ld->tail = req;
	ld->tail = &req->next;
	ld->nreqs++;
	/* Started from the loop: a callback never runs inside a call. */
	return sd_event_source_set_enabled(ld->mover, SD_EVENT_ONESHOT) < 0 ?
	    -EIO : 0;
}

/* ------------------------------------------------------------------ */
/* The router's operations */

static int
ld_list(struct router *r, int64_t deadline, router_done_fn *done, void *arg)
{
	return submit((struct luadir *)r, LUADIR_JOB_LIST, ROUTER_DOWN, NULL,
	    deadline, done, arg);
}

static int
ld_gate(struct router *r, int64_t deadline, router_done_fn *done, void *arg)
{
	return submit((struct luadir *)r, LUADIR_JOB_GATE, ROUTER_DOWN, NULL,
	    deadline, done, arg);
}

static int
ld_command(struct router *r, enum router_cmd cmd, const char *ip,
    int64_t deadline, router_done_fn *done, void *arg)
{
	char canon[INET6_ADDRSTRLEN];

	/* Only an address ever reaches the SQL text. */
	if (ip == NULL || ip_canonical(ip, canon, sizeof(canon)) < 0)
		return -EINVAL;
	switch (cmd) {
	case ROUTER_DOWN:
	case ROUTER_DOWN_FLUSH:
	case ROUTER_FLUSH:
	case ROUTER_UP:
		break;
	default:
		return -EINVAL;
	}
	return submit((struct luadir *)r, LUADIR_JOB_COMMAND, cmd, canon,
	    deadline, done, arg);
}

static void
ld_forget(struct router *r, const void *arg)
{
	struct luadir *ld = (struct luadir *)r;
	struct request *req;

	for (req = ld->head; req != NULL; req = req->next)
		if (req->arg == arg)
			req->done = NULL;
}

static size_t
ld_pending(const struct router *r)
{
	return ((const struct luadir *)r)->nreqs;
}

static void
ld_free(struct router *r)
{
	struct luadir *ld = (struct luadir *)r;
	struct request *req;

	if (ld == NULL)
		return;
	if (ld->head != NULL && ld->head->phase == PH_DATABASE)
		ld->db->ops->abandon(ld->db);
	while ((req = ld->head) != NULL) {
		ld->head = req->next;
		request_free(req);
	}
	/* Before the kicker, whose kicks they cancel. */
	luadir_kicks_free(ld->kicks);
	if (ld->db != NULL)
		ld->db->ops->free(ld->db);
	kicker_free(ld->kicker);
	if (ld->resolver != NULL) {
		luadir_resolver_unwatch(ld->resolver, on_resolved, ld);
		luadir_resolver_free(ld->resolver);
	}
	luadir_pool_free(&ld->pool);
	sd_event_source_disable_unref(ld->timer);
	sd_event_source_disable_unref(ld->mover);
	sd_event_unref(ld->event);
	free(ld);
}

static const struct router_ops luadir_ops = {
	.kind = ROUTER_LUA_DIRECTOR,
	.list = ld_list,
	.gate = ld_gate,
	.command = ld_command,
	.forget = ld_forget,
	.pending = ld_pending,
	.free = ld_free,
};

static int
open_db(struct luadir *ld, char *err, size_t errlen)
{
	switch (ld->dsn.kind) {
	case LUADIR_SQLITE:
		return luadir_sqlite_new(ld->event, &ld->dsn, ld->timeout_ms,
		    on_db_done, ld, &ld->db, err, errlen);
	case LUADIR_POSTGRESQL:
		return luadir_pg_new(ld->event, &ld->dsn, ld->resolver,
		    ld->timeout_ms, on_db_done, ld, &ld->db, err, errlen);
	case LUADIR_MARIADB:
		return luadir_mariadb_new(ld->event, &ld->dsn, ld->resolver,
		    ld->timeout_ms, on_db_done, ld, &ld->db, err, errlen);
	}
	return err_set(err, errlen, -EINVAL, "--lua-director: unknown kind");
}

int
luadir_new(sd_event *event, const char *dsn, const char *const *proxies,
    size_t nproxies, int timeout_ms, struct router **out, char *err,
    size_t errlen)
{
	struct luadir *ld;
	int r;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (timeout_ms <= 0)
		return err_set(err, errlen, -EINVAL, "--lua-director: no "
		    "timeout");
	if ((ld = calloc(1, sizeof(*ld))) == NULL)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	ld->router.ops = &luadir_ops;
	ld->event = sd_event_ref(event);
	ld->timeout_ms = timeout_ms;
	ld->tail = &ld->head;
	if ((r = luadir_dsn_parse(dsn, &ld->dsn, err, errlen)) < 0)
		goto fail;
	str_copy(ld->router.target, ld->dsn.target,
	    sizeof(ld->router.target));
	if ((r = sd_event_add_time(event, &ld->timer, CLOCK_MONOTONIC,
	    UINT64_MAX, 1000, on_deadline, ld)) < 0 ||
	    (r = sd_event_source_set_enabled(ld->timer, SD_EVENT_OFF)) < 0 ||
	    (r = sd_event_add_defer(event, &ld->mover, on_move, ld)) < 0 ||
	    (r = sd_event_source_set_enabled(ld->mover, SD_EVENT_OFF)) < 0) {
		err_set(err, errlen, r, "sd-event: %s", strerror(-r));
		goto fail;
	}
	if ((r = luadir_resolver_new(event, timeout_ms, &ld->resolver, err,
	    errlen)) < 0 ||
	    (r = luadir_resolver_watch(ld->resolver, on_resolved, ld)) < 0 ||
	    (r = kicker_new(event, proxies, nproxies, timeout_ms,
	    &ld->kicker, err, errlen)) < 0 ||
	    (r = luadir_kicks_new(ld->kicker, timeout_ms, &ld->kicks)) < 0 ||
	    (r = open_db(ld, err, errlen)) < 0)
		goto fail;
	*out = &ld->router;
	return 0;
fail:
	if (errlen > 0 && err[0] == '\0')
		err_set(err, errlen, r, "--lua-director: %s", strerror(-r));
	ld_free(&ld->router);
	return r;
}
