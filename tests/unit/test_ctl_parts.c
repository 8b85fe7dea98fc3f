/*
 * The daemon's status and recheck replies: split into parts under the size
 * target, made one at a time, the summary (or not_found) in the first,
 * every backend exactly once and in address order, even when the host list
 * is replaced between parts.
 */
#include <errno.h>
#include <stdlib.h>

#include "control.h"
#include "control_reply.h"
#include "frame.h"
#include "poolmon.pb-c.h"
#include "poolmond.h"
#include "unit.h"
#include "util.h"
#include "wiring.h"

static struct poolmond d;
static struct control_ctx ctx;
/* The longest tag a HOST-LIST may carry. */
static char longest_tag[DIRECTOR_TAG_MAX];

/* The control socket's view of d, wired as main does. */
static const struct control_ctx *
ctl(void)
{
	wire_control_ctx(&d, NULL, &ctx);
	return &ctx;
}

static int
cmp_backend(const void *a, const void *b)
{
	return strcmp(((const struct backend *)a)->dh.ip,
	    ((const struct backend *)b)->dh.ip);
}

/* Make pool of n backends with nports each the daemon's table. */
static void
use_pool(struct backend *pool, size_t n, size_t nports)
{
	memset(&d, 0, sizeof(d));
	config_defaults(&d.cfg);
	d.cfg.nports = nports;
	d.pool.backends = pool;
	d.pool.n = n;
}

static void
make_pool(size_t n, size_t nports)
{
	size_t i, p;

	use_pool(calloc(n > 0 ? n : 1, sizeof(*d.pool.backends)), n, nports);
	memset(longest_tag, 't', sizeof(longest_tag) - 1);
	for (p = 0; p < nports; p++) {
		d.cfg.ports[p].port = (uint16_t)(1000 + p);
		d.cfg.ports[p].proto = PROTO_IMAP;
	}
	for (i = 0; i < n; i++) {
		struct backend *b = &d.pool.backends[i];

		snprintf(b->dh.ip, sizeof(b->dh.ip), "10.%zu.%zu.%zu",
		    i / 65536, i / 256 % 256, i % 256);
		if (backend_init_ports(b, nports) < 0)
			abort();
		b->dh.tag = longest_tag;
		b->dh.up = i % 2 == 0;
		b->dh.vhost_count = 100;
		if (i % 3 == 0)
			continue;	/* never checked */
		b->last_check = 1700000000;
		b->health = i % 3 == 1 ? HEALTH_OK : HEALTH_FAILED;
		/* The longest reasons there can be. */
		b->reason = calloc(1, BACKEND_REASON_MAX);
		memset(b->reason, 'r', BACKEND_REASON_MAX - 1);
		for (p = 0; p < nports; p++) {
			b->ports[p].status = b->health == HEALTH_OK ?
			    CHECK_OK : CHECK_ETIMEOUT;
			b->ports[p].tries = 4;
			b->ports[p].reason = calloc(1, CHECK_REASON_MAX);
			memset(b->ports[p].reason, 'x', CHECK_REASON_MAX - 1);
		}
	}
	qsort(d.pool.backends, n, sizeof(*d.pool.backends), cmp_backend);
}

/* Backends first .. first + n - 1, sorted by address as scan.c keeps them. */
static struct backend *
pool_from(size_t first, size_t n, size_t nports)
{
	struct backend *pool = calloc(n > 0 ? n : 1, sizeof(*pool));
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(pool[i].dh.ip, sizeof(pool[i].dh.ip), "10.%zu.%zu.%zu",
		    (first + i) / 65536, (first + i) / 256 % 256,
		    (first + i) % 256);
		if (backend_init_ports(&pool[i], nports) < 0)
			abort();
		pool[i].dh.up = true;
	}
	qsort(pool, n, sizeof(*pool), cmp_backend);
	return pool;
}

static void
free_backends(struct backend *pool, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		backend_free(&pool[i], d.cfg.nports);
	free(pool);
}

static void
free_pool(void)
{
	size_t i;

	for (i = 0; i < d.pool.n; i++)
		backend_free(&d.pool.backends[i], d.cfg.nports);
	free(d.pool.backends);
	d.pool.backends = NULL;
}

static Poolmon__Response *
unpack(const struct ctl_msg *m)
{
	return poolmon__response__unpack(NULL, m->len, m->buf);
}

