/*
 * The daemon's PTR names: the cache (TTL of names and of their absence,
 * its bound, lookups in flight kept), the forward-confirmation decision,
 * name hygiene, and a real c-ares lookup bounded by its deadline against a
 * DNS server that never answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "namecache.h"
#include "ptr.h"
#include "resolver.h"
#include "util.h"
#include "unit.h"

static void
test_cache_ttl(void)
{
	struct name_cache *nc = name_cache_new(16);
	const char *name;

	CHECK(nc != NULL);
	CHECK(name_cache_get(nc, "192.0.2.1", 0, &name) == NAME_MISSING);
	CHECK(name_cache_pending(nc, "192.0.2.1") == 0);
	CHECK(name_cache_get(nc, "192.0.2.1", 0, &name) == NAME_PENDING);
	name_cache_set(nc, "192.0.2.1", "mail1.example.org", 1000);
	CHECK(name_cache_get(nc, "192.0.2.1", 1000 + NAME_TTL_FOUND_MS - 1,
	    &name) == NAME_KNOWN);
	CHECK_STR(name, "mail1.example.org");
	CHECK(name_cache_get(nc, "192.0.2.1", 1000 + NAME_TTL_FOUND_MS,
	    &name) == NAME_MISSING);
	CHECK(name == NULL);

	/* No name is an answer too, kept for a shorter time. */
	name_cache_set(nc, "192.0.2.2", NULL, 1000);
	CHECK(name_cache_get(nc, "192.0.2.2", 1000 + NAME_TTL_NONE_MS - 1,
	    &name) == NAME_KNOWN);
	CHECK(name == NULL);
	CHECK(name_cache_get(nc, "192.0.2.2", 1000 + NAME_TTL_NONE_MS,
	    &name) == NAME_MISSING);

	/* An expired answer is asked again in the same entry. */
	CHECK(name_cache_pending(nc, "192.0.2.2") == 0);
	CHECK(name_cache_get(nc, "192.0.2.2", 0, &name) == NAME_PENDING);
	CHECK(name_cache_count(nc) == 2);
	name_cache_free(nc);
}

static void
test_cache_bound(void)
{
	struct name_cache *nc = name_cache_new(3);
	const char *name;

	CHECK(nc != NULL);
	name_cache_set(nc, "192.0.2.1", "a.example", 0);
	name_cache_set(nc, "192.0.2.2", "b.example", 0);
	name_cache_set(nc, "192.0.2.3", NULL, 0);
	name_cache_set(nc, "192.0.2.4", "d.example", 0);
	CHECK(name_cache_count(nc) == 3);
	/* The oldest answer gave way. */
	CHECK(name_cache_get(nc, "192.0.2.1", 1, &name) == NAME_MISSING);
	CHECK(name_cache_get(nc, "192.0.2.2", 1, &name) == NAME_KNOWN);
	CHECK_STR(name, "b.example");
	CHECK(name_cache_get(nc, "192.0.2.4", 1, &name) == NAME_KNOWN);

	/* Lookups in flight are never dropped: a full table refuses. */
	CHECK(name_cache_pending(nc, "192.0.2.5") == 0);
	CHECK(name_cache_pending(nc, "192.0.2.6") == 0);
	CHECK(name_cache_pending(nc, "192.0.2.7") == 0);
	CHECK(name_cache_count(nc) == 3);
	CHECK(name_cache_pending(nc, "192.0.2.8") == -ENOSPC);
	CHECK(name_cache_get(nc, "192.0.2.5", 1, &name) == NAME_PENDING);
	CHECK(name_cache_get(nc, "192.0.2.7", 1, &name) == NAME_PENDING);
	/* Once one has its answer, that answer may give way. */
	name_cache_set(nc, "192.0.2.5", NULL, 1);
	CHECK(name_cache_pending(nc, "192.0.2.8") == 0);
	CHECK(name_cache_get(nc, "192.0.2.5", 2, &name) == NAME_MISSING);
	CHECK(name_cache_get(nc, "192.0.2.6", 2, &name) == NAME_PENDING);
	CHECK(name_cache_pending(nc, "not an address at all, far too long "
	    "to be one, longer than INET6_ADDRSTRLEN") == -EINVAL);
	name_cache_free(nc);
}

/* A forward answer holding addrs (of family, len bytes each). */
static struct hostent *
fake_hostent(int family, const void *a1, const void *a2)
{
	static char *list[3];
	static struct hostent h;
	size_t len = family == AF_INET ? 4 : 16;

	memset(&h, 0, sizeof(h));
	h.h_addrtype = family;
	h.h_length = (int)len;
	list[0] = (char *)a1;
	list[1] = (char *)a2;
	list[2] = NULL;
	h.h_addr_list = list;
	return &h;
}

