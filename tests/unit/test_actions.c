/*
 * The actions against a router whose answers the test gives, one at a
 * time and in the order it chooses, as a director's come over the event
 * loop: what a hold, a release and a scan's judgement send when their
 * commands cross.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "config.h"
#include "metrics.h"
#include "pool.h"
#include "state.h"
#include "util.h"
#include "unit.h"

#define MAX_REQUESTS	16

/* A request the router was given, waiting for the test to answer it. */
struct request {
	bool gate;		/* else a command */
	enum router_cmd cmd;
	char ip[64];
	router_done_fn *done;
	void *arg;
	bool answered;
};

struct test_router {
	struct router r;	/* first: what actions.c is given */
	struct request req[MAX_REQUESTS];
	size_t n;
};

static int
tr_list(struct router *r, int64_t deadline, router_done_fn *done, void *arg)
{
	(void)r;
	(void)deadline;
	(void)done;
	(void)arg;
	return -ENOTSUP;
}

static struct request *
tr_add(struct router *r, router_done_fn *done, void *arg)
{
	struct test_router *t = (struct test_router *)r;
	struct request *q;

	if (t->n == MAX_REQUESTS)
		return NULL;
	q = &t->req[t->n++];
	memset(q, 0, sizeof(*q));
	q->done = done;
	q->arg = arg;
	return q;
}

static int
tr_gate(struct router *r, int64_t deadline, router_done_fn *done, void *arg)
{
	struct request *q = tr_add(r, done, arg);

	(void)deadline;
	if (q == NULL)
		return -ENOMEM;
	q->gate = true;
	return 0;
}

static int
tr_command(struct router *r, enum router_cmd cmd, const char *ip,
    int64_t deadline, router_done_fn *done, void *arg)
{
	struct request *q = tr_add(r, done, arg);

	(void)deadline;
	if (q == NULL)
		return -ENOMEM;
	q->cmd = cmd;
	str_copy(q->ip, ip, sizeof(q->ip));
	return 0;
}

static void
tr_forget(struct router *r, const void *arg)
{
	(void)r;
	(void)arg;
}

static size_t
tr_pending(const struct router *r)
{
	const struct test_router *t = (const struct test_router *)r;
	size_t i, n = 0;

	for (i = 0; i < t->n; i++)
		n += !t->req[i].answered;
	return n;
}

static void
tr_free(struct router *r)
{
	(void)r;
}

static const struct router_ops tr_ops = {
	.kind = ROUTER_DIRECTOR,
	.list = tr_list,
	.gate = tr_gate,
	.command = tr_command,
	.forget = tr_forget,
	.pending = tr_pending,
	.free = tr_free,
};

static struct config cfg;
static struct pool pool;
static struct state state;
static struct router_view view;
static struct metrics metrics;
static struct test_router router;
static struct actions acts;

static struct backend *
add_backend(const char *ip)
{
	struct backend *b = &pool.backends[pool.n++];

	str_copy(b->dh.ip, ip, sizeof(b->dh.ip));
	b->dh.tag = "";
	b->dh.up = true;
	b->owner = OWNER_NONE;
	b->health = HEALTH_UNCHECKED;
	if (backend_init_ports(b, pool.nports) < 0)
		abort();
	return b;
}

static void
setup(size_t n)
{
	memset(&router, 0, sizeof(router));
	router.r.ops = &tr_ops;
	config_defaults(&cfg);
	cfg.nports = 1;
	cfg.ports[0] = (struct portspec){ 143, PROTO_IMAP, false };
	memset(&pool, 0, sizeof(pool));
	pool.nports = cfg.nports;
	pool.backends = calloc(n, sizeof(*pool.backends));
	if (pool.backends == NULL)
		abort();
	memset(&state, 0, sizeof(state));
	memset(&view, 0, sizeof(view));
	view.can_act = true;
	memset(&metrics, 0, sizeof(metrics));
	memset(&acts, 0, sizeof(acts));
	acts.cfg = &cfg;
	acts.pool = &pool;
	acts.state = &state;
	acts.router = &router.r;
	acts.view = &view;
	acts.metrics = &metrics;
	acts.policy = (struct policy){ .fall = cfg.fall, .rise = cfg.rise,
	    .max_down_pct = 100 };
}

static void
teardown(void)
{
	size_t i;

	actions_shutdown(&acts);
	for (i = 0; i < pool.n; i++)
		backend_free(&pool.backends[i], pool.nports);
	free(pool.backends);
	state_free(&state);
}

/* The oldest request not yet answered, or NULL. */
static struct request *
next_request(void)
{
	size_t i;

	for (i = 0; i < router.n; i++)
		if (!router.req[i].answered)
			return &router.req[i];
	return NULL;
}

