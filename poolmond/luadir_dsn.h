/*
 * The Lua director's database as --lua-director names it (luadir.h):
 *
 *   sqlite:PATH                     an SQLite file (an absolute path)
 *   postgresql://[user@]host[:port]/dbname[?options]
 *                                   libpq's URI (postgres:// too), handed
 *                                   to libpq as it is
 *   mariadb://[user@]host[:port]/dbname[?option_file=PATH]
 *                                   (mysql:// too)
 *
 * Never a password: libpq reads it from its password file (~/.pgpass,
 * PGPASSFILE, ?passfile=PATH), MariaDB's client library from an option
 * file's [client] or [poolmond] group (?option_file=PATH, else the default
 * option files: /etc/mysql/my.cnf, ~/.my.cnf...). Parsed without touching
 * the network or a library.
 */
#ifndef POOLMOND_LUADIR_DSN_H
#define POOLMOND_LUADIR_DSN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

enum luadir_kind {
	LUADIR_SQLITE,
	LUADIR_POSTGRESQL,
	LUADIR_MARIADB,
};

#define LUADIR_DSN_MAX		512	/* struct router's target */
#define LUADIR_HOST_MAX		256

struct luadir_dsn {
	enum luadir_kind kind;
	/* For logs and status: the DSN as given (it holds no password). */
	char target[LUADIR_DSN_MAX];
	char path[PATH_MAX];		/* SQLite */
	/*
	 * PostgreSQL and MariaDB: the host to connect to (decoded; for
	 * PostgreSQL the query's host= if given), "" for the library's
	 * default (a socket). needs_lookup: a name, resolved by poolmond on
	 * its loop, as the libraries would resolve it blocking.
	 */
	char host[LUADIR_HOST_MAX];
	bool needs_lookup;
	unsigned int port;		/* 0: the default */
	char user[128];			/* MariaDB; "": the option file's */
	char dbname[128];		/* MariaDB */
	char option_file[PATH_MAX];	/* MariaDB; "": the default files */
};

/* 0, or -EINVAL with err naming --lua-director and what is wrong. */
int luadir_dsn_parse(const char *dsn, struct luadir_dsn *out, char *err,
    size_t errlen);

const char *luadir_kind_str(enum luadir_kind kind);

#endif
