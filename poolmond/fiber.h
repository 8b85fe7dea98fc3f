/*
 * Cooperative fibers for the check process: every port of a backend is
 * checked at once on the process's one thread. A fiber runs until it waits
 * for a descriptor or a time; fiber_run() then polls for all of them.
 * Threads did the same at a higher price: each one costs a stack, an
 * allocator arena and cross-CPU TLB flushes on every copy-on-write fault,
 * paid again in every check process.
 */
#ifndef POOLMOND_FIBER_H
#define POOLMOND_FIBER_H
#include <stddef.h>
#include <stdint.h>

struct fiber;
typedef void fiber_fn(struct fiber *self, void *arg);

/*
 * Run fn(self, args[i]) for every i < n, each on a fiber of its own, and
 * return when all have returned: 0, or -errno when the fibers cannot be set
 * up (nothing has run then).
 */
int fiber_run(fiber_fn *fn, void *const args[], size_t n);

/*
 * Wait until fd has one of events, or until deadline (now_ms() clock).
 * Returns the poll revents (> 0), 0 at the deadline, or -errno. With self
 * NULL (not on a fiber) it is a plain poll().
 */
int fiber_wait_fd(struct fiber *self, int fd, short events, int64_t deadline);

/* Sleep until deadline; with self NULL a plain sleep. */
void fiber_sleep_until(struct fiber *self, int64_t deadline);

/*
 * End another fiber's fiber_sleep_until() now: it resumes once the
 * caller waits or returns. Nothing if f is not sleeping.
 */
void fiber_wake(struct fiber *f);
#endif
