/*
 * The router of Dovecot 2.4's Lua director (router.h): the pool read from
 * its SQL tables, backends taken down and brought up by changing their
 * state there, flushes made by deleting their users' rows and kicking
 * their sessions on the proxies beside poolmond.
 *
 *   backends(id, hostname, hostip, state)   state 0: in service; 2: taken
 *                                           down by poolmond; any other:
 *                                           the operator's, never changed
 *   user_backend(backend_id, user)          a user's backend
 *
 * list     every row, grouped by address into backends (luadir_rows.h);
 *          a backend that went out of service since the last listing,
 *          whoever took it out, has its sessions kicked on this
 *          poolmond's proxies, once (retried at later listings while the
 *          kick fails)
 * gate     whether the database takes writes
 * commands in one transaction each, compare-and-set (luadir_job.h):
 *          ROUTER_DOWN        state 0 -> 2
 *          ROUTER_DOWN_FLUSH  that, the backend's user_backend rows
 *                             deleted, then its sessions kicked (kick.h)
 *          ROUTER_FLUSH       rows deleted (state still non-0) and kick
 *          ROUTER_UP          state 2 -> 0
 *          a backend whose state is the operator's: CONFLICT, unchanged
 *
 * Requests run one at a time in the order queued, each ended by its
 * deadline: the database is never waited for past it, nor on the loop.
 */
#ifndef POOLMOND_LUADIR_H
#define POOLMOND_LUADIR_H

#include <stddef.h>

#include <systemd/sd-event.h>

#include "router.h"

/*
 * Check a DSN without connecting: sqlite:PATH,
 * postgresql://[user@]host[:port]/dbname[?options] (libpq's URI,
 * postgres:// too), mariadb://[user@]host[:port]/dbname[?option_file=PATH]
 * (mysql:// too). 0, or -EINVAL with err naming --lua-director and what is
 * wrong; a DSN holding a password is refused with an error saying where
 * the password goes (libpq's password file: ~/.pgpass, PGPASSFILE or
 * ?passfile=PATH; MariaDB: an option file's [client] group, named by
 * ?option_file=PATH or a default one such as ~/.my.cnf).
 */
int luadir_dsn_check(const char *dsn, char *err, size_t errlen);

/*
 * The driver. proxies: the --proxy=CONF files (Dovecot configurations of
 * the proxies beside this poolmond) whose sessions are kicked; none: no
 * kick (a flush is done once its rows are deleted). timeout_ms bounds
 * each request (a request's deadline 0), each doveadm and each lookup.
 * Loads the database's client library at run time (dlib.h): a missing one
 * is an error naming --lua-director and the package to install. 0 or
 * -errno with err.
 */
int luadir_new(sd_event *event, const char *dsn, const char *const *proxies,
    size_t nproxies, int timeout_ms, struct router **out, char *err,
    size_t errlen);

#endif