static void
test_forward_confirmation(void)
{
	unsigned char backend[4], other[4], v6[16], v6other[16];
	struct hostent *h;

	inet_pton(AF_INET, "192.0.2.10", backend);
	inet_pton(AF_INET, "198.51.100.7", other);
	inet_pton(AF_INET6, "2001:db8::10", v6);
	inet_pton(AF_INET6, "2001:db8::99", v6other);

	h = fake_hostent(AF_INET, other, backend);
	CHECK(ptr_forward_confirms(h, AF_INET, backend));
	/* The name points elsewhere only: the PTR record is no proof. */
	h = fake_hostent(AF_INET, other, NULL);
	CHECK(!ptr_forward_confirms(h, AF_INET, backend));
	h = fake_hostent(AF_INET6, v6other, v6);
	CHECK(ptr_forward_confirms(h, AF_INET6, v6));
	CHECK(!ptr_forward_confirms(h, AF_INET, backend));
	h = fake_hostent(AF_INET6, v6other, NULL);
	CHECK(!ptr_forward_confirms(h, AF_INET6, v6));
	CHECK(!ptr_forward_confirms(NULL, AF_INET, backend));
}

static void
test_name_take(void)
{
	char name[PTR_NAME_MAX], small[8], longname[400];

	CHECK(ptr_name_take(name, sizeof(name), "mail1.example.org."));
	CHECK_STR(name, "mail1.example.org");
	CHECK(ptr_name_take(name, sizeof(name), "mx_2.example-x.org"));
	CHECK(!ptr_name_take(name, sizeof(name), "bad name!"));
	CHECK_STR(name, "");
	CHECK(!ptr_name_take(name, sizeof(name), "-leading.example"));
	CHECK(!ptr_name_take(name, sizeof(name), "."));
	CHECK(!ptr_name_take(name, sizeof(name), NULL));
	CHECK(!ptr_name_take(small, sizeof(small), "toolong.example"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(!ptr_name_take(name, sizeof(name), longname));
}

struct ready_count {
	int calls;
	bool gave_up;
};

static void
on_ready(void *arg)
{
	struct ready_count *rc = arg;

	rc->calls++;
}

static int
on_give_up(sd_event_source *s, uint64_t usec, void *arg)
{
	struct ready_count *rc = arg;

	(void)s;
	(void)usec;
	rc->gave_up = true;
	return 0;
}

/*
 * A DNS server that reads and never answers: the lookup ends at its
 * deadline with no name, the daemon's loop never blocked on it, and the
 * absence is cached.
 */
static void
test_resolver_bounded(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct ready_count rc = { 0, false };
	struct resolver *r;
	const char *name = "unset";
	char servers[64], err[256], buf[512];
	sd_event *event = NULL;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	snprintf(servers, sizeof(servers), "127.0.0.1:%u",
	    ntohs(sin.sin_port));
	CHECK(sd_event_new(&event) >= 0);
	r = resolver_new(event, 300, servers, on_ready, &rc, err,
	    sizeof(err));
	CHECK(r != NULL);
	if (r == NULL)
		return;
	/* TEST-NET-1: in no hosts file, so the query goes to the server. */
	CHECK(resolver_name(r, "192.0.2.77", &name) == 0);
	CHECK(resolver_name(r, "192.0.2.77", &name) == 0);	/* one lookup */
	CHECK(sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC,
	    10 * 1000000, 1000, on_give_up, &rc) >= 0);
	while (rc.calls == 0 && !rc.gave_up)
		CHECK(sd_event_run(event, UINT64_MAX) >= 0);
	CHECK(!rc.gave_up);			/* ended at its deadline */
	CHECK(rc.calls == 1);
	CHECK(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 12);	/* asked */
	CHECK(resolver_name(r, "192.0.2.77", &name) == 1);
	CHECK(name == NULL);
	/* Not an address: nothing to ask, the address is verified. */
	CHECK(resolver_name(r, "no-address", &name) == 1);
	CHECK(name == NULL);
	/* Freed with a lookup in flight: no call, nothing left behind. */
	CHECK(resolver_name(r, "192.0.2.78", &name) == 0);
	resolver_free(r);
	CHECK(rc.calls == 1);
	sd_event_unref(event);
	close(fd);
}

int
main(void)
{
	RUN(test_cache_ttl);
	RUN(test_cache_bound);
	RUN(test_forward_confirmation);
	RUN(test_name_take);
	RUN(test_resolver_bounded);
	return UNIT_EXIT();
}
