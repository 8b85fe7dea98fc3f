/*
 * --lua-director's DSN, checked and split without connecting. A password
 * is refused before anything else is looked at, and no error message ever
 * quotes a DSN that held one.
 */
#include "luadir_dsn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define OPT "--lua-director"

#define PG_PASSWORD_HINT "put it in libpq's password file (~/.pgpass, the " \
	"PGPASSFILE environment variable, or ?passfile=PATH)"
#define MY_PASSWORD_HINT "put it in a MariaDB option file's [client] " \
	"group (password=...), named by ?option_file=PATH or one of the " \
	"default files (/etc/mysql/my.cnf, ~/.my.cnf)"

const char *
luadir_kind_str(enum luadir_kind kind)
{
	switch (kind) {
	case LUADIR_SQLITE: return "SQLite";
	case LUADIR_POSTGRESQL: return "PostgreSQL";
	case LUADIR_MARIADB: return "MariaDB";
	}
	return "?";
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* src[0..len) with %XX decoded into dst; a NUL or a bad escape: -EINVAL. */
static int
uri_decode(const char *src, size_t len, char *dst, size_t dstlen)
{
	size_t i, o = 0;
	int hi, lo;
	char c;

	for (i = 0; i < len; i++) {
		c = src[i];
		if (c == '%') {
			if (i + 2 >= len || (hi = hexval(src[i + 1])) < 0 ||
			    (lo = hexval(src[i + 2])) < 0 || hi * 16 + lo == 0)
				return -EINVAL;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= dstlen)
			return -ENAMETOOLONG;
		dst[o++] = c;
	}
	if (dstlen == 0)
		return -ENAMETOOLONG;
	dst[o] = '\0';
	return 0;
}

/* Printable ASCII only; spaces only where allowed (a file's path). */
static bool
printable(const char *s, bool spaces)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e || (c == ' ' && !spaces))
			return false;
	}
	return true;
}

static bool
is_ip(const char *s)
{
	char canon[64];

	return ip_canonical(s, canon, sizeof(canon)) == 0;
}

/* The parts of scheme://[userinfo@]hostport[/path][?query]. */
struct uri_parts {
	const char *userinfo;
	size_t userinfo_len;
	bool has_userinfo;
	const char *hostport;
	size_t hostport_len;
	const char *path;		/* after the '/', or NULL */
	size_t path_len;
	const char *query;		/* after the '?', or NULL */
};

static void
uri_split(const char *rest, struct uri_parts *u)
{
	const char *q = strchr(rest, '?');
	size_t before = q != NULL ? (size_t)(q - rest) : strlen(rest);
	const char *slash = memchr(rest, '/', before);
	size_t auth_len = slash != NULL ? (size_t)(slash - rest) : before;
	const char *at = memchr(rest, '@', auth_len);

	memset(u, 0, sizeof(*u));
	u->query = q != NULL ? q + 1 : NULL;
	if (slash != NULL) {
		u->path = slash + 1;
		u->path_len = before - auth_len - 1;
	}
	if (at != NULL) {
		u->has_userinfo = true;
		u->userinfo = rest;
		u->userinfo_len = (size_t)(at - rest);
		u->hostport = at + 1;
		u->hostport_len = auth_len - u->userinfo_len - 1;
	} else {
		u->hostport = rest;
		u->hostport_len = auth_len;
	}
}

static int
parse_port(const char *s, size_t len, unsigned int *port, char *err,
    size_t errlen)
{
	char buf[8];
	long v;

	if (len == 0 || len >= sizeof(buf))
		return err_set(err, errlen, -EINVAL, "%s: bad port", OPT);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (parse_long(buf, 1, 65535, &v) < 0)
		return err_set(err, errlen, -EINVAL, "%s: bad port '%s'", OPT,
		    buf);
	*port = (unsigned int)v;
	return 0;
}

/* host[:port], [v6][:port] or "" (PostgreSQL: the default socket). */
static int
parse_hostport(const char *s, size_t len, struct luadir_dsn *d, char *err,
    size_t errlen)
{
	const char *host = s, *colon, *end = s + len;
	size_t hlen;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL)
			return err_set(err, errlen, -EINVAL, "%s: no ']' after "
			    "an IPv6 address", OPT);
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1 < end ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return err_set(err, errlen, -EINVAL, "%s: junk after "
			    "']'", OPT);
	} else {
		colon = memchr(s, ':', len);
		hlen = colon != NULL ? (size_t)(colon - s) : len;
	}
	if (memchr(host, ',', hlen) != NULL)
		return err_set(err, errlen, -EINVAL, "%s: one host only",
		    OPT);
	if (uri_decode(host, hlen, d->host, sizeof(d->host)) < 0)
		return err_set(err, errlen, -EINVAL, "%s: bad host", OPT);
	if (s[0] == '[' && !is_ip(d->host))
		return err_set(err, errlen, -EINVAL, "%s: '%s' in brackets is "
		    "not an IPv6 address", OPT, d->host);
	if (colon != NULL)
		return parse_port(colon + 1, (size_t)(end - colon - 1),
		    &d->port, err, errlen);
	return 0;
}

