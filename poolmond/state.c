#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hlc.h"
#include "log.h"
#include "util.h"

#define STATE_MAGIC		"poolmon-state"
#define STATE_VERSION		2
/* A line longer than this is no record of ours (a reason escapes to at
 * most twice its bytes). */
#define STATE_LINE_MAX		2048
#define STATE_MAX_SIZE		(16 * 1024 * 1024)

const char *
owner_str(enum owner owner)
{
	switch (owner) {
	case OWNER_POOLMOND: return "poolmond";
	case OWNER_OPERATOR: return "operator";
	case OWNER_HOLD: return "hold";
	case OWNER_NONE: break;
	}
	return "";
}

bool
hold_reason_valid(const char *reason)
{
	const unsigned char *p;

	if (strlen(reason) >= HOLD_REASON_MAX)
		return false;
	for (p = (const unsigned char *)reason; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct state_entry *)a)->ip,
	    ((const struct state_entry *)b)->ip);
}

struct state_entry *
state_record(const struct state *st, const char *ip)
{
	struct state_entry key;
	struct state_entry *const *found;

	if (str_copy(key.ip, ip, sizeof(key.ip)) >= sizeof(key.ip))
		return NULL;
	found = tfind(&key, &st->root, cmp_entry);
	return found != NULL ? *found : NULL;
}

struct state_entry *
state_find(const struct state *st, const char *ip)
{
	struct state_entry *e = state_record(st, ip);

	return e != NULL && e->owner != OWNER_NONE ? e : NULL;
}

/* A change made here: stamped for the fleet. */
static void
stamp(struct state *st, struct state_entry *e)
{
	e->at = hlc_now(&st->hlc, wall_ms());
	str_copy(e->origin, st->self, sizeof(e->origin));
	e->from_peer = false;
}

/* A new entry for ip, which is not in st yet. */
static int
insert_entry(struct state *st, const char *ip, struct state_entry **out)
{
	struct state_entry *e, **slot;

	if (st->n >= STATE_MAX_ENTRIES)
		return -ENOSPC;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	if (str_copy(e->ip, ip, sizeof(e->ip)) >= sizeof(e->ip)) {
		free(e);
		return -EINVAL;
	}
	if ((slot = tsearch(e, &st->root, cmp_entry)) == NULL) {
		free(e);
		return -ENOMEM;
	}
	st->n++;
	*out = *slot;
	return 0;
}

int
state_set(struct state *st, const char *ip, enum owner owner,
    const struct hold_info *hold)
{
	struct state_entry *e = state_record(st, ip);
	int r;

	if (e == NULL && (r = insert_entry(st, ip, &e)) < 0)
		return r;
	e->owner = owner;
	e->pending = false;
	if (hold != NULL)
		e->hold = *hold;
	else
		memset(&e->hold, 0, sizeof(e->hold));
	stamp(st, e);
	return 0;
}

/* Whether a record (at, origin) is newer than e's. */
static bool
newer(const struct state_entry *e, struct hlc_stamp at, const char *origin)
{
	int c = hlc_cmp(at, e->at);

	return c != 0 ? c > 0 : strcmp(origin, e->origin) > 0;
}

int
state_merge(struct state *st, const char *ip, enum owner owner,
    struct hlc_stamp at, const char *origin, const struct hold_info *hold)
{
	struct state_entry *e = state_record(st, ip);
	int r;

	if (owner != OWNER_NONE && owner != OWNER_POOLMOND &&
	    owner != OWNER_HOLD)
		return -EINVAL;
	/* Seen: what is done here from now on orders after it. */
	hlc_observe(&st->hlc, at);
	if (e != NULL && !newer(e, at, origin))
		return 0;
	/* Nothing known of ip here, and a peer says it is no one's. */
	if (e == NULL && owner == OWNER_NONE && !st->fleet)
		return 0;
	if (e == NULL && (r = insert_entry(st, ip, &e)) < 0)
		return r;
	e->owner = owner;
	e->pending = false;
	if (owner == OWNER_HOLD && hold != NULL)
		e->hold = *hold;
	else
		memset(&e->hold, 0, sizeof(e->hold));
	e->at = at;
	str_copy(e->origin, origin, sizeof(e->origin));
	e->from_peer = true;
	return 1;
}

struct walk {
	void (*fn)(const struct state_entry *e, void *arg);
	void *arg;
};

