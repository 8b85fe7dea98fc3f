/*
 * The part of the Lua director's PostgreSQL and MariaDB drivers that is
 * the same for both (luadir_conn.h): a job's way from run() to done(),
 * the server's address, the statements one after the other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "luadir_conn.h"
#include "luadir_resolve.h"
#include "util.h"

static void
on_resolved(void *arg)
{
	struct luadir_conn *c = arg;

	if (c->state == LUADIR_CONN_RESOLVING)
		luadir_conn_step(c);
}

static int
on_start(sd_event_source *s, void *arg)
{
	(void)s;
	luadir_conn_step(arg);
	return 0;
}

int
luadir_conn_init(struct luadir_conn *c, const struct luadir_db_ops *dbops,
    const struct luadir_conn_ops *ops, sd_event *event,
    const struct luadir_dsn *dsn, struct luadir_resolver *resolver,
    int timeout_ms, luadir_db_done_fn *done, void *arg, char *err,
    size_t errlen)
{
	int r;

	c->db.ops = dbops;
	c->db.done = done;
	c->db.done_arg = arg;
	c->ops = ops;
	c->event = event;
	c->dsn = dsn;
	c->timeout_ms = timeout_ms;
	c->fd = -1;
	if ((r = sd_event_add_defer(event, &c->starter, on_start, c)) < 0 ||
	    (r = sd_event_source_set_enabled(c->starter, SD_EVENT_OFF)) < 0)
		return err_set(err, errlen, r, "sd-event: %s", strerror(-r));
	if (dsn->needs_lookup) {
		if ((r = luadir_resolver_watch(resolver, on_resolved, c)) < 0)
			return err_set(err, errlen, r, "resolver: %s",
			    strerror(-r));
		c->resolver = resolver;
	}
	return 0;
}

void
luadir_conn_release(struct luadir_conn *c)
{
	luadir_job_free(c->job);
	c->job = NULL;
	c->ops->close(c);
	if (c->resolver != NULL)
		luadir_resolver_unwatch(c->resolver, on_resolved, c);
	c->resolver = NULL;
	c->starter = sd_event_source_disable_unref(c->starter);
}

int
luadir_conn_run(struct luadir_db *db, struct luadir_job *job,
    int64_t deadline, char *err, size_t errlen)
{
	struct luadir_conn *c = (struct luadir_conn *)db;

	(void)deadline;
	if (c->job != NULL)
		return err_set(err, errlen, -EBUSY, "a job is running");
	c->job = job;
	/* From the loop: done() never comes from inside run(). */
	if (sd_event_source_set_enabled(c->starter, SD_EVENT_ONESHOT) < 0) {
		c->job = NULL;
		return err_set(err, errlen, -EIO, "cannot schedule the job");
	}
	return 0;
}

void
luadir_conn_abandon(struct luadir_db *db)
{
	struct luadir_conn *c = (struct luadir_conn *)db;

	luadir_job_free(c->job);
	c->job = NULL;
	/* A reply may still come, or a lock be held: a fresh connection
	 * for the next job. */
	c->ops->close(c);
}

void
luadir_conn_job_done(struct luadir_conn *c)
{
	struct luadir_job *job = c->job;

	c->job = NULL;
	if (c->ops->spent(c, job))
		c->ops->close(c);
	if (c->state == LUADIR_CONN_QUERY)
		c->state = LUADIR_CONN_READY;
	c->db.done(job, c->db.done_arg);
}

void
luadir_conn_fail(struct luadir_conn *c, int error, const char *what,
    const char *msg)
{
	c->ops->close(c);
	if (c->job != NULL) {
		luadir_job_fail(c->job, error, true, "%s %s: %s", what,
		    c->dsn->target, msg[0] != '\0' ? msg : strerror(-error));
		luadir_conn_job_done(c);
	}
}

void
luadir_conn_send(struct luadir_conn *c, enum luadir_conn_state state,
    const char *sql)
{
	c->state = state;
	memset(&c->end, 0, sizeof(c->end));
	c->end.readonly = -1;
	c->ops->send(c, sql);
}

/* The job's next statement, or its end. */
static void
next_stmt(struct luadir_conn *c, const struct luadir_stmt_end *end)
{
	const char *sql = luadir_job_next(c->job, end);

	if (sql == NULL) {
		luadir_conn_job_done(c);
		return;
	}
	luadir_conn_send(c, LUADIR_CONN_QUERY, sql);
}

int
luadir_conn_stmt_over(struct luadir_conn *c)
{
	if (c->state == LUADIR_CONN_SETUP) {
		if (c->end.error != 0)
			return c->end.error;
		c->state = LUADIR_CONN_READY;
		luadir_conn_step(c);
		return 0;
	}
	if (c->job != NULL)
		next_stmt(c, &c->end);
	return 0;
}

void
luadir_conn_step(struct luadir_conn *c)
{
	char addr[INET6_ADDRSTRLEN], err[128];
	int r;

	if (c->job == NULL)
		return;
	switch (c->state) {
	case LUADIR_CONN_CLOSED:
	case LUADIR_CONN_RESOLVING:
		if (!c->dsn->needs_lookup) {
			c->ops->connect(c, NULL);
			return;
		}
		r = luadir_resolve(c->resolver, c->dsn->host, addr, err,
		    sizeof(err));
		if (r == 0) {
			c->state = LUADIR_CONN_RESOLVING;
			return;
		}
		if (r < 0) {
			c->state = LUADIR_CONN_CLOSED;
			luadir_job_fail(c->job, r, true, "cannot resolve %s: "
			    "%s", c->dsn->host, err);
			luadir_conn_job_done(c);
			return;
		}
		c->ops->connect(c, addr);
		return;
	case LUADIR_CONN_READY:
		next_stmt(c, NULL);
		return;
	case LUADIR_CONN_CONNECTING:
	case LUADIR_CONN_SETUP:
	case LUADIR_CONN_QUERY:
		return;
	}
}

int
luadir_conn_watch(struct luadir_conn *c, int fd, uint32_t events)
{
	if (fd != c->fd) {
		c->io = sd_event_source_disable_unref(c->io);
		c->fd = fd;
	}
	if (c->io != NULL)
		return sd_event_source_set_io_events(c->io, events);
	if (fd < 0)
		return 0;
	return sd_event_add_io(c->event, &c->io, fd, events, c->ops->on_io,
	    c);
}
