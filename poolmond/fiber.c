#include "fiber.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif

#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
/* AddressSanitizer's redzones make frames larger. */
#define FIBER_STACK	(1024 * 1024)
#else
/* OpenSSL's handshake and certificate checks run on it; untouched pages
 * cost nothing. */
#define FIBER_STACK	(256 * 1024)
#endif

struct fiber_set;

struct fiber {
	ucontext_t ctx;
	struct fiber_set *set;
	fiber_fn *fn;
	void *arg;
	char *stack;		/* lowest usable byte */
	int fd;			/* waited for, or -1 */
	short events;
	int64_t deadline;	/* of the wait */
	int result;		/* of the wait: revents, 0 or -errno */
	bool waiting;
	bool done;
#ifdef FIBER_ASAN
	void *fake_stack;
#endif
};

struct fiber_set {
	ucontext_t main;
	struct fiber *fibers;
	size_t n;
	size_t live;
	char *map;		/* every fiber's guard page and stack */
	size_t map_len;
	struct pollfd *pfd;	/* of the waiting fibers, for poll() */
	size_t *owner;		/* pfd[i] is fibers[owner[i]]'s */
#ifdef FIBER_ASAN
	const void *main_bottom;
	size_t main_size;
#endif
};

/*
 * The switches, with AddressSanitizer told which stack is in use (without
 * it, it reports false errors on the fiber stacks).
 */
static void
switch_to_fiber(struct fiber *f)
{
#ifdef FIBER_ASAN
	void *fake = NULL;

	__sanitizer_start_switch_fiber(&fake, f->stack, FIBER_STACK);
#endif
	swapcontext(&f->set->main, &f->ctx);
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

static void
switch_to_main(struct fiber *f)
{
	struct fiber_set *set = f->set;

#ifdef FIBER_ASAN
	/* A finished fiber's fake stack goes with it: pass NULL. */
	__sanitizer_start_switch_fiber(f->done ? NULL : &f->fake_stack,
	    set->main_bottom, set->main_size);
#endif
	swapcontext(&f->ctx, &set->main);
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(f->fake_stack, &set->main_bottom,
	    &set->main_size);
#endif
}

/* makecontext() passes ints: the fiber's address comes in two halves. */
static void
fiber_start(unsigned int hi, unsigned int lo)
{
	struct fiber *f = (struct fiber *)(((uintptr_t)hi << 32) |
	    (uintptr_t)lo);

#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(NULL, &f->set->main_bottom,
	    &f->set->main_size);
#endif
	f->fn(f, f->arg);
	f->done = true;
	f->set->live--;
	switch_to_main(f);
	abort();	/* a finished fiber is never resumed */
}

/* The context of a fiber that starts in fiber_start(). */
static int
fiber_make(struct fiber *f)
{
	uintptr_t self = (uintptr_t)f;

	if (getcontext(&f->ctx) < 0)
		return -errno;
	f->ctx.uc_stack.ss_sp = f->stack;
	f->ctx.uc_stack.ss_size = FIBER_STACK;
	f->ctx.uc_link = NULL;
	makecontext(&f->ctx, (void (*)(void))fiber_start, 2,
	    (unsigned int)(self >> 32), (unsigned int)self);
	return 0;
}

static void
fiber_set_free(struct fiber_set *set)
{
	if (set->map != NULL && set->map != MAP_FAILED)
		munmap(set->map, set->map_len);
	free(set->fibers);
	free(set->pfd);
	free(set->owner);
}