static void
walk_node(const void *node, VISIT which, void *arg)
{
	const struct walk *w = arg;

	if (which == postorder || which == leaf)
		w->fn(*(struct state_entry *const *)node, w->arg);
}

void
state_walk(const struct state *st,
    void (*fn)(const struct state_entry *e, void *arg), void *arg)
{
	struct walk w = { fn, arg };

	twalk_r(st->root, walk_node, &w);
}

bool
state_remove(struct state *st, const char *ip)
{
	struct state_entry *e = state_find(st, ip);

	if (e == NULL)
		return false;
	if (st->fleet) {
		/* Kept as the fleet's record that the host is no one's. */
		e->owner = OWNER_NONE;
		e->pending = false;
		memset(&e->hold, 0, sizeof(e->hold));
		stamp(st, e);
		return true;
	}
	tdelete(e, &st->root, cmp_entry);
	free(e);
	st->n--;
	return true;
}

void
state_free(struct state *st)
{
	tdestroy(st->root, free);
	tdestroy(st->tls_root, free);
	st->root = NULL;
	st->tls_root = NULL;
	st->n = 0;
	st->ntls = 0;
}

static int
cmp_ip(const void *a, const void *b)
{
	return strcmp(a, b);
}

bool
state_tls_seen(const struct state *st, const char *ip)
{
	return tfind(ip, &st->tls_root, cmp_ip) != NULL;
}

int
state_tls_mark(struct state *st, const char *ip)
{
	char *copy, **slot;

	if (state_tls_seen(st, ip))
		return 0;
	if (st->ntls >= STATE_MAX_ENTRIES)
		return -ENOSPC;
	if ((copy = strdup(ip)) == NULL)
		return -ENOMEM;
	if ((slot = tsearch(copy, &st->tls_root, cmp_ip)) == NULL) {
		free(copy);
		return -ENOMEM;
	}
	st->ntls++;
	return 1;
}

/*
 * The file, version 2: a header line, then one record a line, fields
 * separated by tabs:
 *
 *	KIND<TAB>ADDRESS[<TAB>NAME=VALUE]...
 *
 * Every value is tab-escaped (\001 escapes, as Dovecot's), so no value
 * can hold a tab or a newline, and a name is what comes before a field's
 * first '='. Unknown names are a newer poolmond's: ignored. Version 1
 * files (poolmond 0.9) had positional fields; they are still read.
 */

/* A record as read, before it is stored. */
struct record {
	const char *kind;
	const char *ip;
	enum owner owner;
	bool pending;
	struct hold_info hold;
	struct hlc_stamp at;
	const char *by;
};

static int
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A value unescaped in place; -EINVAL when it hides a NUL. */
static int
unescape(char *v)
{
	size_t escaped_nul = strstr(v, "\0010") != NULL;

	if (escaped_nul || str_tabunescape(v) < 0)
		return -EINVAL;
	return 0;
}

/* One NAME=VALUE field of a record. */
static int
parse_field(struct record *rec, char *field, char *why, size_t whylen)
{
	char *value = strchr(field, '=');
	int64_t v;

	if (value == NULL)
		return err_set(why, whylen, -EINVAL, "field without '='");
	*value++ = '\0';
	if (unescape(value) < 0)
		return err_set(why, whylen, -EINVAL, "bad escape in %s=",
		    field);
	if (strcmp(field, "at") == 0) {
		if (parse_i64(value, 0, INT64_MAX, &rec->at.ms) < 0)
			return err_set(why, whylen, -EINVAL, "bad at=");
	} else if (strcmp(field, "lc") == 0) {
		if (parse_i64(value, 0, UINT32_MAX, &v) < 0)
			return err_set(why, whylen, -EINVAL, "bad lc=");
		rec->at.count = (uint32_t)v;
	} else if (strcmp(field, "by") == 0) {
		if (strlen(value) >= STATE_ORIGIN_MAX)
			return err_set(why, whylen, -EINVAL, "bad by=");
		rec->by = value;
	} else if (strcmp(field, "pending") == 0) {
		rec->pending = strcmp(value, "1") == 0;
	} else if (strcmp(field, "uid") == 0) {
		if (parse_i64(value, 0, UINT32_MAX - 1, &v) < 0)
			return err_set(why, whylen, -EINVAL, "bad uid=");
		rec->hold.uid = (uid_t)v;
	} else if (strcmp(field, "since") == 0) {
		if (parse_i64(value, 0, INT64_MAX, &v) < 0)
			return err_set(why, whylen, -EINVAL, "bad since=");
		rec->hold.since = (time_t)v;
	} else if (strcmp(field, "flush") == 0) {
		rec->hold.flush = strcmp(value, "1") == 0;
	} else if (strcmp(field, "reason") == 0) {
		if (str_copy(rec->hold.reason, value,
		    sizeof(rec->hold.reason)) >= sizeof(rec->hold.reason))
			return err_set(why, whylen, -EINVAL, "reason too "
			    "long");
	}
	/* Any other name: a newer poolmond's, not this one's business. */
	return 0;
}

