/*
 * Bounded, cached PTR lookups. The cache is an open-addressing table in an
 * anonymous shared mapping made before the daemon forks, so every check
 * process reads what earlier ones found. A robust process-shared mutex
 * guards it: a check process killed at its deadline while holding the lock
 * must not wedge the others.
 */
#include "ptr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "util.h"

#define PTR_CACHE_SLOTS		4096
#define PTR_IP_MAX		INET6_ADDRSTRLEN

struct ptr_entry {
	char ip[PTR_IP_MAX];		/* "" : free slot */
	char name[PTR_NAME_MAX];	/* "" : no name (fall back) */
	int64_t expires;		/* monotonic ms, system-wide */
};

struct ptr_cache {
	pthread_mutex_t lock;
	ptr_resolver_fn resolver;
	struct ptr_entry slots[PTR_CACHE_SLOTS];
};

/* One lookup in flight; freed by whichever of waiter and resolver is last. */
struct ptr_job {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	bool done;
	bool abandoned;
	int rc;
	ptr_resolver_fn resolver;
	char ip[PTR_IP_MAX];
	char name[PTR_NAME_MAX];
};

/* Only a plausible DNS name is worth verifying a certificate against. */
static bool
valid_dns_name(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len < PTR_NAME_MAX && name[0] != '.' &&
	    name[0] != '-' && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == len;
}

static int
system_resolver(const char *ip, char *name, size_t len)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sslen;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sslen = sizeof(*sin6);
	} else
		return -1;
	/* NI_NAMEREQD: no name is a failure, not the address as text. */
	if (getnameinfo((struct sockaddr *)&ss, sslen, name, (socklen_t)len,
	    NULL, 0, NI_NAMEREQD) != 0)
		return -1;
	return 0;
}

struct ptr_cache *
ptr_cache_new(ptr_resolver_fn resolver)
{
	pthread_mutexattr_t attr;
	struct ptr_cache *pc;

	pc = mmap(NULL, sizeof(*pc), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pc == MAP_FAILED)
		return NULL;
	pc->resolver = resolver != NULL ? resolver : system_resolver;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (pthread_mutex_init(&pc->lock, &attr) != 0) {
		pthread_mutexattr_destroy(&attr);
		munmap(pc, sizeof(*pc));
		return NULL;
	}
	pthread_mutexattr_destroy(&attr);
	return pc;
}

void
ptr_cache_free(struct ptr_cache *pc)
{
	if (pc == NULL)
		return;
	pthread_mutex_destroy(&pc->lock);
	munmap(pc, sizeof(*pc));
}

static void
cache_lock(struct ptr_cache *pc)
{
	if (pthread_mutex_lock(&pc->lock) == EOWNERDEAD) {
		/* Its owner died mid-update: the table may be torn. */
		memset(pc->slots, 0, sizeof(pc->slots));
		pthread_mutex_consistent(&pc->lock);
	}
}

static size_t
slot_of(const char *ip)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *ip != '\0'; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h % PTR_CACHE_SLOTS;
}

/*
 * The slot holding ip, else the first free or expired slot on its probe
 * path (insert there), else NULL: a full table caches nothing more.
 */
static struct ptr_entry *
find_slot(struct ptr_cache *pc, const char *ip, int64_t now, bool *found)
{
	struct ptr_entry *reuse = NULL, *e;
	size_t i, s = slot_of(ip);

	*found = false;
	for (i = 0; i < PTR_CACHE_SLOTS; i++) {
		e = &pc->slots[(s + i) % PTR_CACHE_SLOTS];
		if (e->ip[0] == '\0')
			return reuse != NULL ? reuse : e;
		if (strcmp(e->ip, ip) == 0) {
			*found = e->expires > now;
			return e;
		}
		if (reuse == NULL && e->expires <= now)
			reuse = e;
	}
	return reuse;
}

/* 1 with the cached answer in name (maybe ""), 0 when not cached. */
static int
cache_get(struct ptr_cache *pc, const char *ip, char *name, size_t len)
{
	struct ptr_entry *e;
	bool found;

	cache_lock(pc);
	e = find_slot(pc, ip, now_ms(), &found);
	if (found)
		str_copy(name, e->name, len);
	pthread_mutex_unlock(&pc->lock);
	return found ? 1 : 0;
}