static void
test_large_pool(void)
{
	struct ctl_outq q = { 0 };
	size_t i, k, seen = 0;
	bool order_ok = true;

	make_pool(3000, MAX_PORTS);
	CHECK(control_status_reply(ctl(), 42, &q) == 0);
	CHECK(q.n > 10);
	for (i = 0; i < q.n; i++) {
		Poolmon__Response *r = unpack(&q.msg[i]);

		CHECK(q.msg[i].len <= CTL_PART_TARGET);
		CHECK(r != NULL);
		if (r == NULL)
			continue;
		CHECK(r->id == 42 && r->success);
		CHECK(r->version == POOLMON__PROTOCOL__PROTOCOL_VERSION);
		CHECK(r->more == (i + 1 < q.n));
		CHECK(r->result_case == POOLMON__RESPONSE__RESULT_STATUS);
		CHECK((r->status->summary != NULL) == (i == 0));
		if (i == 0 && r->status->summary != NULL) {
			CHECK(r->status->summary->backends_total == 3000);
			CHECK(r->status->summary->backends_unchecked == 1000);
			CHECK(r->status->summary->backends_healthy == 1000);
			CHECK(r->status->summary->backends_failed == 1000);
			CHECK(r->status->summary->director_up == 1500);
		}
		CHECK(r->status->n_backends > 0);
		for (k = 0; k < r->status->n_backends; k++, seen++) {
			Poolmon__Backend *b = r->status->backends[k];

			if (seen < d.pool.n &&
			    strcmp(b->address, d.pool.backends[seen].dh.ip) != 0)
				order_ok = false;
			if (b->n_checks != MAX_PORTS)
				order_ok = false;
		}
		poolmon__response__free_unpacked(r, NULL);
	}
	CHECK(seen == 3000);
	CHECK(order_ok);
	ctl_outq_clear(&q);
	free_pool();
}

static void
test_backend_fields(void)
{
	struct ctl_outq q = { 0 };
	Poolmon__Response *r;
	Poolmon__Backend *b;

	make_pool(3, 2);
	d.cfg.ports[1].tls = true;
	d.cfg.ports[1].proto = PROTO_POP3;
	CHECK(control_status_reply(ctl(), 7, &q) == 0);
	CHECK(q.n == 1);
	if (q.n != 1 || (r = unpack(&q.msg[0])) == NULL) {
		CHECK(0);
		return;
	}
	CHECK(!r->more);
	CHECK(r->status->n_backends == 3);
	b = r->status->backends[0];
	CHECK(b->health == POOLMON__HEALTH__HEALTH_UNKNOWN);
	CHECK(b->last_check == 0 && b->director_up);
	CHECK(!b->checks[0]->checked && !b->checks[0]->has_ok);
	b = r->status->backends[2];
	CHECK(b->health == POOLMON__HEALTH__HEALTH_FAILED && b->director_up);
	CHECK(!r->status->backends[1]->director_up);
	CHECK(b->last_check == 1700000000);
	CHECK(b->reason != NULL && strlen(b->reason) == BACKEND_REASON_MAX - 1);
	CHECK(b->checks[1]->port == 1001 && b->checks[1]->tls);
	CHECK_STR(b->checks[1]->protocol, "POP3");
	CHECK_STR(b->checks[1]->status, "timeout");
	CHECK(b->checks[1]->checked && !b->checks[1]->ok);
	CHECK(b->checks[1]->tries == 4);
	poolmon__response__free_unpacked(r, NULL);
	ctl_outq_clear(&q);
	free_pool();
}

static void
test_empty_pool(void)
{
	struct ctl_outq q = { 0 };
	Poolmon__Response *r;

	make_pool(0, 2);
	d.view.down = true;
	str_copy(d.view.error, "connect: refused",
	    sizeof(d.view.error));
	CHECK(control_status_reply(ctl(), 1, &q) == 0);
	CHECK(q.n == 1);
	if (q.n == 1 && (r = unpack(&q.msg[0])) != NULL) {
		CHECK(!r->more && r->status->n_backends == 0);
		CHECK(r->status->summary != NULL);
		CHECK(!r->status->summary->director_reachable);
		CHECK_STR(r->status->summary->director_error,
		    "connect: refused");
		poolmon__response__free_unpacked(r, NULL);
	}
	ctl_outq_clear(&q);
	free_pool();
}

/* The addresses in q's unread parts, in order; their not_found counted. */
static size_t
collect(struct ctl_outq *q, char (*seen)[INET6_ADDRSTRLEN], size_t max,
    size_t *nnot_found)
{
	Poolmon__Backend **b;
	size_t i, k, n = 0, nb;

	for (i = q->head; i < q->n; i++) {
		Poolmon__Response *r = unpack(&q->msg[i]);

		CHECK(r != NULL && q->msg[i].len <= CTL_PART_TARGET);
		if (r == NULL)
			continue;
		if (r->result_case == POOLMON__RESPONSE__RESULT_RECHECK) {
			b = r->recheck->backends;
			nb = r->recheck->n_backends;
			*nnot_found += r->recheck->n_not_found;
		} else {
			b = r->status->backends;
			nb = r->status->n_backends;
		}
		for (k = 0; k < nb && n < max; k++)
			str_copy(seen[n++], b[k]->address, INET6_ADDRSTRLEN);
		poolmon__response__free_unpacked(r, NULL);
	}
	/* Read: gone, as client_flush() frees what it has written. */
	for (i = q->head; i < q->n; i++) {
		free(q->msg[i].buf);
		q->msg[i].buf = NULL;
	}
	q->head = q->n;
	return n;
}