/*
 * Version 1's positional fields (poolmond 0.9): "down IP [pending]",
 * "hold IP UID SINCE FLUSH REASON", "none IP", "tls IP", each followed
 * by the fleet's "at=MS" and "by=ADDR:PORT". The kind says how many
 * fields are positional, so a reason that reads "by=..." is a reason.
 */
static int
parse_v1_fields(struct record *rec, char **f, size_t n, char *why,
    size_t whylen)
{
	size_t i = 2;
	int64_t v;

	if (strcmp(rec->kind, "down") == 0 && n > 2 &&
	    strcmp(f[2], "pending") == 0) {
		rec->pending = true;
		i = 3;
	} else if (strcmp(rec->kind, "hold") == 0) {
		if (n < 6)
			return err_set(why, whylen, -EINVAL, "short hold "
			    "record");
		if (parse_i64(f[2], 0, UINT32_MAX - 1, &v) < 0)
			return err_set(why, whylen, -EINVAL, "bad uid");
		rec->hold.uid = (uid_t)v;
		if (parse_i64(f[3], 0, INT64_MAX, &v) < 0)
			return err_set(why, whylen, -EINVAL, "bad time");
		rec->hold.since = (time_t)v;
		if (strcmp(f[4], "0") != 0 && strcmp(f[4], "1") != 0)
			return err_set(why, whylen, -EINVAL, "bad flush "
			    "flag");
		rec->hold.flush = f[4][0] == '1';
		if (unescape(f[5]) < 0 || str_copy(rec->hold.reason, f[5],
		    sizeof(rec->hold.reason)) >= sizeof(rec->hold.reason))
			return err_set(why, whylen, -EINVAL, "bad reason");
		i = 6;
	}
	for (; i < n; i++) {
		if (strncmp(f[i], "at=", 3) != 0 &&
		    strncmp(f[i], "by=", 3) != 0)
			return err_set(why, whylen, -EINVAL, "unknown field");
		if (parse_field(rec, f[i], why, whylen) < 0)
			return -EINVAL;
	}
	return 0;
}

static int
kind_owner(const char *kind, enum owner *owner)
{
	if (strcmp(kind, "down") == 0)
		*owner = OWNER_POOLMOND;
	else if (strcmp(kind, "hold") == 0)
		*owner = OWNER_HOLD;
	else if (strcmp(kind, "none") == 0)
		*owner = OWNER_NONE;
	else if (strcmp(kind, "tls") == 0)
		*owner = OWNER_OPERATOR;	/* not an entry: see store() */
	else
		return -ENOENT;
	return 0;
}

/* A record read: into st. */
static int
store(struct state *st, const struct record *rec, char *why, size_t whylen)
{
	struct state_entry *e;
	int r;

	if (strcmp(rec->kind, "tls") == 0) {
		if (state_tls_seen(st, rec->ip))
			return err_set(why, whylen, -EINVAL, "%s listed "
			    "twice", rec->ip);
		return state_tls_mark(st, rec->ip) < 0 ? -ENOMEM : 0;
	}
	if (state_record(st, rec->ip) != NULL)
		return err_set(why, whylen, -EINVAL, "%s listed twice",
		    rec->ip);
	if ((r = insert_entry(st, rec->ip, &e)) < 0)
		return r == -EINVAL ? err_set(why, whylen, r, "bad address") :
		    r;
	e->owner = rec->owner;
	e->pending = rec->owner == OWNER_POOLMOND && rec->pending;
	if (rec->owner == OWNER_HOLD)
		e->hold = rec->hold;
	e->at = rec->at;
	str_copy(e->origin, rec->by != NULL ? rec->by : "", sizeof(e->origin));
	/* What is done here from now on orders after what the file knew. */
	hlc_observe(&st->hlc, rec->at);
	return 0;
}

/*
 * One line. -EINVAL with why: the record is skipped; -ENOENT: a kind of
 * record this poolmond does not know (a newer one's), skipped too.
 */
