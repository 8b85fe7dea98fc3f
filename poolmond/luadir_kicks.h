/*
 * The kicks every monitor owes its own proxies: when a backend it lists
 * goes out of service (state 0 -> 2 by any monitor, or an operator's
 * state), whoever took it there, the sessions this poolmond's proxies
 * hold to it are kicked, once per such transition; a kick that fails is
 * tried again at the next listings until it succeeds or the backend is
 * back in service. A flush this poolmond made and kicked for counts.
 */
#ifndef POOLMOND_LUADIR_KICKS_H
#define POOLMOND_LUADIR_KICKS_H

#include <stdbool.h>
#include <stddef.h>

#include "kick.h"
#include "luadir_rows.h"

/* Kicks of backends gone out of service run at once, at most. */
#define LUADIR_KICKS_RUNNING	4

struct luadir_kicks;

/* timeout_ms bounds each kick. 0 or -ENOMEM. */
int luadir_kicks_new(struct kicker *kicker, int timeout_ms,
    struct luadir_kicks **out);
/* Cancels the kicks under way. */
void luadir_kicks_free(struct luadir_kicks *t);

/*
 * A new listing: each backend's state against the last listing's, kicks
 * started for those owed. pool must live until the next call (it names
 * the backends' host strings).
 */
void luadir_kicks_listed(struct luadir_kicks *t,
    const struct luadir_pool *pool);
/* This poolmond took ip out of service; kicked: its sessions were. */
void luadir_kicks_down(struct luadir_kicks *t, const char *ip, bool kicked);
/* This poolmond brought ip back into service. */
void luadir_kicks_up(struct luadir_kicks *t, const char *ip);

/* Backends whose kick is owed or under way (tests). */
size_t luadir_kicks_owed(const struct luadir_kicks *t);

/* The host strings of a backend: its rows' hostnames, each once. */
size_t luadir_backend_hosts(const struct luadir_pool *pool,
    const struct luadir_backend *b, const char **hosts, size_t max);

#endif
