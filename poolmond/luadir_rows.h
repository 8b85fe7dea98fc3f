/*
 * The Lua director's backends table as poolmond sees it: rows read from
 * the database (bounded and checked one by one), grouped into backends by
 * address, and the pool the engine gets (struct router_host_list).
 *
 *   backends(id, hostname, hostip, state), user_backend(backend_id, user)
 *
 * Several ids with the same address are one backend: in service when
 * every row's state is 0. A row whose hostip is empty is checked at its
 * hostname (an address, or a name resolved on the loop). Pure: no I/O.
 */
#ifndef POOLMOND_LUADIR_ROWS_H
#define POOLMOND_LUADIR_ROWS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router.h"

/* hostname and hostip are varchar(255) in the published schema. */
#define LUADIR_NAME_MAX		255
/* A listing's columns: id, hostname, hostip, state, users. */
#define LUADIR_LIST_COLS	5

struct luadir_row {
	int32_t id;
	int32_t state;
	uint32_t users;			/* its user_backend rows */
	char hostname[LUADIR_NAME_MAX + 1];
	char hostip[INET6_ADDRSTRLEN];	/* canonical; "" if none */
	/* Where it is checked: hostip, else hostname when that is an
	 * address, else what hostname resolved to; "" while unknown. */
	char addr[INET6_ADDRSTRLEN];
};

/*
 * One row from its text cells (NULL: SQL NULL) and their lengths, in the
 * listing's order (users may be absent: ncells 4). 0, or -EINVAL with *why.
 */
int luadir_row_parse(const char *const *cells, const size_t *lens,
    size_t ncells, struct luadir_row *row, const char **why);

/* A hostname poolmond may pass to doveadm and resolve. */
bool luadir_hostname_ok(const char *name);

struct luadir_backend {
	char ip[INET6_ADDRSTRLEN];
	size_t first, n;		/* its rows in the pool's rows */
	bool up;			/* every row's state is 0 */
	enum router_mark mark;
	int state;			/* as status shows it */
	unsigned int users;
};

/* A listing's backends. */
struct luadir_pool {
	struct luadir_row *rows;	/* by address, then id */
	size_t nrows;
	struct luadir_backend *backends;	/* by address */
	size_t nbackends;
	size_t unplaced;		/* rows dropped: no address known */
};

/*
 * Group rows (taken: freed here on failure too) by their addr; rows with
 * none are dropped and counted. 0 or -ENOMEM.
 */
int luadir_pool_build(struct luadir_pool *pool, struct luadir_row *rows,
    size_t nrows);
void luadir_pool_free(struct luadir_pool *pool);
const struct luadir_backend *luadir_pool_find(const struct luadir_pool *pool,
    const char *ip);
/* The pool as the engine gets it. 0 or -ENOMEM. */
int luadir_pool_list(const struct luadir_pool *pool,
    struct router_host_list *out);

/*
 * A backend's up, mark and shown state from its rows' states: up iff
 * every one is 0; shown: the operator's (neither 0 nor 2) of the first
 * row that has one, else 2 if a row has it, else 0.
 */
void luadir_judge_rows(const struct luadir_row *rows, size_t n, bool *up,
    enum router_mark *mark, int *shown);

#endif