static int
parse_line(struct state *st, char *line, int version, char *why,
    size_t whylen)
{
	struct record rec = { 0 };
	struct in6_addr a;
	char *f[16];
	size_t n = str_split_tabs(line, f, ARRAY_SIZE(f)), i;
	int family, r;

	if (n < 2)
		return err_set(why, whylen, -EINVAL, "not a record");
	rec.kind = f[0];
	rec.ip = f[1];
	if (kind_owner(rec.kind, &rec.owner) < 0)
		return err_set(why, whylen, -ENOENT, "unknown kind of record "
		    "'%.32s'", rec.kind);
	if (ip_parse(rec.ip, &family, &a) < 0)
		return err_set(why, whylen, -EINVAL, "bad address");
	if (version == 1)
		r = parse_v1_fields(&rec, f, n, why, whylen);
	else
		for (r = 0, i = 2; i < n && r == 0; i++)
			r = parse_field(&rec, f[i], why, whylen);
	if (r < 0)
		return r;
	return store(st, &rec, why, whylen);
}

/* "poolmon-state N": N, or -EINVAL. */
static int
parse_header(const char *line)
{
	long v;

	if (strncmp(line, STATE_MAGIC " ", sizeof(STATE_MAGIC)) != 0 ||
	    parse_long(line + sizeof(STATE_MAGIC), 1, INT32_MAX, &v) < 0)
		return -EINVAL;
	return (int)v;
}

static void
line_skipped(const struct state *st, size_t lineno, const char *why)
{
	log_warnx("state file %s, line %zu: %s: that record is skipped, the "
	    "others are kept", st->path != NULL ? st->path : "(none)",
	    lineno, why);
}

int
state_parse(struct state *st, const char *buf, size_t len, char *why,
    size_t whylen)
{
	const char *p = buf, *end = buf + len, *nl, *bad;
	char line[STATE_LINE_MAX];
	size_t lineno = 0, linelen;
	int version = 0, r;

	why[0] = '\0';
	st->skipped = 0;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		linelen = (size_t)(nl - p);
		lineno++;
		/* Written lines end in a newline: one without is cut. */
		bad = nl == end ? "truncated last line" :
		    linelen >= sizeof(line) ? "line too long" :
		    memchr(p, '\0', linelen) != NULL ? "NUL byte" : NULL;
		if (bad != NULL) {
			if (version == 0)
				break;
			line_skipped(st, lineno, bad);
			st->skipped++;
			continue;
		}
		memcpy(line, p, linelen);
		line[linelen] = '\0';
		if (version == 0) {
			if ((version = parse_header(line)) < 0)
				break;
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		r = parse_line(st, line, version, why, whylen);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			line_skipped(st, lineno, why);
			st->skipped++;
		}
	}
	if (version <= 0)
		return err_set(why, whylen, -EINVAL, lineno == 0 ?
		    "empty file" : "not a poolmon state file (bad header)");
	why[0] = '\0';
	return 0;
}