static int
parse_sqlite(const char *path, struct luadir_dsn *d, char *err, size_t errlen)
{
	d->kind = LUADIR_SQLITE;
	if (path[0] != '/')
		return err_set(err, errlen, -EINVAL, "%s: sqlite:PATH needs an "
		    "absolute path", OPT);
	if (!printable(path, true))
		return err_set(err, errlen, -EINVAL, "%s: the path has a "
		    "control or non-ASCII character", OPT);
	if (str_copy(d->path, path, sizeof(d->path)) >= sizeof(d->path))
		return err_set(err, errlen, -EINVAL, "%s: path too long", OPT);
	return 0;
}

/* Each key=value of a URI's query through fn, decoded. */
typedef int query_fn(const char *key, const char *value, void *ctx,
    char *err, size_t errlen);

static int
walk_query(const char *query, query_fn *fn, void *ctx, char *err,
    size_t errlen)
{
	char key[64], value[PATH_MAX];
	const char *p = query, *amp, *eq;
	size_t len;
	int r;

	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', len);
		if (eq == NULL || eq == p)
			return err_set(err, errlen, -EINVAL, "%s: the options "
			    "are key=value pairs joined by '&'", OPT);
		if (uri_decode(p, (size_t)(eq - p), key, sizeof(key)) < 0 ||
		    uri_decode(eq + 1, len - (size_t)(eq - p) - 1, value,
		    sizeof(value)) < 0)
			return err_set(err, errlen, -EINVAL, "%s: bad option "
			    "(escape, or too long)", OPT);
		if ((r = fn(key, value, ctx, err, errlen)) < 0)
			return r;
		p = amp != NULL ? amp + 1 : NULL;
	}
	return 0;
}

/* A password among the options, however its key is escaped. */
static int
no_password(const char *key, const char *value, void *ctx, char *err,
    size_t errlen)
{
	const char *hint = ctx;

	(void)value;
	if (strcasecmp(key, "password") == 0)
		return err_set(err, errlen, -EINVAL, "%s: the DSN holds a "
		    "password; %s", OPT, hint);
	return 0;
}

struct pg_options {
	struct luadir_dsn *d;
	bool hostaddr;
};

static int
pg_option(const char *key, const char *value, void *ctx, char *err,
    size_t errlen)
{
	struct pg_options *o = ctx;
	struct luadir_dsn *d = o->d;

	if (strcmp(key, "host") == 0) {
		if (strchr(value, ',') != NULL)
			return err_set(err, errlen, -EINVAL, "%s: one host "
			    "only", OPT);
		if (str_copy(d->host, value, sizeof(d->host)) >=
		    sizeof(d->host))
			return err_set(err, errlen, -EINVAL, "%s: host too "
			    "long", OPT);
	} else if (strcmp(key, "hostaddr") == 0)
		o->hostaddr = true;
	else if (strcmp(key, "port") == 0)
		return parse_port(value, strlen(value), &d->port, err, errlen);
	return 0;
}

/* A password is looked for before anything else. */
static int
refuse_password(const struct uri_parts *u, const char *hint, char *err,
    size_t errlen)
{
	if (u->has_userinfo && memchr(u->userinfo, ':', u->userinfo_len) !=
	    NULL)
		return err_set(err, errlen, -EINVAL, "%s: the DSN holds a "
		    "password; %s", OPT, hint);
	if (u->query == NULL)
		return 0;
	return walk_query(u->query, no_password, (void *)hint, err, errlen);
}

static int
parse_postgresql(const char *rest, struct luadir_dsn *d, char *err,
    size_t errlen)
{
	struct pg_options o = { .d = d };
	struct uri_parts u;
	int r;

	d->kind = LUADIR_POSTGRESQL;
	uri_split(rest, &u);
	if ((r = refuse_password(&u, PG_PASSWORD_HINT, err, errlen)) < 0)
		return r;
	if (u.path == NULL || u.path_len == 0)
		return err_set(err, errlen, -EINVAL, "%s: no database name: "
		    "postgresql://[user@]host[:port]/dbname[?options]", OPT);
	if ((r = parse_hostport(u.hostport, u.hostport_len, d, err,
	    errlen)) < 0)
		return r;
	if (u.query != NULL &&
	    (r = walk_query(u.query, pg_option, &o, err, errlen)) < 0)
		return r;
	d->needs_lookup = d->host[0] != '\0' && d->host[0] != '/' &&
	    d->host[0] != '@' && !is_ip(d->host) && !o.hostaddr;
	return 0;
}

