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

#include "log.h"
#include "util.h"

#define STATE_HEADER		"poolmon-state 1"
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
stamp(const struct state *st, struct state_entry *e)
{
	e->at_ms = wall_ms();
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

/* Whether a record (at_ms, origin) is newer than e's. */
static bool
newer(const struct state_entry *e, int64_t at_ms, const char *origin)
{
	if (at_ms != e->at_ms)
		return at_ms > e->at_ms;
	return strcmp(origin, e->origin) > 0;
}

int
state_merge(struct state *st, const char *ip, enum owner owner,
    int64_t at_ms, const char *origin, const struct hold_info *hold)
{
	struct state_entry *e = state_record(st, ip);
	int r;

	if (owner != OWNER_NONE && owner != OWNER_POOLMOND &&
	    owner != OWNER_HOLD)
		return -EINVAL;
	if (e != NULL && !newer(e, at_ms, origin))
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
	e->at_ms = at_ms;
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
 * A fleet's fields at a record's end: "at=MS" and "by=ADDR:PORT". They
 * are taken off f; -EINVAL for a bad one.
 */
static int
parse_fleet_fields(char **f, size_t *n, int64_t *at_ms, const char **by)
{
	long long v;
	char *end;

	*at_ms = 0;
	*by = NULL;
	while (*n > 2) {
		const char *last = f[*n - 1];

		if (strncmp(last, "at=", 3) == 0) {
			errno = 0;
			v = strtoll(last + 3, &end, 10);
			if (errno != 0 || *end != '\0' || end == last + 3 ||
			    v < 0)
				return -EINVAL;
			*at_ms = v;
		} else if (strncmp(last, "by=", 3) == 0) {
			if (strlen(last + 3) >= STATE_ORIGIN_MAX)
				return -EINVAL;
			*by = last + 3;
		} else
			break;
		(*n)--;
	}
	return 0;
}

static int parse_record(struct state *st, char **f, size_t n, char *why,
    size_t whylen);

static int
parse_line(struct state *st, char *line, char *why, size_t whylen)
{
	struct state_entry *e;
	char *f[9];
	size_t n = str_split_tabs(line, f, ARRAY_SIZE(f));
	const char *by;
	int64_t at_ms;
	int r;

	if (parse_fleet_fields(f, &n, &at_ms, &by) < 0) {
		snprintf(why, whylen, "bad at= or by= field");
		return -EINVAL;
	}
	if (n >= 2 && strcmp(f[0], "tls") != 0 &&
	    state_record(st, f[1]) != NULL) {
		snprintf(why, whylen, "%s listed twice", f[1]);
		return -EINVAL;
	}
	if ((r = parse_record(st, f, n, why, whylen)) < 0)
		return r;
	if (n >= 2 && strcmp(f[0], "tls") != 0 &&
	    (e = state_record(st, f[1])) != NULL) {
		e->at_ms = at_ms;
		str_copy(e->origin, by != NULL ? by : "", sizeof(e->origin));
	}
	return 0;
}

static int
parse_record(struct state *st, char **f, size_t n, char *why, size_t whylen)
{
	struct state_entry *e;
	struct hold_info hold;
	struct in6_addr a;
	long v;
	int r, family;

	if (n < 2 || ip_parse(f[1], &family, &a) < 0) {
		snprintf(why, whylen, "bad address");
		return -EINVAL;
	}
	/* A backend that has offered STARTTLS/STLS (beside its entry). */
	if (strcmp(f[0], "tls") == 0 && n == 2) {
		if (state_tls_seen(st, f[1])) {
			snprintf(why, whylen, "%s listed twice", f[1]);
			return -EINVAL;
		}
		return state_tls_mark(st, f[1]) < 0 ? -ENOMEM : 0;
	}
	/* A fleet's record of a host no one owns any more. */
	if (strcmp(f[0], "none") == 0 && n == 2) {
		if ((r = state_set(st, f[1], OWNER_NONE, NULL)) < 0)
			return r;
		return 0;
	}
	if (strcmp(f[0], "down") == 0 && n == 2)
		return state_set(st, f[1], OWNER_POOLMOND, NULL);
	/* An intent: HOST-DOWN about to be sent, its OK not yet recorded. */
	if (strcmp(f[0], "down") == 0 && n == 3 &&
	    strcmp(f[2], "pending") == 0) {
		if ((r = state_set(st, f[1], OWNER_POOLMOND, NULL)) < 0)
			return r;
		if ((e = state_find(st, f[1])) != NULL)
			e->pending = true;
		return 0;
	}
	if (strcmp(f[0], "hold") != 0 || n != 6) {
		snprintf(why, whylen, "unknown record");
		return -EINVAL;
	}
	memset(&hold, 0, sizeof(hold));
	if (parse_long(f[2], 0, UINT32_MAX - 1, &v) < 0) {
		snprintf(why, whylen, "bad uid");
		return -EINVAL;
	}
	hold.uid = (uid_t)v;
	if (parse_long(f[3], 0, LONG_MAX, &v) < 0) {
		snprintf(why, whylen, "bad time");
		return -EINVAL;
	}
	hold.since = (time_t)v;
	if (strcmp(f[4], "0") != 0 && strcmp(f[4], "1") != 0) {
		snprintf(why, whylen, "bad flush flag");
		return -EINVAL;
	}
	hold.flush = f[4][0] == '1';
	if (str_tabunescape(f[5]) < 0 ||
	    str_copy(hold.reason, f[5], sizeof(hold.reason)) >=
	    sizeof(hold.reason)) {
		snprintf(why, whylen, "bad reason");
		return -EINVAL;
	}
	return state_set(st, f[1], OWNER_HOLD, &hold);
}

int
state_parse(struct state *st, const char *buf, size_t len, char *why,
    size_t whylen)
{
	char *copy, *line, *next;
	size_t lineno = 0;
	int r = 0;

	if (memchr(buf, '\0', len) != NULL) {
		snprintf(why, whylen, "NUL byte");
		return -EINVAL;
	}
	if ((copy = strndup(buf, len)) == NULL)
		return -ENOMEM;
	for (line = copy; line != NULL && r == 0; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		else if (*line == '\0')
			break;
		else {
			/* Written files always end in a newline. */
			snprintf(why, whylen, "truncated last line");
			r = -EINVAL;
			break;
		}
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, STATE_HEADER) != 0) {
				snprintf(why, whylen, "not a poolmon state "
				    "file (bad header)");
				r = -EINVAL;
			}
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		r = parse_line(st, line, why, whylen);
	}
	if (r == 0 && lineno == 0) {
		snprintf(why, whylen, "empty file");
		r = -EINVAL;
	}
	if (r == -EINVAL && lineno > 1) {
		size_t l = strlen(why);

		snprintf(why + l, whylen - l, " at line %zu", lineno);
	}
	free(copy);
	return r;
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
	free(buf);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		state_free(st);
		move_aside(path, why);
		return 0;
	}
	log_info("state file %s: %zu hosts", path, st->n);
	return 0;
}