static int
read_file(const char *path, char **buf, size_t *len)
{
	struct stat sb;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > STATE_MAX_SIZE) {
		close(fd);
		return -EINVAL;
	}
	if ((*buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	r = read(fd, *buf, (size_t)sb.st_size);
	close(fd);
	if (r != sb.st_size) {
		free(*buf);
		return r < 0 ? -errno : -EIO;
	}
	*len = (size_t)r;
	return 0;
}

static void
move_aside(const char *path, const char *why)
{
	char aside[PATH_MAX];

	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	if (rename(path, aside) < 0)
		log_warn("state file %s is unusable (%s) and cannot be moved "
		    "aside", path, why);
	else
		log_warnx("state file %s is unusable (%s): moved to %s; "
		    "starting with empty state", path, why, aside);
}

/* The file as it was, beside it, before the skipped records are lost
 * at the next save: the operator may want them back. */
static void
keep_copy(const char *path, const char *buf, size_t len)
{
	char aside[PATH_MAX];
	ssize_t w;
	int fd;

	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	(void)unlink(aside);
	fd = open(aside, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (fd < 0) {
		log_warn("cannot keep a copy of state file %s as %s", path,
		    aside);
		return;
	}
	w = write(fd, buf, len);
	if (w != (ssize_t)len)
		log_warn("cannot keep a copy of state file %s as %s", path,
		    aside);
	else
		log_warnx("state file %s as it was: kept as %s", path, aside);
	close(fd);
}

int
state_load(struct state *st, const char *path)
{
	char why[128];
	char *buf = NULL;
	size_t len = 0;
	int r;

	st->path = path;
	if (path == NULL)
		return 0;
	r = read_file(path, &buf, &len);
	if (r == -ENOENT) {
		log_info("no state file %s: first start, hosts already down "
		    "are treated as the operator's", path);
		return 0;
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		move_aside(path, strerror(-r));
		return 0;
	}
	r = state_parse(st, buf, len, why, sizeof(why));
	if (r == 0 && st->skipped > 0)
		keep_copy(path, buf, len);
	free(buf);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		state_free(st);
		move_aside(path, why);
		return 0;
	}
	log_info("state file %s: %zu hosts%s", path, st->n, st->skipped > 0 ?
	    " (records that could not be read were skipped)" : "");
	return 0;
}

struct write_ctx {
	FILE *f;
	bool fleet;
	int64_t now_ms;
};

/* "\tNAME=VALUE", the value tab-escaped. */
static void
write_field(FILE *f, const char *name, const char *value)
{
	char escaped[HOLD_REASON_MAX * 2 + 1];

	if (str_tabescape_r(value, escaped, sizeof(escaped)) < 0)
		escaped[0] = '\0';
	fprintf(f, "\t%s=%s", name, escaped);
}

/* A fleet's fields, and the line's end. */
static void
write_end(const struct write_ctx *w, const struct state_entry *e)
{
	if (w->fleet) {
		fprintf(w->f, "\tat=%lld\tlc=%lu", (long long)e->at.ms,
		    (unsigned long)e->at.count);
		if (e->origin[0] != '\0')
			write_field(w->f, "by", e->origin);
	}
	fputc('\n', w->f);
}

static void
write_entry(const struct write_ctx *w, const struct state_entry *e)
{
	switch (e->owner) {
	case OWNER_POOLMOND:
		fprintf(w->f, "down\t%s%s", e->ip,
		    e->pending ? "\tpending=1" : "");
		break;
	case OWNER_HOLD:
		fprintf(w->f, "hold\t%s\tuid=%lu\tsince=%lld\tflush=%d", e->ip,
		    (unsigned long)e->hold.uid, (long long)e->hold.since,
		    e->hold.flush ? 1 : 0);
		write_field(w->f, "reason", e->hold.reason);
		break;
	case OWNER_NONE:
		/* Kept for a while, then forgotten. */
		if (!w->fleet ||
		    e->at.ms + STATE_CLEARED_KEEP_MS < w->now_ms)
			return;
		fprintf(w->f, "none\t%s", e->ip);
		break;
	case OWNER_OPERATOR:
		return;
	}
	write_end(w, e);
}

static void
write_tls(const void *node, VISIT which, void *f)
{
	if (which == postorder || which == leaf)
		fprintf(f, "tls\t%s\n", *(const char *const *)node);
}

/* twalk_r: each node once, in order (sorted by ip, as 0.x files were). */
static void
write_node(const void *node, VISIT which, void *w)
{
	if (which == postorder || which == leaf)
		write_entry(w, *(struct state_entry *const *)node);
}

int
state_format(const struct state *st, FILE *f)
{
	struct write_ctx w = { .f = f, .fleet = st->fleet,
	    .now_ms = wall_ms() };

	fprintf(f, "%s %d\n# hosts poolmond took down, and maintenance "
	    "holds; written by poolmond\n", STATE_MAGIC, STATE_VERSION);
	twalk_r(st->root, write_node, &w);
	twalk_r(st->tls_root, write_tls, f);
	return ferror(f) ? -EIO : 0;
}

static int
fsync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd, r = 0;

	str_copy(copy, path, sizeof(copy));
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void
ensure_dir(const char *path)
{
	char copy[PATH_MAX];

	str_copy(copy, path, sizeof(copy));
	if (mkdir(dirname(copy), 0750) < 0 && errno != EEXIST)
		log_warn("cannot create the directory of %s", path);
}

int
state_save(const struct state *st)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd, r;

	if (st->path == NULL)
		return 0;
	ensure_dir(st->path);
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", st->path) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* O_EXCL of a new name: nothing planted at a known name is used. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return -errno;
	if (fchmod(fd, 0640) < 0 || (f = fdopen(fd, "w")) == NULL) {
		r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	r = state_format(st, f);
	if (r == 0 && fflush(f) != 0)
		r = -errno;
	if (r == 0 && fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, st->path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return fsync_dir(st->path);
}