/* Answer q as a router that can act and did what it was asked; a
 * request that is not there fails the case, not the program. */
static void
answer_ok(struct request *q)
{
	struct router_result res = { .reply = ROUTER_REPLY_OK, .line = "OK",
	    .can_act = true, .act_state = "ring synced", .flushed = true };

	CHECK(q != NULL);
	if (q == NULL)
		return;
	res.what = q->gate ? "gate" : router_cmd_str(q->cmd);
	q->answered = true;
	q->done(&res, q->arg);
}

/* Commands sent for ip, of any kind. */
static size_t
commands_for(const char *ip)
{
	size_t i, n = 0;

	for (i = 0; i < router.n; i++)
		n += !router.req[i].gate && strcmp(router.req[i].ip, ip) == 0;
	return n;
}

static void
on_hold(void *arg, int r, const char *err)
{
	int *result = arg;

	(void)err;
	*result = r;
}

/* A scan's result for b, as scan.c marks it. */
static void
result(struct backend *b, enum health health, uint32_t scan_id)
{
	b->health = health;
	b->fresh = true;
	b->result_scan = scan_id;
}

/*
 * One backend, held and yet up (a director restarted, say), with a
 * healthy result judged: its "down again" decided, the batch's gate
 * asked.
 */
static struct backend *
held_and_up(void)
{
	struct backend *b;

	setup(1);
	b = add_backend("10.0.0.2");
	b->owner = OWNER_HOLD;
	CHECK(state_set(&state, "10.0.0.2", OWNER_HOLD,
	    &(struct hold_info){ .reason = "disk swap" }) == 0);
	result(b, HEALTH_OK, 1);
	actions_judge(&acts, 1, false);
	CHECK(b->action == ACTION_HOLD_DOWN);
	return b;
}

/*
 * A hold's HOST-DOWN is on its way when a scan's result for the held
 * host, still up as last listed, is judged: "held but up, down again",
 * queued behind another backend's down. The hold's command is answered
 * first; when the batch comes to the held host, it is down already, by
 * the hold: no second HOST-DOWN.
 */
static void
test_hold_crossing_a_batch(void)
{
	struct backend *a, *b;
	struct request *q;
	char err[256];
	int held = 1;

	setup(2);
	a = add_backend("10.0.0.1");
	b = add_backend("10.0.0.2");
	CHECK(actions_hold(&acts, "10.0.0.2", "disk swap", 0, false, on_hold,
	    &held, err, sizeof(err)) == 1);
	CHECK(b->owner == OWNER_HOLD);
	/* The hold asks the gate, then sends its down. */
	q = next_request();
	CHECK(q != NULL && q->gate);
	answer_ok(q);
	q = next_request();
	CHECK(q != NULL && !q->gate && q->cmd == ROUTER_DOWN &&
	    strcmp(q->ip, "10.0.0.2") == 0);

	/* A scan's results while that down is on its way. */
	result(a, HEALTH_FAILED, 1);
	result(b, HEALTH_OK, 1);
	actions_judge(&acts, 1, false);
	CHECK(a->action == ACTION_DOWN);
	CHECK(b->action == ACTION_HOLD_DOWN);

	/* The hold's down answered, then the batch's gate. */
	answer_ok(next_request());
	CHECK(held == 0);
	CHECK(!b->dh.up);
	q = next_request();
	CHECK(q != NULL && q->gate);
	answer_ok(q);
	/* The batch's down of the failed backend. */
	q = next_request();
	CHECK(q != NULL && !q->gate && strcmp(q->ip, "10.0.0.1") == 0);
	answer_ok(q);
	CHECK(!a->dh.up);
	/* Nothing more: the held host is down already. */
	CHECK(next_request() == NULL);
	CHECK(commands_for("10.0.0.2") == 1);
	CHECK(b->action == ACTION_NONE);
	CHECK(!actions_busy(&acts));
	teardown();
}

/* The other way round, the held host's down still owed: the batch
 * takes it down again. */
static void
test_held_and_up_down_again(void)
{
	struct backend *b;
	struct request *q;

	b = held_and_up();
	q = next_request();
	CHECK(q != NULL && q->gate);
	answer_ok(q);
	q = next_request();
	CHECK(q != NULL && !q->gate && strcmp(q->ip, "10.0.0.2") == 0 &&
	    (q->cmd == ROUTER_DOWN || q->cmd == ROUTER_DOWN_FLUSH));
	answer_ok(q);
	CHECK(!b->dh.up);
	CHECK(commands_for("10.0.0.2") == 1);
	teardown();
}