struct write_ctx {
	FILE *f;
	bool fleet;
	int64_t now_ms;
};

/* A fleet's fields, and the line's end. */
static void
write_end(const struct write_ctx *w, const struct state_entry *e)
{
	if (w->fleet) {
		fprintf(w->f, "\tat=%lld", (long long)e->at_ms);
		if (e->origin[0] != '\0')
			fprintf(w->f, "\tby=%s", e->origin);
	}
	fputc('\n', w->f);
}

static void
write_entry(const struct write_ctx *w, const struct state_entry *e)
{
	char reason[HOLD_REASON_MAX * 2 + 1];

	switch (e->owner) {
	case OWNER_POOLMOND:
		fprintf(w->f, "down\t%s%s", e->ip,
		    e->pending ? "\tpending" : "");
		break;
	case OWNER_HOLD:
		if (str_tabescape_r(e->hold.reason, reason,
		    sizeof(reason)) < 0)
			reason[0] = '\0';
		fprintf(w->f, "hold\t%s\t%lu\t%lld\t%d\t%s", e->ip,
		    (unsigned long)e->hold.uid, (long long)e->hold.since,
		    e->hold.flush ? 1 : 0, reason);
		break;
	case OWNER_NONE:
		/* Kept for a while, then forgotten. */
		if (!w->fleet || e->at_ms + STATE_CLEARED_KEEP_MS < w->now_ms)
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

static int
write_entries(FILE *f, const struct state *st)
{
	struct write_ctx w = { .f = f, .fleet = st->fleet,
	    .now_ms = wall_ms() };

	fprintf(f, "%s\n# hosts poolmond took down, and maintenance holds; "
	    "written by poolmond\n", STATE_HEADER);
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
	r = write_entries(f, st);
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
