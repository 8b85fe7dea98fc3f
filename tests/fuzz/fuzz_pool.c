/*
 * Sequences of host lists through the real merge into the backend table,
 * with reports arriving for old and new entries. The input is lines:
 *   "L"          merge the host lines collected so far as one HOST-LIST
 *                and start a scan of every backend
 *   "R..."       a check report: the next bytes are backend, port,
 *                status and scan offset (0: this scan, else an older one)
 *   "J"          judge every backend of the scan, count the pool
 *   anything else a HOST-LIST line, through the real line parser
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "director.h"
#include "pool.h"

#define NPORTS		3
#define MAX_HOSTS	512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct portspec ports[NPORTS] = {
	{ .port = 143, .proto = PROTO_IMAP },
	{ .port = 110, .proto = PROTO_POP3 },
	{ .port = 24, .proto = PROTO_LMTP },
};

struct run {
	struct pool pool;
	struct router_host hosts[MAX_HOSTS];
	char tags[MAX_HOSTS][DIRECTOR_TAG_MAX];
	size_t n;
	uint32_t scan_id;
};

/* The collected lines as a HOST-LIST owning its tags, as the client
 * makes them. */
static void
merge(struct run *r)
{
	struct router_host_list list = { .n = r->n };
	char dup_ip[INET6_ADDRSTRLEN];
	size_t i, dups, off = 1;

	list.hosts = calloc(r->n > 0 ? r->n : 1, sizeof(*list.hosts));
	list.tags = calloc(1, r->n * DIRECTOR_TAG_MAX + 1);
	if (list.hosts != NULL && list.tags != NULL) {
		for (i = 0; i < r->n; i++) {
			list.hosts[i] = r->hosts[i];
			strcpy(list.tags + off, r->tags[i]);
			list.hosts[i].tag = list.tags + off;
			off += strlen(r->tags[i]) + 1;
		}
		if (pool_merge(&r->pool, &list, 0, &dups, dup_ip,
		    sizeof(dup_ip)) == 0) {
			r->scan_id++;
			for (i = 0; i < r->pool.n; i++) {
				r->pool.backends[i].scanned_in = r->scan_id;
				r->pool.backends[i].pid = 1;
			}
		}
	}
	router_host_list_free(&list);
	r->n = 0;
}

static void
add_host(struct run *r, const char *line, size_t len)
{
	char buf[DIRECTOR_LINE_MAX];
	const char *why;

	if (r->n == MAX_HOSTS || len >= sizeof(buf))
		return;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (director_parse_host_line(buf, &r->hosts[r->n], &why) < 0)
		return;
	snprintf(r->tags[r->n], DIRECTOR_TAG_MAX, "%s", r->hosts[r->n].tag);
	r->n++;
}

static void
add_report(struct run *r, const uint8_t *p, size_t len)
{
	struct check_report rep = { .magic = CHECK_REPORT_MAGIC };

	if (len < 5)
		return;
	rep.backend = p[1] % (r->pool.n + 2);
	rep.port = p[2] % (NPORTS + 1);
	rep.result.status = (enum check_status)(p[3] % (CHECK_STATUS_COUNT + 1));
	rep.scan_id = r->scan_id - p[4] % 3;
	snprintf(rep.result.reason, sizeof(rep.result.reason), "%.*s",
	    (int)(len - 5), (const char *)p + 5);
	(void)pool_store_report(&r->pool, r->scan_id, &rep);
}

static void
judge(struct run *r)
{
	struct pool_counts c;
	size_t i;

	for (i = 0; i < r->pool.n; i++)
		backend_judge(&r->pool.backends[i], ports, NPORTS);
	pool_count(&r->pool, &c);
	if (c.healthy + c.failed + c.unknown + c.unchecked != r->pool.n)
		abort();
	for (i = 1; i < r->pool.n; i++)
		if (strcmp(r->pool.backends[i - 1].dh.ip,
		    r->pool.backends[i].dh.ip) >= 0)
			abort();	/* sorted, each address once */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	const uint8_t *line = data, *end = data + size, *nl;

	if (size > 64 * 1024)
		return 0;
	pool_init(&r.pool, NPORTS);
	r.n = 0;
	r.scan_id = 1;
	while (line < end) {
		size_t len;

		nl = memchr(line, '\n', (size_t)(end - line));
		len = (size_t)((nl != NULL ? nl : end) - line);
		if (len == 1 && line[0] == 'L')
			merge(&r);
		else if (len == 1 && line[0] == 'J')
			judge(&r);
		else if (len > 0 && line[0] == 'R')
			add_report(&r, line, len);
		else
			add_host(&r, (const char *)line, len);
		line += len + 1;
	}
	merge(&r);
	judge(&r);
	pool_free(&r.pool);
	return 0;
}