/*
 * Released before the batch comes to it: the release wins, no HOST-DOWN
 * for a host the operator handed back; poolmond's now, it stays up.
 */
static void
test_release_crossing_a_batch(void)
{
	struct backend *b;
	struct request *q;
	char err[256];

	b = held_and_up();
	q = next_request();
	CHECK(q != NULL && q->gate);
	CHECK(actions_release(&acts, "10.0.0.2", err, sizeof(err)) == 0);
	CHECK(b->owner == OWNER_POOLMOND);
	answer_ok(q);
	CHECK(next_request() == NULL);
	CHECK(commands_for("10.0.0.2") == 0);
	CHECK(b->dh.up);
	CHECK(b->action == ACTION_NONE);
	CHECK(!actions_busy(&acts));
	teardown();
}

/*
 * Two backends, 10.0.0.2 failed: the batch's gate answered and its
 * HOST-DOWN (with flush) of 10.0.0.2 on its way, returned.
 */
static struct request *
batch_down_on_its_way(struct backend **b)
{
	struct request *down;

	setup(2);
	(void)add_backend("10.0.0.1");
	*b = add_backend("10.0.0.2");
	result(&pool.backends[0], HEALTH_OK, 1);
	result(*b, HEALTH_FAILED, 1);
	actions_judge(&acts, 1, false);
	CHECK((*b)->action == ACTION_DOWN);
	answer_ok(next_request());	/* the batch's gate */
	down = next_request();
	CHECK(down != NULL && !down->gate && down->cmd == ROUTER_DOWN_FLUSH &&
	    strcmp(down->ip, "10.0.0.2") == 0);
	return down;
}

/* A hold of 10.0.0.2 taken, its gate answered at once. */
static void
hold_answered(bool flush, int *held)
{
	struct request *q;
	char err[256];

	CHECK(actions_hold(&acts, "10.0.0.2", "disk swap", 0, flush, on_hold,
	    held, err, sizeof(err)) == 1);
	q = &router.req[router.n - 1];
	CHECK(q->gate && !q->answered);
	answer_ok(q);
}

/*
 * A hold for a host whose HOST-DOWN (and flush) the batch has on its way:
 * the director answers the hold's gate before the batch's command ends
 * (its HOST-FLUSH follows the HOST-DOWN's OK, behind the gate), the host
 * still up as last listed. The hold waits for the batch's command and
 * sends no second HOST-DOWN; with --flush, none either when the batch
 * flushed.
 */
static void
hold_during_batch_down(bool flush)
{
	struct backend *b;
	struct request *down = batch_down_on_its_way(&b);
	int held = 1;

	hold_answered(flush, &held);
	/* Nothing sent: the batch's down is on its way. */
	CHECK(commands_for("10.0.0.2") == 1);
	CHECK(held == 1);
	answer_ok(down);
	CHECK(!b->dh.up);
	CHECK(held == 0);
	CHECK(next_request() == NULL);
	CHECK(commands_for("10.0.0.2") == 1);
	CHECK(b->owner == OWNER_HOLD);
	CHECK(!actions_busy(&acts));
	teardown();
}

static void
test_hold_during_batch_down(void)
{
	hold_during_batch_down(false);
}

static void
test_hold_flush_during_batch_down(void)
{
	hold_during_batch_down(true);
}

/* The batch's down failed: the hold sends its own. */
static void
test_hold_after_batch_down_failed(void)
{
	struct router_result fail = { .reply = ROUTER_REPLY_OTHER,
	    .line = "FAIL", .can_act = true, .act_state = "ring synced",
	    .what = "HOST-DOWN" };
	struct backend *b;
	struct request *q, *down = batch_down_on_its_way(&b);
	int held = 1;

	hold_answered(false, &held);
	if (down == NULL)
		return;
	down->answered = true;
	down->done(&fail, down->arg);
	CHECK(b->dh.up);
	q = next_request();
	CHECK(q != NULL && !q->gate && q->cmd == ROUTER_DOWN &&
	    strcmp(q->ip, "10.0.0.2") == 0);
	answer_ok(q);
	CHECK(held == 0);
	CHECK(!b->dh.up);
	CHECK(commands_for("10.0.0.2") == 2);
	teardown();
}

int
main(void)
{
	RUN(test_hold_crossing_a_batch);
	RUN(test_held_and_up_down_again);
	RUN(test_release_crossing_a_batch);
	RUN(test_hold_during_batch_down);
	RUN(test_hold_flush_during_batch_down);
	RUN(test_hold_after_batch_down_failed);
	return UNIT_EXIT();
}
