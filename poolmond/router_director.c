/*
 * The director as a router: the engine's requests in the director-admin
 * protocol's words (HOST-LIST, DIRECTOR-LIST, HOST-DOWN, HOST-FLUSH,
 * HOST-UP), through the asynchronous client of director.c. The only file
 * that knows the director's commands by name.
 */
#include "router_director.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "director.h"
#include "util.h"

struct director_router;

/* One request of the engine's, while the director answers it. */
struct dreq {
	LIST_ENTRY(dreq) link;
	struct director_router *dr;
	enum router_cmd cmd;
	char ip[INET6_ADDRSTRLEN];
	int64_t deadline;
	router_done_fn *done;		/* NULL: forgotten */
	void *arg;
	bool flushing;			/* DOWN_FLUSH: its HOST-DOWN was OK */
	char down_line[128];
};

struct director_router {
	struct router r;		/* first: what the engine holds */
	struct director_client *dcl;
	LIST_HEAD(, dreq) reqs;
};

static struct director_router *
dr_of(struct router *r)
{
	return (struct director_router *)r;
}

static enum router_reply
reply_of(enum director_reply reply)
{
	switch (reply) {
	case DIRECTOR_REPLY_OK: return ROUTER_REPLY_OK;
	case DIRECTOR_REPLY_NOTFOUND: return ROUTER_REPLY_NOTFOUND;
	case DIRECTOR_REPLY_BUSY: return ROUTER_REPLY_BUSY;
	case DIRECTOR_REPLY_RING_TIMEOUT: return ROUTER_REPLY_TIMEOUT;
	case DIRECTOR_REPLY_OTHER: break;
	}
	return ROUTER_REPLY_OTHER;
}

/* The director's answer in the router's terms. */
static void
result_of(const struct director_result *dres, const char *what,
    struct router_result *res)
{
	size_t i;

	memset(res, 0, sizeof(*res));
	res->error = dres->error;
	res->unreachable = dres->unreachable;
	res->err = dres->err;
	res->what = what;
	res->reply = reply_of(dres->reply);
	res->line = dres->line;
	res->list = dres->list;
	res->can_act = dres->synced;
	res->act_state = dres->ring_state;
	for (i = 0; i < dres->nmembers && i < ROUTER_RING_MAX; i++)
		res->members[i] = dres->members[i];
	res->nmembers = i;
}

static struct dreq *
dreq_new(struct director_router *dr, enum router_cmd cmd, const char *ip,
    int64_t deadline, router_done_fn *done, void *arg)
{
	struct dreq *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->dr = dr;
	q->cmd = cmd;
	if (ip != NULL)
		str_copy(q->ip, ip, sizeof(q->ip));
	q->deadline = deadline;
	q->done = done;
	q->arg = arg;
	LIST_INSERT_HEAD(&dr->reqs, q, link);
	return q;
}

/* The request's end: told (unless forgotten), then freed. */
static void
dreq_end(struct dreq *q, const struct router_result *res)
{
	router_done_fn *done = q->done;
	void *arg = q->arg;

	LIST_REMOVE(q, link);
	free(q);
	if (done != NULL)
		done(res, arg);
}

static void
listed(const struct director_result *dres, void *arg)
{
	struct router_result res;

	result_of(dres, "HOST-LIST", &res);
	dreq_end(arg, &res);
}

static void
gated(const struct director_result *dres, void *arg)
{
	struct router_result res;

	result_of(dres, "DIRECTOR-LIST", &res);
	dreq_end(arg, &res);
}

static int
queue_or_drop(struct dreq *q, int r)
{
	if (r < 0) {
		LIST_REMOVE(q, link);
		free(q);
	}
	return r;
}

static int
dr_list(struct router *r, int64_t deadline, router_done_fn *done, void *arg)
{
	struct director_router *dr = dr_of(r);
	struct dreq *q = dreq_new(dr, ROUTER_UP, NULL, deadline, done, arg);

	if (q == NULL)
		return -ENOMEM;
	return queue_or_drop(q, director_host_list_async(dr->dcl, deadline,
	    listed, q));
}

static int
dr_gate(struct router *r, int64_t deadline, router_done_fn *done, void *arg)
{
	struct director_router *dr = dr_of(r);
	struct dreq *q = dreq_new(dr, ROUTER_UP, NULL, deadline, done, arg);

	if (q == NULL)
		return -ENOMEM;
	return queue_or_drop(q, director_ring_state_async(dr->dcl, deadline,
	    gated, q));
}