static int
fiber_set_init(struct fiber_set *set, fiber_fn *fn, void *const args[],
    size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), slot, i;
	int r = 0;

	memset(set, 0, sizeof(*set));
	set->fibers = calloc(n, sizeof(*set->fibers));
	set->pfd = calloc(n, sizeof(*set->pfd));
	set->owner = calloc(n, sizeof(*set->owner));
	if (set->fibers == NULL || set->pfd == NULL || set->owner == NULL) {
		fiber_set_free(set);
		return -ENOMEM;
	}
	slot = page + FIBER_STACK;
	set->map_len = slot * n;
	set->map = mmap(NULL, set->map_len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (set->map == MAP_FAILED) {
		r = -errno;
		fiber_set_free(set);
		return r;
	}
	set->n = set->live = n;
	for (i = 0; i < n; i++) {
		struct fiber *f = &set->fibers[i];

		f->set = set;
		f->fn = fn;
		f->arg = args[i];
		f->fd = -1;
		f->stack = set->map + i * slot + page;
		/* A stack overflow hits the guard page below it. */
		if (mprotect(set->map + i * slot, page, PROT_NONE) < 0)
			r = -errno;
		else
			r = fiber_make(f);
		if (r < 0) {
			fiber_set_free(set);
			return r;
		}
	}
	return 0;
}

/* Wake every waiting fiber whose descriptor is ready or time is up. */
static void
wake_ready(struct fiber_set *set, size_t np, int poll_err)
{
	int64_t now = now_ms();
	size_t i;

	for (i = 0; i < np; i++) {
		struct fiber *f = &set->fibers[set->owner[i]];

		if (set->pfd[i].revents != 0) {
			f->result = set->pfd[i].revents;
			f->waiting = false;
		}
	}
	for (i = 0; i < set->n; i++) {
		struct fiber *f = &set->fibers[i];

		if (f->waiting && poll_err != 0 && f->fd >= 0) {
			f->result = -poll_err;
			f->waiting = false;
		} else if (f->waiting && now >= f->deadline) {
			f->result = 0;
			f->waiting = false;
		}
		if (!f->done && !f->waiting)
			switch_to_fiber(f);
	}
}

int
fiber_run(fiber_fn *fn, void *const args[], size_t n)
{
	struct fiber_set set;
	struct pollfd *pfd;
	size_t i, np;
	int r;

	if (n == 0)
		return 0;
	if ((r = fiber_set_init(&set, fn, args, n)) < 0)
		return r;
	pfd = set.pfd;
	for (i = 0; i < n; i++)
		switch_to_fiber(&set.fibers[i]);
	while (set.live > 0) {
		int64_t deadline = INT64_MAX, left;

		np = 0;
		for (i = 0; i < n; i++) {
			struct fiber *f = &set.fibers[i];

			if (!f->waiting)
				continue;
			if (f->deadline < deadline)
				deadline = f->deadline;
			if (f->fd >= 0) {
				pfd[np].fd = f->fd;
				pfd[np].events = f->events;
				pfd[np].revents = 0;
				set.owner[np++] = i;
			}
		}
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		if (left > INT_MAX)
			left = INT_MAX;
		r = poll(pfd, np, (int)left);
		wake_ready(&set, r < 0 ? 0 : np,
		    r < 0 && errno != EINTR ? errno : 0);
	}
	fiber_set_free(&set);
	return 0;
}

static int
poll_until(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return pfd.revents;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int
fiber_wait_fd(struct fiber *self, int fd, short events, int64_t deadline)
{
	if (self == NULL)
		return poll_until(fd, events, deadline);
	if (deadline <= now_ms())
		return 0;
	self->fd = fd;
	self->events = events;
	self->deadline = deadline;
	self->waiting = true;
	switch_to_main(self);
	return self->result;
}

void
fiber_wake(struct fiber *f)
{
	/* A deadline passed: the next poll() does not wait, and
	 * wake_ready() resumes it. */
	if (f != NULL && f->waiting && f->fd < 0)
		f->deadline = 0;
}

void
fiber_sleep_until(struct fiber *self, int64_t deadline)
{
	struct timespec ts;
	int64_t left;

	if (self != NULL) {
		(void)fiber_wait_fd(self, -1, 0, deadline);
		return;
	}
	while ((left = deadline - now_ms()) > 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		if (nanosleep(&ts, NULL) == 0)
			break;
	}
}