static int
my_option(const char *key, const char *value, void *ctx, char *err,
    size_t errlen)
{
	struct luadir_dsn *d = ctx;

	if (strcmp(key, "option_file") != 0)
		return err_set(err, errlen, -EINVAL, "%s: unknown option '%s' "
		    "(mariadb:// takes option_file=PATH only)", OPT, key);
	if (value[0] != '/' || !printable(value, true))
		return err_set(err, errlen, -EINVAL, "%s: option_file needs "
		    "an absolute path", OPT);
	str_copy(d->option_file, value, sizeof(d->option_file));
	return 0;
}

static int
parse_mariadb(const char *rest, struct luadir_dsn *d, char *err,
    size_t errlen)
{
	struct uri_parts u;
	int r;

	d->kind = LUADIR_MARIADB;
	uri_split(rest, &u);
	if ((r = refuse_password(&u, MY_PASSWORD_HINT, err, errlen)) < 0)
		return r;
	if (u.has_userinfo && (uri_decode(u.userinfo, u.userinfo_len,
	    d->user, sizeof(d->user)) < 0 || d->user[0] == '\0'))
		return err_set(err, errlen, -EINVAL, "%s: bad user name", OPT);
	if ((r = parse_hostport(u.hostport, u.hostport_len, d, err,
	    errlen)) < 0)
		return r;
	if (d->host[0] == '\0')
		return err_set(err, errlen, -EINVAL, "%s: no host: "
		    "mariadb://[user@]host[:port]/dbname", OPT);
	if (u.path == NULL || u.path_len == 0 ||
	    memchr(u.path, '/', u.path_len) != NULL ||
	    uri_decode(u.path, u.path_len, d->dbname, sizeof(d->dbname)) < 0)
		return err_set(err, errlen, -EINVAL, "%s: no database name: "
		    "mariadb://[user@]host[:port]/dbname", OPT);
	if (u.query != NULL &&
	    (r = walk_query(u.query, my_option, d, err, errlen)) < 0)
		return r;
	/* "localhost" is the server's socket to MariaDB's library. */
	d->needs_lookup = strcmp(d->host, "localhost") != 0 &&
	    !is_ip(d->host);
	return 0;
}

int
luadir_dsn_parse(const char *dsn, struct luadir_dsn *out, char *err,
    size_t errlen)
{
	struct luadir_dsn d;
	const char *rest;
	int r;

	memset(&d, 0, sizeof(d));
	memset(out, 0, sizeof(*out));
	if (dsn == NULL || dsn[0] == '\0')
		return err_set(err, errlen, -EINVAL, "%s: empty DSN", OPT);
	if (strlen(dsn) >= sizeof(d.target))
		return err_set(err, errlen, -EINVAL, "%s: DSN too long", OPT);
	if (strncmp(dsn, "sqlite:", 7) == 0)
		r = parse_sqlite(dsn + 7, &d, err, errlen);
	else if (!printable(dsn, false))
		r = err_set(err, errlen, -EINVAL, "%s: the DSN has a space, a "
		    "control or a non-ASCII character (escape it as %%XX)",
		    OPT);
	else if ((rest = strstr(dsn, "://")) != NULL &&
	    ((rest - dsn == 10 && strncmp(dsn, "postgresql", 10) == 0) ||
	    (rest - dsn == 8 && strncmp(dsn, "postgres", 8) == 0)))
		r = parse_postgresql(rest + 3, &d, err, errlen);
	else if (rest != NULL &&
	    ((rest - dsn == 7 && strncmp(dsn, "mariadb", 7) == 0) ||
	    (rest - dsn == 5 && strncmp(dsn, "mysql", 5) == 0)))
		r = parse_mariadb(rest + 3, &d, err, errlen);
	else
		r = err_set(err, errlen, -EINVAL, "%s: not a DSN poolmond "
		    "knows: sqlite:PATH, postgresql://[user@]host[:port]/"
		    "dbname[?options] or mariadb://[user@]host[:port]/dbname",
		    OPT);
	if (r < 0)
		return r;
	str_copy(d.target, dsn, sizeof(d.target));
	*out = d;
	return 0;
}
