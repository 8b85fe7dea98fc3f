/*
 * The backend table: merging host lists (duplicates, empty lists, address
 * forms), what moves from one table to the next, reports for old and new
 * entries, and a backend's health from its ports' results.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "util.h"
#include "unit.h"

#define NPORTS	2

/* A HOST-LIST of "ip" or "ip=tag" words, as director_host_list() makes
 * them: hosts and one tags buffer, both malloc'ed. */
static struct router_host_list
make_list(const char *const *words, size_t n)
{
	struct router_host_list l = { .n = n };
	size_t i, off = 1;

	l.hosts = calloc(n > 0 ? n : 1, sizeof(*l.hosts));
	l.tags = calloc(1, 4096);
	for (i = 0; i < n; i++) {
		const char *eq = strchr(words[i], '=');
		size_t iplen = eq != NULL ? (size_t)(eq - words[i]) :
		    strlen(words[i]);

		memcpy(l.hosts[i].ip, words[i], iplen);
		l.hosts[i].up = true;
		l.hosts[i].tag = l.tags;
		if (eq != NULL) {
			strcpy(l.tags + off, eq + 1);
			l.hosts[i].tag = l.tags + off;
			off += strlen(eq + 1) + 1;
		}
	}
	return l;
}

static int
merge_asked(struct pool *p, const char *const *words, size_t n,
    int64_t asked_ms, size_t *dups)
{
	struct router_host_list l = make_list(words, n);
	char dup_ip[INET6_ADDRSTRLEN];
	int r = pool_merge(p, &l, asked_ms, dups, dup_ip, sizeof(dup_ip));

	router_host_list_free(&l);
	return r;
}

static int
merge(struct pool *p, const char *const *words, size_t n, size_t *dups)
{
	return merge_asked(p, words, n, 0, dups);
}

static struct check_report
report(uint32_t scan_id, uint32_t backend, uint32_t port,
    enum check_status st)
{
	struct check_report rep = {
		.magic = CHECK_REPORT_MAGIC, .scan_id = scan_id,
		.backend = backend, .port = port,
		.result = { .status = st, .tries = 1 },
	};

	if (st != CHECK_OK)
		snprintf(rep.result.reason, sizeof(rep.result.reason),
		    "step: %s", check_status_str(st));
	return rep;
}

/* Select every backend for scan id, as the scan does. */
static void
select_all(struct pool *p, uint32_t id)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		p->backends[i].scanned_in = id;
		p->backends[i].pid = 1000 + (pid_t)i;
	}
}

static void
test_duplicates_in_first_list(void)
{
	static const char *const w[] = { "10.0.0.2=first", "10.0.0.1",
	    "10.0.0.2=second", "10.0.0.3", "10.0.0.1" };
	struct pool p;
	size_t dups;

	pool_init(&p, NPORTS);
	CHECK(merge(&p, w, 5, &dups) == 0);
	CHECK(p.n == 3 && dups == 2);
	CHECK_STR(p.backends[0].dh.ip, "10.0.0.1");
	CHECK_STR(p.backends[1].dh.ip, "10.0.0.2");
	CHECK_STR(p.backends[1].dh.tag, "first");
	CHECK(pool_find(&p, "10.0.0.2") == &p.backends[1]);
	pool_free(&p);
}

/* Today's crash: a second list naming a known host twice gave the second
 * copy no port array, which the next report wrote through. */
static void
test_duplicates_in_later_list(void)
{
	static const char *const w1[] = { "10.0.0.1", "10.0.0.2" };
	static const char *const w2[] = { "10.0.0.2", "10.0.0.2",
	    "10.0.0.3", "10.0.0.1", "10.0.0.3" };
	struct check_report rep;
	struct pool p;
	size_t i, dups;

	pool_init(&p, NPORTS);
	CHECK(merge(&p, w1, 2, &dups) == 0 && dups == 0);
	p.backends[1].fail_count = 7;
	CHECK(merge(&p, w2, 5, &dups) == 0);
	CHECK(p.n == 3 && dups == 2);
	/* What was known of 10.0.0.2 moved, once. */
	CHECK(pool_find(&p, "10.0.0.2")->fail_count == 7);
	select_all(&p, 5);
	for (i = 0; i < p.n; i++) {
		CHECK(p.backends[i].ports != NULL);
		rep = report(5, (uint32_t)i, 1, CHECK_ECONNECT);
		CHECK(pool_store_report(&p, 5, &rep) == 0);
		CHECK(p.backends[i].ports[1].status == CHECK_ECONNECT);
	}
	pool_free(&p);
}

static void
test_empty_list(void)
{
	static const char *const w[] = { "10.0.0.1" };
	struct check_report rep = report(1, 0, 0, CHECK_OK);
	struct pool p;
	size_t dups;

	pool_init(&p, NPORTS);
	CHECK(merge(&p, NULL, 0, &dups) == 0 && p.n == 0);
	CHECK(pool_find(&p, "10.0.0.1") == NULL);
	CHECK(merge(&p, w, 1, &dups) == 0 && p.n == 1);
	CHECK(merge(&p, NULL, 0, &dups) == 0 && p.n == 0);
	CHECK(pool_store_report(&p, 1, &rep) == -EINVAL);
	pool_free(&p);
}

