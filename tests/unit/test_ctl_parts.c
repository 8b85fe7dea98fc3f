/*
 * The daemon's status reply: split into parts under the size target, the
 * summary in the first, every backend exactly once and in order.
 */
#include <stdlib.h>

#include "control.h"
#include "frame.h"
#include "poolmon.pb-c.h"
#include "poolmond.h"
#include "unit.h"
#include "util.h"

static struct poolmond d;

static void
make_pool(size_t n, size_t nports)
{
	size_t i, p;

	memset(&d, 0, sizeof(d));
	config_defaults(&d.cfg);
	d.cfg.nports = nports;
	for (p = 0; p < nports; p++) {
		d.cfg.ports[p].port = (uint16_t)(1000 + p);
		d.cfg.ports[p].proto = PROTO_IMAP;
	}
	d.backends = calloc(n > 0 ? n : 1, sizeof(*d.backends));
	d.nbackends = n;
	for (i = 0; i < n; i++) {
		struct backend *b = &d.backends[i];

		snprintf(b->dh.ip, sizeof(b->dh.ip), "10.%zu.%zu.%zu",
		    i / 65536, i / 256 % 256, i % 256);
		if (backend_init_ports(b, nports) < 0)
			abort();
		memset(b->dh.tag, 't', sizeof(b->dh.tag) - 1);
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
}

static void
free_pool(void)
{
	size_t i;

	for (i = 0; i < d.nbackends; i++)
		backend_free(&d.backends[i], d.cfg.nports);
	free(d.backends);
	d.backends = NULL;
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
	CHECK(control_status_reply(&d, 42, &q) == 0);
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

			if (seen < d.nbackends &&
			    strcmp(b->address, d.backends[seen].dh.ip) != 0)
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
	CHECK(control_status_reply(&d, 7, &q) == 0);
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
	d.director_down = true;
	str_copy(d.director_error, "connect: refused",
	    sizeof(d.director_error));
	CHECK(control_status_reply(&d, 1, &q) == 0);
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

int
main(void)
{
	RUN(test_large_pool);
	RUN(test_backend_fields);
	RUN(test_empty_pool);
	return UNIT_EXIT();
}