static void
cache_put(struct ptr_cache *pc, const char *ip, const char *name)
{
	int64_t now = now_ms();
	struct ptr_entry *e;
	bool found;

	cache_lock(pc);
	if ((e = find_slot(pc, ip, now, &found)) != NULL) {
		str_copy(e->ip, ip, sizeof(e->ip));
		str_copy(e->name, name, sizeof(e->name));
		e->expires = now + (name[0] != '\0' ? PTR_TTL_NAME_MS :
		    PTR_TTL_NONE_MS);
	}
	pthread_mutex_unlock(&pc->lock);
}

static void
job_free(struct ptr_job *job)
{
	pthread_mutex_destroy(&job->lock);
	pthread_cond_destroy(&job->done_cv);
	free(job);
}

static void *
resolver_thread(void *arg)
{
	struct ptr_job *job = arg;
	char name[PTR_NAME_MAX] = "";
	int rc = job->resolver(job->ip, name, sizeof(name));
	bool abandoned;

	pthread_mutex_lock(&job->lock);
	job->rc = rc;
	str_copy(job->name, name, sizeof(job->name));
	job->done = true;
	abandoned = job->abandoned;
	pthread_cond_signal(&job->done_cv);
	pthread_mutex_unlock(&job->lock);
	if (abandoned)
		job_free(job);
	return NULL;
}

static struct ptr_job *
job_new(ptr_resolver_fn resolver, const char *ip)
{
	struct ptr_job *job = calloc(1, sizeof(*job));
	pthread_condattr_t ca;

	if (job == NULL)
		return NULL;
	job->resolver = resolver;
	str_copy(job->ip, ip, sizeof(job->ip));
	pthread_mutex_init(&job->lock, NULL);
	pthread_condattr_init(&ca);
	/* Deadlines are monotonic, like every other one in poolmond. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	return job;
}

/*
 * Wait for the job until deadline. Returns true with the answer copied
 * out; false when it timed out: the thread then frees the job itself.
 */
static bool
job_wait(struct ptr_job *job, int64_t deadline, int *rc, char *name,
    size_t len)
{
	struct timespec ts = { deadline / 1000, (deadline % 1000) * 1000000 };
	bool done;

	pthread_mutex_lock(&job->lock);
	while (!job->done) {
		if (pthread_cond_timedwait(&job->done_cv, &job->lock, &ts) !=
		    0)
			break;
	}
	done = job->done;
	if (done) {
		*rc = job->rc;
		str_copy(name, job->name, len);
	} else
		job->abandoned = true;
	pthread_mutex_unlock(&job->lock);
	if (done)
		job_free(job);
	return done;
}

/* Ask the resolver, waiting at most timeout_ms: -1 for no name in time. */
static int
resolve_bounded(struct ptr_cache *pc, const char *ip, int timeout_ms,
    char *name, size_t len)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct ptr_job *job;
	pthread_attr_t attr;
	pthread_t tid;
	int rc = -1, r;

	if ((job = job_new(pc->resolver, ip)) == NULL)
		return -1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&tid, &attr, resolver_thread, job);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		job_free(job);
		return -1;
	}
	if (!job_wait(job, deadline, &rc, name, len))
		return -1;
	return rc == 0 && valid_dns_name(name) ? 0 : -1;
}

int
ptr_lookup(struct ptr_cache *pc, const char *ip, int timeout_ms, char *name,
    size_t len)
{
	char found[PTR_NAME_MAX];
	size_t n;

	if (pc == NULL || strlen(ip) >= PTR_IP_MAX)
		return -1;
	if (cache_get(pc, ip, found, sizeof(found)) == 0) {
		if (resolve_bounded(pc, ip, timeout_ms, found,
		    sizeof(found)) < 0)
			found[0] = '\0';
		/* A trailing dot names the root; certificates do not. */
		n = strlen(found);
		if (n > 0 && found[n - 1] == '.')
			found[n - 1] = '\0';
		cache_put(pc, ip, found);
	}
	if (found[0] == '\0' || strlen(found) >= len)
		return -1;
	str_copy(name, found, len);
	return 0;
}
