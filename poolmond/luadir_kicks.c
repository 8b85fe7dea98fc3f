/*
 * Kicks owed by transitions (luadir_kicks.h): each listed backend's last
 * state, kept sorted by address beside the listing; a kick in the
 * background per backend at most, a few at once.
 */
#include "luadir_kicks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct bg;

struct track {
	char ip[INET6_ADDRSTRLEN];
	bool up;
	bool owed;			/* its sessions are to be kicked */
	bool wait_listing;		/* its kick failed: at the next one */
	struct bg *bg;			/* its kick under way */
};

/* A kick under way, found again by address when it ends. */
struct bg {
	struct luadir_kicks *t;
	struct kick *kick;
	char ip[INET6_ADDRSTRLEN];
};

struct luadir_kicks {
	struct kicker *kicker;
	int timeout_ms;
	struct track *tracks;		/* by address */
	size_t n;
	const struct luadir_pool *pool;	/* the last listing */
	size_t running;
	struct ratelimit fail_log;
};

static int
track_cmp(const void *key, const void *elem)
{
	const struct track *tr = elem;

	return strcmp(key, tr->ip);
}

static struct track *
find(struct track *tracks, size_t n, const char *ip)
{
	if (n == 0)
		return NULL;
	return bsearch(ip, tracks, n, sizeof(*tracks), track_cmp);
}

size_t
luadir_backend_hosts(const struct luadir_pool *pool,
    const struct luadir_backend *b, const char **hosts, size_t max)
{
	size_t i, j, n = 0;

	for (i = b->first; i < b->first + b->n && n < max; i++) {
		const char *h = pool->rows[i].hostname;

		for (j = 0; j < n; j++)
			if (strcmp(hosts[j], h) == 0)
				break;
		if (j == n)
			hosts[n++] = h;
	}
	return n;
}

static void bg_done(int error, const char *err, void *arg);

static void
bg_cancel(struct luadir_kicks *t, struct bg *bg)
{
	if (bg == NULL)
		return;
	kick_cancel(bg->kick);
	t->running--;
	free(bg);
}

static void
start_one(struct luadir_kicks *t, struct track *tr)
{
	const struct luadir_backend *b = luadir_pool_find(t->pool, tr->ip);
	const char *hosts[KICK_HOSTS_MAX];
	size_t n = 0;
	struct bg *bg;

	if (b != NULL)
		n = luadir_backend_hosts(t->pool, b, hosts, KICK_HOSTS_MAX);
	if ((bg = calloc(1, sizeof(*bg))) == NULL) {
		tr->wait_listing = true;
		return;
	}
	bg->t = t;
	str_copy(bg->ip, tr->ip, sizeof(bg->ip));
	bg->kick = kick_start(t->kicker, tr->ip, hosts, n,
	    now_ms() + 2 * (int64_t)t->timeout_ms, bg_done, bg);
	if (bg->kick == NULL) {
		log_warnx("lua-director: %s: cannot kick its sessions: %s",
		    tr->ip, strerror(errno));
		free(bg);
		tr->wait_listing = true;
		return;
	}
	tr->bg = bg;
	t->running++;
}

static void
start_owed(struct luadir_kicks *t)
{
	size_t i;

	for (i = 0; i < t->n && t->running < LUADIR_KICKS_RUNNING; i++) {
		struct track *tr = &t->tracks[i];

		if (tr->owed && !tr->up && tr->bg == NULL && !tr->wait_listing)
			start_one(t, tr);
	}
}

static void
bg_done(int error, const char *err, void *arg)
{
	struct bg *bg = arg;
	struct luadir_kicks *t = bg->t;
	struct track *tr = find(t->tracks, t->n, bg->ip);
	unsigned int suppressed;

	t->running--;
	if (tr != NULL && tr->bg == bg) {
		tr->bg = NULL;
		if (error == 0) {
			tr->owed = false;
			log_info_f(&(struct log_fields){ .host = bg->ip,
			    .event = "kick" }, "lua-director: %s is out of "
			    "service: its sessions on this proxy kicked",
			    bg->ip);
		} else {
			tr->wait_listing = true;
			if (ratelimit_allow(&t->fail_log, now_ms(),
			    &suppressed))
				log_warnx_f(&(struct log_fields){ .host =
				    bg->ip, .event = "kick", .reason = err },
				    "lua-director: %s: kicking its sessions "
				    "failed, again at the next listing: %s",
				    bg->ip, err);
		}
	}
	free(bg);
	start_owed(t);
}

void
luadir_kicks_listed(struct luadir_kicks *t, const struct luadir_pool *pool)
{
	struct track *tracks = NULL, *old;
	size_t i;

	if (pool->nbackends > 0 &&
	    (tracks = calloc(pool->nbackends, sizeof(*tracks))) == NULL) {
		log_warnx("lua-director: out of memory for the kicks owed");
		return;
	}
	for (i = 0; i < pool->nbackends; i++) {
		const struct luadir_backend *b = &pool->backends[i];
		struct track *tr = &tracks[i];

		str_copy(tr->ip, b->ip, sizeof(tr->ip));
		tr->up = b->up;
		old = find(t->tracks, t->n, b->ip);
		/* First seen (at start, or a new row): no transition
		 * known, nothing owed. */
		if (old != NULL) {
			tr->owed = old->owed || (old->up && !b->up);
			tr->bg = old->bg;
			old->bg = NULL;
		}
		if (b->up)
			tr->owed = false;
	}
	/* Gone from the table: nothing to do for them any more. */
	for (i = 0; i < t->n; i++)
		bg_cancel(t, t->tracks[i].bg);
	free(t->tracks);
	t->tracks = tracks;
	t->n = pool->nbackends;
	t->pool = pool;
	start_owed(t);
}

void
luadir_kicks_down(struct luadir_kicks *t, const char *ip, bool kicked)
{
	struct track *tr = find(t->tracks, t->n, ip);

	if (tr == NULL)
		return;
	tr->up = false;
	tr->owed = !kicked;
	/* Not at once: a flush whose kick failed is tried again by the
	 * engine; the next listing tries what is still owed. */
	tr->wait_listing = true;
}

void
luadir_kicks_up(struct luadir_kicks *t, const char *ip)
{
	struct track *tr = find(t->tracks, t->n, ip);

	if (tr == NULL)
		return;
	tr->up = true;
	tr->owed = false;
	tr->wait_listing = false;
}

size_t
luadir_kicks_owed(const struct luadir_kicks *t)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++)
		if (t->tracks[i].owed || t->tracks[i].bg != NULL)
			n++;
	return n;
}

int
luadir_kicks_new(struct kicker *kicker, int timeout_ms,
    struct luadir_kicks **out)
{
	struct luadir_kicks *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL)
		return -ENOMEM;
	t->kicker = kicker;
	t->timeout_ms = timeout_ms;
	t->fail_log = (struct ratelimit){ .interval_ms = 60000, .burst = 10 };
	*out = t;
	return 0;
}

void
luadir_kicks_free(struct luadir_kicks *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		bg_cancel(t, t->tracks[i].bg);
	free(t->tracks);
	free(t);
}
