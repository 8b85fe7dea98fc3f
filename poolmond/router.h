/*
 * The router: whatever sends users to backends, and what poolmond reads
 * the pool from and acts on. Two drivers: a Dovecot director (its admin
 * socket, director.c and router_director.c) and the Lua director of
 * Dovecot 2.4 (its SQL tables, luadir*.c). The engine (scan.c, actions.c)
 * sees only this interface: list the pool, ask whether the router can act
 * now, take a backend down (with or without a flush), bring it up. Every
 * request has a deadline and ends in its callback, from the event loop,
 * never from the call itself; nothing here blocks the loop.
 */
#ifndef POOLMOND_ROUTER_H
#define POOLMOND_ROUTER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ROUTER_TAG_MAX		128
#define ROUTER_MAX_HOSTS	65536
/* Members of a director ring a gate reports, at most. */
#define ROUTER_RING_MAX		64
/* A backend's router state where the router has none (a director). */
#define ROUTER_STATE_NONE	(-1)
/* The Lua director's state a backend poolmond took down has. */
#define ROUTER_STATE_POOLMON	2

enum router_kind {
	ROUTER_DIRECTOR,
	ROUTER_LUA_DIRECTOR,
};

/* Who took a host that is down out of service, as the router says. */
enum router_mark {
	ROUTER_MARK_UNKNOWN,	/* the router does not say (a director) */
	ROUTER_MARK_POOLMON,	/* poolmond (the Lua director's state 2) */
	ROUTER_MARK_OTHER,	/* someone else (any other non-zero state) */
};

/* One backend of the pool, as the router lists it. */
struct router_host {
	char ip[INET6_ADDRSTRLEN];
	bool up;			/* may get new users */
	enum router_mark mark;		/* of a host that is down */
	bool has_vhosts;		/* vhost_count means something */
	unsigned int vhost_count;
	unsigned int user_count;
	/* Not owned: the host list's tags, a parsed line, or a literal. */
	const char *tag;
	time_t last_updown_change;	/* 0: not known */
	int state;			/* the router's own; ROUTER_STATE_NONE */
};

/*
 * A listed pool. Its hosts' tags point into tags, which holds each
 * distinct tag once: thousands of hosts share a handful of tags.
 */
struct router_host_list {
	struct router_host *hosts;
	size_t n;
	char *tags;
};

void router_host_list_free(struct router_host_list *list);

/* What the policy asks of the router for one backend. */
enum router_cmd {
	ROUTER_DOWN,		/* no new users on it */
	ROUTER_DOWN_FLUSH,	/* that, and its users moved (one step where
				 * the router can) */
	ROUTER_FLUSH,		/* a flush owed since an earlier down */
	ROUTER_UP,		/* new users again */
};

const char *router_cmd_str(enum router_cmd cmd);

enum router_reply {
	ROUTER_REPLY_OK,
	ROUTER_REPLY_NOTFOUND,	/* no such backend */
	ROUTER_REPLY_BUSY,	/* it is being changed already */
	ROUTER_REPLY_TIMEOUT,	/* the router itself timed out (ring sync) */
	/* Someone else changed it meanwhile (an operator's state): their
	 * change stands, poolmond's was not made. */
	ROUTER_REPLY_CONFLICT,
	ROUTER_REPLY_OTHER,	/* anything else: a temporary failure */
};

const char *router_reply_str(enum router_reply reply);

struct router_result {
	int error;		/* 0, or -errno with err saying why */
	bool unreachable;	/* error: the router could not be reached */
	const char *err;
	/* What was asked, in the router's own words, for logs ("HOST-DOWN",
	 * "UPDATE backends"); the failed step of a request of several. */
	const char *what;
	/* Commands: */
	enum router_reply reply;
	const char *line;	/* what the router said, printable */
	/* ROUTER_DOWN_FLUSH, ROUTER_FLUSH: the flush is done too (false:
	 * still owed, e.g. a kick that failed; the down stands) */
	bool flushed;
	/* ROUTER_DOWN_FLUSH done but not flushed: why the flush is not */
	const char *flush_err;
	/* Listing: the callback may take it (then zero it). */
	struct router_host_list *list;
	/* Gate: whether commands may be sent now, and what the router's
	 * state is ("ring synced", "read-write", "read-only: a standby") */
	bool can_act;
	const char *act_state;
	/* Gate, a director's ring: its members (itself included), at most
	 * ROUTER_RING_MAX. */
	const char *members[ROUTER_RING_MAX];
	size_t nmembers;
};

typedef void router_done_fn(const struct router_result *res, void *arg);

struct router;

/*
 * A driver: its functions, all but free() and pending() queued requests
 * that end in done(res, arg) from the event loop before their deadline
 * (monotonic ms, now_ms(); 0: the router's own timeout from when the
 * requests queued before it are done). 0 or -errno (then done is never
 * called).
 */
struct router_ops {
	enum router_kind kind;
	int (*list)(struct router *r, int64_t deadline, router_done_fn *done,
	    void *arg);
	int (*gate)(struct router *r, int64_t deadline, router_done_fn *done,
	    void *arg);
	int (*command)(struct router *r, enum router_cmd cmd, const char *ip,
	    int64_t deadline, router_done_fn *done, void *arg);
	/* Queued requests with this arg end without calling back. */
	void (*forget)(struct router *r, const void *arg);
	size_t (*pending)(const struct router *r);
	void (*free)(struct router *r);
};

/* Every driver's router begins with this. */
struct router {
	const struct router_ops *ops;
	/* What it is, for logs and status: a socket path, or a DSN
	 * without any password. */
	char target[512];
};

static inline int
router_list(struct router *r, int64_t deadline, router_done_fn *done,
    void *arg)
{
	return r->ops->list(r, deadline, done, arg);
}

static inline int
router_gate(struct router *r, int64_t deadline, router_done_fn *done,
    void *arg)
{
	return r->ops->gate(r, deadline, done, arg);
}

static inline int
router_command(struct router *r, enum router_cmd cmd, const char *ip,
    int64_t deadline, router_done_fn *done, void *arg)
{
	return r->ops->command(r, cmd, ip, deadline, done, arg);
}

static inline void
router_forget(struct router *r, const void *arg)
{
	r->ops->forget(r, arg);
}

static inline size_t
router_pending(const struct router *r)
{
	return r->ops->pending(r);
}

static inline void
router_free(struct router *r)
{
	if (r != NULL)
		r->ops->free(r);
}

static inline enum router_kind
router_kind(const struct router *r)
{
	return r->ops->kind;
}

/* "director" or "lua-director", as status shows it. */
const char *router_kind_str(enum router_kind kind);

/*
 * The router as poolmond last found it: the scan keeps its reachability,
 * the actions its gate, status reads both.
 */
struct router_view {
	bool down;		/* the last listing failed */
	char error[256];	/* why */
	bool can_act;		/* as the gate last said */
	char act_state[64];	/* ring synced, read-write, read-only... */
	/* Not asked since the router was last unreachable. */
	bool gate_unknown;
	bool gate_closed_noted;	/* logged once per episode */
};

#endif