static const char *
first_command(enum router_cmd cmd)
{
	switch (cmd) {
	case ROUTER_DOWN:
	case ROUTER_DOWN_FLUSH:
		return "HOST-DOWN";
	case ROUTER_FLUSH:
		return "HOST-FLUSH";
	case ROUTER_UP:
		return "HOST-UP";
	}
	return "";
}

static void commanded(const struct director_result *dres, void *arg);

/* DOWN_FLUSH: HOST-FLUSH after the HOST-DOWN's OK; the down stands. */
static void
flush_after_down(struct dreq *q, const struct director_result *dres)
{
	struct router_result res;
	int r;

	q->flushing = true;
	str_copy(q->down_line, dres->line != NULL ? dres->line : "OK",
	    sizeof(q->down_line));
	r = director_host_cmd_async(q->dr->dcl, "HOST-FLUSH", q->ip,
	    q->deadline, commanded, q);
	if (r == 0)
		return;
	result_of(dres, "HOST-DOWN", &res);
	res.flush_err = strerror(-r);
	dreq_end(q, &res);
}

static void
commanded(const struct director_result *dres, void *arg)
{
	struct dreq *q = arg;
	struct router_result res;
	bool ok = dres->error == 0 && dres->reply == DIRECTOR_REPLY_OK;
	char why[160];

	if (q->cmd == ROUTER_DOWN_FLUSH && !q->flushing && ok) {
		flush_after_down(q, dres);
		return;
	}
	if (!q->flushing) {
		result_of(dres, first_command(q->cmd), &res);
		res.flushed = ok && q->cmd == ROUTER_FLUSH;
		dreq_end(q, &res);
		return;
	}
	/* The HOST-DOWN was OK: so is the request, flushed or not. */
	result_of(dres, "HOST-DOWN", &res);
	res.error = 0;
	res.unreachable = false;
	res.reply = ROUTER_REPLY_OK;
	res.line = q->down_line;
	res.flushed = ok;
	if (!ok) {
		snprintf(why, sizeof(why), "HOST-FLUSH: %s", dres->error < 0 ?
		    dres->err : dres->reply == DIRECTOR_REPLY_OTHER ?
		    dres->line : director_reply_str(dres->reply));
		res.flush_err = why;
	}
	dreq_end(q, &res);
}

static int
dr_command(struct router *r, enum router_cmd cmd, const char *ip,
    int64_t deadline, router_done_fn *done, void *arg)
{
	struct director_router *dr = dr_of(r);
	struct dreq *q = dreq_new(dr, cmd, ip, deadline, done, arg);

	if (q == NULL)
		return -ENOMEM;
	return queue_or_drop(q, director_host_cmd_async(dr->dcl,
	    first_command(cmd), ip, deadline, commanded, q));
}

static void
dr_forget(struct router *r, const void *arg)
{
	struct dreq *q;

	LIST_FOREACH(q, &dr_of(r)->reqs, link)
		if (q->arg == arg)
			q->done = NULL;
}

static size_t
dr_pending(const struct router *r)
{
	return director_client_pending(((const struct director_router *)r)->dcl);
}

static void
dr_free(struct router *r)
{
	struct director_router *dr = dr_of(r);
	struct dreq *q;

	/* The client drops its queue without calling back. */
	director_client_free(dr->dcl);
	while ((q = LIST_FIRST(&dr->reqs)) != NULL) {
		LIST_REMOVE(q, link);
		free(q);
	}
	free(dr);
}

static const struct router_ops director_ops = {
	.kind = ROUTER_DIRECTOR,
	.list = dr_list,
	.gate = dr_gate,
	.command = dr_command,
	.forget = dr_forget,
	.pending = dr_pending,
	.free = dr_free,
};

int
router_director_new(sd_event *event, const char *path, int timeout_ms,
    struct router **out)
{
	struct director_router *dr = calloc(1, sizeof(*dr));
	int r;

	*out = NULL;
	if (dr == NULL)
		return -ENOMEM;
	if ((r = director_client_new(&dr->dcl, event, path, timeout_ms)) < 0) {
		free(dr);
		return r;
	}
	dr->r.ops = &director_ops;
	str_copy(dr->r.target, path, sizeof(dr->r.target));
	LIST_INIT(&dr->reqs);
	*out = &dr->r;
	return 0;
}

struct director_client *
router_director_client(struct router *r)
{
	return r->ops == &director_ops ? dr_of(r)->dcl : NULL;
}