/*
 * A scan replaces the host list while a status is being read: the reply
 * goes on from the last address sent, so it has every host of the old list
 * up to there and every host of the new one after it, each once, in order.
 */
static void
test_list_replaced_between_parts(void)
{
	static char seen[8000][INET6_ADDRSTRLEN];
	struct ctl_outq q = { 0 };
	struct ctl_stream s;
	struct backend *old;
	size_t n = 0, i, expect = 0, nf = 0;
	bool ordered = true;

	use_pool(pool_from(0, 3000, 5), 3000, 5);
	CHECK(ctl_stream_status(&s, ctl(), 9) == 0);
	CHECK(ctl_stream_next(&s, ctl(), &q) == 0 && s.active);
	CHECK(ctl_stream_next(&s, ctl(), &q) == 0 && s.active);
	n = collect(&q, seen, 8000, &nf);
	CHECK(n > 0 && n < 3000);
	for (i = 0; i < 3000; i++)
		if (strcmp(d.pool.backends[i].dh.ip, seen[n - 1]) <= 0)
			expect++;
	/* Hosts 0-1999 leave, 3000-4999 arrive. */
	old = d.pool.backends;
	d.pool.backends = pool_from(2000, 3000, 5);
	free_backends(old, 3000);
	for (i = 0; i < 3000; i++)
		if (strcmp(d.pool.backends[i].dh.ip, seen[n - 1]) > 0)
			expect++;
	while (s.active)
		CHECK(ctl_stream_next(&s, ctl(), &q) == 0);
	n += collect(&q, seen + n, 8000 - n, &nf);
	for (i = 1; i < n; i++)
		if (strcmp(seen[i - 1], seen[i]) >= 0)
			ordered = false;
	CHECK(ordered);
	CHECK(n == expect);
	CHECK(nf == 0);
	ctl_stream_end(&s);
	ctl_outq_clear(&q);
	free_pool();
}

static char **
hosts_of(size_t first, size_t n, const char *extra1, const char *extra2)
{
	char **h = calloc(n + 3, sizeof(*h));
	size_t i;

	for (i = 0; i < n; i++)
		if (asprintf(&h[i], "10.%zu.%zu.%zu", (first + i) / 65536,
		    (first + i) / 256 % 256, (first + i) % 256) < 0)
			abort();
	h[n] = strdup(extra1);
	h[n + 1] = strdup(extra2);
	return h;
}

/*
 * A recheck's reply: the requested hosts its scan checked, in parts; the
 * ones the director lacks, or the scan did not check, once, in the first.
 */
static void
test_recheck_reply(void)
{
	static char seen[4000][INET6_ADDRSTRLEN];
	struct ctl_outq q = { 0 };
	struct ctl_stream s;
	Poolmon__Response *r;
	size_t n, nf = 0, i;

	use_pool(pool_from(0, 3000, 5), 3000, 5);
	d.scan.scan_id = 7;
	for (i = 0; i < 3000; i++)
		d.pool.backends[i].scanned_in = 7;
	/* Checked by an older scan only: not this recheck's. */
	d.pool.backends[10].scanned_in = 6;
	/* 2900 hosts asked for, 10.0.0.0 .. 10.0.11.83, and two unknown. */
	CHECK(ctl_stream_recheck(&s, ctl(), 3, hosts_of(0, 2900, "192.0.2.1",
	    "192.0.2.2"), 2902) == 0);
	CHECK(ctl_stream_next(&s, ctl(), &q) == 0);
	if (q.n == 1 && (r = unpack(&q.msg[0])) != NULL) {
		CHECK(!r->success && r->has_code && r->code == ENOENT);
		CHECK(r->recheck->scan_id == 7 && r->more);
		CHECK(r->recheck->n_not_found == 3);
		CHECK(r->message != NULL && strstr(r->message, "192.0.2.2"));
		poolmon__response__free_unpacked(r, NULL);
	} else
		CHECK(0);
	while (s.active)
		CHECK(ctl_stream_next(&s, ctl(), &q) == 0);
	CHECK(q.n > 2);
	n = collect(&q, seen, 4000, &nf);
	/* 10.0.0.10 (index 10 of the sorted pool) was not checked. */
	CHECK(nf == 3);
	CHECK(n == 2899);
	for (i = 0; i < n; i++)
		if (strcmp(seen[i], d.pool.backends[10].dh.ip) == 0)
			CHECK(0);
	ctl_stream_end(&s);
	ctl_outq_clear(&q);
	free_pool();
}

int
main(void)
{
	RUN(test_large_pool);
	RUN(test_backend_fields);
	RUN(test_empty_pool);
	RUN(test_list_replaced_between_parts);
	RUN(test_recheck_reply);
	return UNIT_EXIT();
}
