/*
 * The backend table. A new HOST-LIST replaces it at each scan; what is
 * known of a host (its last results, counts, ownership) moves with its
 * address from the old table to the new. Addresses are compared in their
 * canonical form, and a host the director lists twice is kept once: twin
 * entries would be checked twice and counted twice by --max-down.
 */
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

_Static_assert(sizeof(struct check_report) <= PIPE_BUF,
    "a report must be written atomically");

void
pool_init(struct pool *p, size_t nports)
{
	memset(p, 0, sizeof(*p));
	p->nports = nports;
}

static void
free_backends(struct backend *backends, size_t n, size_t nports)
{
	size_t i;

	for (i = 0; i < n; i++)
		backend_free(&backends[i], nports);
	free(backends);
}

void
pool_free(struct pool *p)
{
	free_backends(p->backends, p->n, p->nports);
	free(p->tags);
	p->backends = NULL;
	p->tags = NULL;
	p->n = 0;
}

static int
cmp_backend(const void *a, const void *b)
{
	return strcmp(((const struct backend *)a)->dh.ip,
	    ((const struct backend *)b)->dh.ip);
}

/* Order of hosts[] by address, then by listing order: the first listed
 * of equal addresses comes first, and is the one kept. */
static int
cmp_listed(const void *a, const void *b, void *arg)
{
	const struct router_host *hosts = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = strcmp(hosts[x].ip, hosts[y].ip);

	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/*
 * The list's hosts sorted by canonical address, each once, into *out (of
 * *nout). -ENOMEM.
 */
static int
sorted_unique(struct router_host_list *list, struct router_host **out,
    size_t *nout, size_t *duplicates, char *dup_ip, size_t dup_iplen)
{
	struct router_host *hosts = list->hosts, *u;
	uint32_t *order;
	size_t i, n = 0;

	*out = NULL;
	*nout = 0;
	if (list->n == 0)
		return 0;
	for (i = 0; i < list->n; i++)
		(void)ip_canonical(hosts[i].ip, hosts[i].ip,
		    sizeof(hosts[i].ip));
	order = calloc(list->n, sizeof(*order));
	u = calloc(list->n, sizeof(*u));
	if (order == NULL || u == NULL) {
		free(order);
		free(u);
		return -ENOMEM;
	}
	for (i = 0; i < list->n; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, list->n, sizeof(*order), cmp_listed, hosts);
	for (i = 0; i < list->n; i++) {
		const struct router_host *h = &hosts[order[i]];

		if (n > 0 && strcmp(u[n - 1].ip, h->ip) == 0) {
			if (*duplicates == 0)
				str_copy(dup_ip, h->ip, dup_iplen);
			(*duplicates)++;
			continue;
		}
		u[n++] = *h;
	}
	free(order);
	*out = u;
	*nout = n;
	return 0;
}

/* No check process or report from the last scan: a new one starts. */
static void
reset_scan_marks(struct backend *b)
{
	b->pid = 0;
	b->reported = 0;
}

/*
 * The usual case, the same hosts as last time (both sorted): update them
 * in place rather than build a second table of thousands.
 */
static bool
same_hosts(const struct pool *p, const struct router_host *hosts,
    size_t n)
{
	size_t i;

	if (n != p->n)
		return false;
	for (i = 0; i < n; i++)
		if (strcmp(hosts[i].ip, p->backends[i].dh.ip) != 0)
			return false;
	return true;
}

/*
 * A listed host into its backend. A list asked before our last command on
 * it was answered may show it as it was before (asked on the director's
 * other connection): its up/down stays the command's.
 */
static void
take_host(struct backend *b, const struct router_host *h, int64_t asked_ms)
{
	bool up = b->dh.up;

	b->dh = *h;
	if (b->commanded_ms > 0 && asked_ms < b->commanded_ms)
		b->dh.up = up;
}

void
pool_commanded(struct backend *b, bool up)
{
	b->dh.up = up;
	b->commanded_ms = now_ms();
}

static int
merge_hosts(struct pool *p, const struct router_host *hosts, size_t n,
    int64_t asked_ms)
{
	struct backend *nb, **old;
	size_t i;
	int r = -ENOMEM;

	if (same_hosts(p, hosts, n)) {
		for (i = 0; i < n; i++) {
			take_host(&p->backends[i], &hosts[i], asked_ms);
			reset_scan_marks(&p->backends[i]);
		}
		return 0;
	}
	nb = calloc(n > 0 ? n : 1, sizeof(*nb));
	old = calloc(n > 0 ? n : 1, sizeof(*old));
	if (nb == NULL || old == NULL)
		goto fail;
	/* New hosts' memory first: a failure must leave the table whole. */
	for (i = 0; i < n; i++) {
		nb[i].dh = hosts[i];
		old[i] = pool_find(p, hosts[i].ip);
		if (old[i] == NULL &&
		    backend_init_ports(&nb[i], p->nports) < 0)
			goto fail;
	}
	for (i = 0; i < n; i++) {
		if (old[i] != NULL) {
			/* Its memory moves to the new table. */
			nb[i] = *old[i];
			take_host(&nb[i], &hosts[i], asked_ms);
			old[i]->ports = NULL;
			old[i]->reason = NULL;
		}
		reset_scan_marks(&nb[i]);
	}
	free_backends(p->backends, p->n, p->nports);
	p->backends = nb;
	p->n = n;
	nb = NULL;
	r = 0;
fail:
	if (nb != NULL)
		free_backends(nb, n, p->nports);
	free(old);
	return r;
}

int
pool_merge(struct pool *p, struct router_host_list *list,
    int64_t asked_ms, size_t *duplicates, char *dup_ip, size_t dup_iplen)
{
	struct router_host *hosts;
	size_t n;
	int r;

	*duplicates = 0;
	if ((r = sorted_unique(list, &hosts, &n, duplicates, dup_ip,
	    dup_iplen)) < 0)
		return r;
	r = merge_hosts(p, hosts, n, asked_ms);
	free(hosts);
	if (r < 0)
		return r;
	/* Every backend's dh.tag points into the list's tags now. */
	free(p->tags);
	p->tags = list->tags;
	list->tags = NULL;
	return 0;
}

struct backend *
pool_find(const struct pool *p, const char *ip)
{
	struct backend key;

	if (p->n == 0)
		return NULL;
	/* As the table holds them: "0::1" finds "::1". */
	if (ip_canonical(ip, key.dh.ip, sizeof(key.dh.ip)) < 0)
		str_copy(key.dh.ip, ip, sizeof(key.dh.ip));
	return bsearch(&key, p->backends, p->n, sizeof(*p->backends),
	    cmp_backend);
}

void
pool_count(const struct pool *p, struct pool_counts *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < p->n; i++) {
		const struct backend *b = &p->backends[i];

		switch (b->health) {
		case HEALTH_OK: c->healthy++; break;
		case HEALTH_FAILED: c->failed++; break;
		case HEALTH_UNKNOWN: c->unknown++; break;
		case HEALTH_UNCHECKED: c->unchecked++; break;
		}
		if (b->dh.up)
			c->director_up++;
	}
}

int
pool_store_report(struct pool *p, uint32_t scan_id,
    const struct check_report *rep)
{
	struct backend *b;

	if (rep->magic != CHECK_REPORT_MAGIC || rep->scan_id != scan_id ||
	    rep->backend >= p->n || rep->port >= p->nports ||
	    (unsigned int)rep->result.status >= CHECK_STATUS_COUNT)
		return -EINVAL;
	b = &p->backends[rep->backend];
	if (!backend_in_scan(b, scan_id) || b->pid == 0)
		return -ESRCH;
	b->reported |= 1u << rep->port;
	return port_state_set(&b->ports[rep->port], &rep->result);
}
