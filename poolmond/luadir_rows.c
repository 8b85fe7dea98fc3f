/*
 * Rows of the Lua director's backends table into the engine's pool. Every
 * cell is checked before it is used: a row that does not parse is left
 * out (the caller logs it), never taken for another backend.
 */
#include "luadir_rows.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A cell as text: not NULL, no NUL inside, shorter than max. */
static const char *
cell_text(const char *const *cells, const size_t *lens, size_t i, size_t max)
{
	const char *c = cells[i];

	if (c == NULL || lens[i] >= max || strlen(c) != lens[i])
		return NULL;
	return c;
}

static int
cell_int(const char *const *cells, const size_t *lens, size_t i, long min,
    long max, long *v)
{
	const char *c = cell_text(cells, lens, i, 24);

	return c == NULL ? -EINVAL : parse_long(c, min, max, v);
}

bool
luadir_hostname_ok(const char *name)
{
	size_t i, len = strlen(name);

	/* Never an option to doveadm: no leading '-'. */
	if (len == 0 || len > LUADIR_NAME_MAX || name[0] == '-' ||
	    name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == ':'))
			return false;
	}
	return true;
}

int
luadir_row_parse(const char *const *cells, const size_t *lens, size_t ncells,
    struct luadir_row *row, const char **why)
{
	const char *name, *ip;
	long v;

	memset(row, 0, sizeof(*row));
	if (ncells < LUADIR_LIST_COLS - 1) {
		*why = "too few columns";
		return -EINVAL;
	}
	if (cell_int(cells, lens, 0, INT32_MIN, INT32_MAX, &v) < 0) {
		*why = "id is not an integer";
		return -EINVAL;
	}
	row->id = (int32_t)v;
	if (cells[1] == NULL || lens[1] == 0) {
		*why = "no hostname";
		return -EINVAL;
	}
	/* The listing reads LUADIR_NAME_MAX + 1 bytes: more is too long. */
	if ((name = cell_text(cells, lens, 1, LUADIR_NAME_MAX + 1)) == NULL) {
		*why = "hostname too long or holds a NUL";
		return -EINVAL;
	}
	if (!luadir_hostname_ok(name)) {
		*why = "hostname has a character other than letters, digits, "
		    "'.', '-', '_', ':' (or begins with '-' or '.')";
		return -EINVAL;
	}
	str_copy(row->hostname, name, sizeof(row->hostname));
	if (cells[2] != NULL && lens[2] > 0) {
		if ((ip = cell_text(cells, lens, 2, LUADIR_NAME_MAX + 1)) ==
		    NULL || ip_canonical(ip, row->hostip,
		    sizeof(row->hostip)) < 0) {
			*why = "hostip is not an IP address";
			return -EINVAL;
		}
	}
	if (cell_int(cells, lens, 3, INT32_MIN, INT32_MAX, &v) < 0) {
		*why = "state is not an integer";
		return -EINVAL;
	}
	row->state = (int32_t)v;
	if (ncells >= LUADIR_LIST_COLS) {
		if (cell_int(cells, lens, 4, 0, LONG_MAX, &v) < 0) {
			*why = "bad user count";
			return -EINVAL;
		}
		row->users = v > (long)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	}
	if (row->hostip[0] != '\0')
		str_copy(row->addr, row->hostip, sizeof(row->addr));
	else if (ip_canonical(row->hostname, row->addr, sizeof(row->addr)) < 0)
		row->addr[0] = '\0';
	return 0;
}

void
luadir_judge_rows(const struct luadir_row *rows, size_t n, bool *up,
    enum router_mark *mark, int *shown)
{
	bool any2 = false, other = false;
	size_t i;

	*shown = 0;
	for (i = 0; i < n; i++) {
		if (rows[i].state == 0)
			continue;
		if (rows[i].state == ROUTER_STATE_POOLMON) {
			any2 = true;
			continue;
		}
		/* The operator's: the first row's (by id) is shown. */
		if (!other)
			*shown = rows[i].state;
		other = true;
	}
	*up = !any2 && !other;
	if (other)
		*mark = ROUTER_MARK_OTHER;
	else if (any2) {
		*mark = ROUTER_MARK_POOLMON;
		*shown = ROUTER_STATE_POOLMON;
	} else
		*mark = ROUTER_MARK_UNKNOWN;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct luadir_row *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);

	if (c != 0)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void
judge_backend(struct luadir_backend *b, const struct luadir_row *rows)
{
	uint64_t users = 0;
	size_t i;

	luadir_judge_rows(rows + b->first, b->n, &b->up, &b->mark, &b->state);
	for (i = 0; i < b->n; i++)
		users += rows[b->first + i].users;
	b->users = users > UINT32_MAX ? UINT32_MAX : (unsigned int)users;
}

int
luadir_pool_build(struct luadir_pool *pool, struct luadir_row *rows,
    size_t nrows)
{
	size_t i, placed = 0, nb = 0;
	struct luadir_backend *b;

	memset(pool, 0, sizeof(*pool));
	/* Rows with an address to the front, then in order. */
	for (i = 0; i < nrows; i++)
		if (rows[i].addr[0] != '\0') {
			if (i != placed) {
				struct luadir_row t = rows[placed];

				rows[placed] = rows[i];
				rows[i] = t;
			}
			placed++;
		}
	if (placed > 0)
		qsort(rows, placed, sizeof(*rows), row_cmp);
	pool->unplaced = nrows - placed;
	for (i = 0; i < placed; i++)
		if (i == 0 || strcmp(rows[i].addr, rows[i - 1].addr) != 0)
			nb++;
	if (nb > 0 && (pool->backends = calloc(nb, sizeof(*b))) == NULL) {
		free(rows);
		return -ENOMEM;
	}
	pool->rows = rows;
	pool->nrows = placed;
	for (i = 0; i < placed; i++) {
		if (i == 0 || strcmp(rows[i].addr, rows[i - 1].addr) != 0) {
			b = &pool->backends[pool->nbackends++];
			str_copy(b->ip, rows[i].addr, sizeof(b->ip));
			b->first = i;
		}
		pool->backends[pool->nbackends - 1].n++;
	}
	for (i = 0; i < pool->nbackends; i++)
		judge_backend(&pool->backends[i], rows);
	return 0;
}

void
luadir_pool_free(struct luadir_pool *pool)
{
	free(pool->rows);
	free(pool->backends);
	memset(pool, 0, sizeof(*pool));
}

static int
backend_cmp(const void *key, const void *elem)
{
	const struct luadir_backend *b = elem;

	return strcmp(key, b->ip);
}

const struct luadir_backend *
luadir_pool_find(const struct luadir_pool *pool, const char *ip)
{
	if (pool->nbackends == 0)
		return NULL;
	return bsearch(ip, pool->backends, pool->nbackends,
	    sizeof(*pool->backends), backend_cmp);
}

int
luadir_pool_list(const struct luadir_pool *pool, struct router_host_list *out)
{
	struct router_host *h;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (pool->nbackends == 0)
		return 0;
	if ((out->hosts = calloc(pool->nbackends, sizeof(*h))) == NULL)
		return -ENOMEM;
	for (i = 0; i < pool->nbackends; i++) {
		const struct luadir_backend *b = &pool->backends[i];

		h = &out->hosts[i];
		str_copy(h->ip, b->ip, sizeof(h->ip));
		h->up = b->up;
		h->mark = b->mark;
		h->has_vhosts = false;
		h->vhost_count = 0;
		h->user_count = b->users;
		h->tag = "";
		h->last_updown_change = 0;
		h->state = b->state;
	}
	out->n = pool->nbackends;
	return 0;
}