/* One address, two spellings: one backend. */
static void
test_address_forms(void)
{
	static const char *const w[] = { "0::1", "::1", "0:0:0:0:0:0:0:1" };
	struct pool p;
	size_t dups;

	pool_init(&p, NPORTS);
	CHECK(merge(&p, w, 3, &dups) == 0);
	CHECK(p.n == 1 && dups == 2);
	CHECK_STR(p.backends[0].dh.ip, "::1");
	CHECK(pool_find(&p, "0::1") == &p.backends[0]);
	pool_free(&p);
}

static void
test_stale_and_bad_reports(void)
{
	static const char *const w[] = { "10.0.0.1", "10.0.0.2" };
	struct check_report rep;
	struct pool p;
	size_t dups;

	pool_init(&p, NPORTS);
	CHECK(merge(&p, w, 2, &dups) == 0);
	select_all(&p, 3);
	rep = report(2, 0, 0, CHECK_OK);	/* an older scan's */
	CHECK(pool_store_report(&p, 3, &rep) == -EINVAL);
	rep = report(3, 2, 0, CHECK_OK);	/* no such backend */
	CHECK(pool_store_report(&p, 3, &rep) == -EINVAL);
	rep = report(3, 0, NPORTS, CHECK_OK);	/* no such port */
	CHECK(pool_store_report(&p, 3, &rep) == -EINVAL);
	rep = report(3, 0, 0, CHECK_OK);
	rep.result.status = CHECK_STATUS_COUNT;
	CHECK(pool_store_report(&p, 3, &rep) == -EINVAL);
	rep = report(3, 0, 0, CHECK_OK);
	rep.magic = 0;
	CHECK(pool_store_report(&p, 3, &rep) == -EINVAL);
	p.backends[0].pid = 0;			/* its check is over */
	rep = report(3, 0, 0, CHECK_OK);
	CHECK(pool_store_report(&p, 3, &rep) == -ESRCH);
	CHECK(p.backends[0].reported == 0);
	pool_free(&p);
}

static void
set_ports(struct backend *b, enum check_status a, enum check_status c)
{
	struct check_report r0 = report(1, 0, 0, a), r1 = report(1, 0, 1, c);

	CHECK(port_state_set(&b->ports[0], &r0.result) == 0);
	CHECK(port_state_set(&b->ports[1], &r1.result) == 0);
}

static void
test_judge(void)
{
	static const struct portspec ports[NPORTS] = {
		{ .port = 143, .proto = PROTO_IMAP },
		{ .port = 110, .proto = PROTO_POP3 },
	};
	static const char *const w[] = { "10.0.0.1", "10.0.0.2",
	    "10.0.0.3", "10.0.0.4" };
	struct pool_counts c;
	struct pool p;
	size_t dups;

	pool_init(&p, NPORTS);
	CHECK(merge(&p, w, 4, &dups) == 0);
	set_ports(&p.backends[0], CHECK_OK, CHECK_OK);
	set_ports(&p.backends[1], CHECK_ECHILD, CHECK_OK);
	set_ports(&p.backends[2], CHECK_ELOCAL, CHECK_ECONNECT);
	backend_judge(&p.backends[0], ports, NPORTS);
	backend_judge(&p.backends[1], ports, NPORTS);
	backend_judge(&p.backends[2], ports, NPORTS);
	CHECK(p.backends[0].health == HEALTH_OK);
	CHECK(p.backends[1].health == HEALTH_UNKNOWN);
	CHECK_STR(p.backends[1].reason, "IMAP:143 step: check process failed");
	/* The backend's own failure outweighs poolmond's. */
	CHECK(p.backends[2].health == HEALTH_FAILED);
	CHECK(p.backends[2].reason != NULL &&
	    strstr(p.backends[2].reason, "POP3:110 step: connect failed"));
	pool_count(&p, &c);
	CHECK(c.healthy == 1 && c.unknown == 1 && c.failed == 1 &&
	    c.unchecked == 1 && c.director_up == 4);
	pool_free(&p);
}

/*
 * A host list asked before our command on a host was answered (on the
 * director's other connection) shows it as it was: it does not undo the
 * command's up/down (a hold's HOST-DOWN was followed by "held but up:
 * down again"); a list asked after it does. In place and with the table
 * rebuilt alike.
 */
static void
test_list_older_than_command(void)
{
	static const char *const one[] = { "10.0.0.1", "10.0.0.2" };
	static const char *const two[] = { "10.0.0.1", "10.0.0.2", "10.0.0.3" };
	struct pool p;
	int64_t asked;
	size_t dups;

	pool_init(&p, NPORTS);
	CHECK(merge(&p, one, 2, &dups) == 0);
	asked = now_ms();
	pool_commanded(pool_find(&p, "10.0.0.2"), false);
	CHECK(merge_asked(&p, one, 2, asked - 1, &dups) == 0);
	CHECK(!pool_find(&p, "10.0.0.2")->dh.up);
	CHECK(pool_find(&p, "10.0.0.1")->dh.up);
	CHECK(merge_asked(&p, two, 3, asked - 1, &dups) == 0);
	CHECK(!pool_find(&p, "10.0.0.2")->dh.up);
	CHECK(merge_asked(&p, two, 3, now_ms() + 1, &dups) == 0);
	CHECK(pool_find(&p, "10.0.0.2")->dh.up);
	pool_free(&p);
}

int
main(void)
{
	RUN(test_duplicates_in_first_list);
	RUN(test_duplicates_in_later_list);
	RUN(test_empty_list);
	RUN(test_address_forms);
	RUN(test_stale_and_bad_reports);
	RUN(test_judge);
	RUN(test_list_older_than_command);
	return UNIT_EXIT();
}
