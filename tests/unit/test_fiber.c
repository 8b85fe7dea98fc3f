/*
 * The check process's fibers: waits on descriptors and times interleave on
 * one thread, deadlines are kept, a sleeper can be woken, deep stacks work,
 * and without a fiber the same calls block as plain poll() and sleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "fiber.h"
#include "util.h"
#include "unit.h"

#define MAX_EVENTS	16

struct journal {
	char events[MAX_EVENTS + 1];
	size_t n;
};

static void
note(struct journal *j, char c)
{
	if (j->n < MAX_EVENTS)
		j->events[j->n++] = c;
	j->events[j->n] = '\0';
}

struct sleeper {
	struct journal *j;
	char name;
	int ms;
};

static void
sleeper_fiber(struct fiber *self, void *arg)
{
	struct sleeper *s = arg;

	note(s->j, s->name);
	fiber_sleep_until(self, now_ms() + s->ms);
	note(s->j, (char)(s->name - 'a' + 'A'));
}

/* All start before any ends, and they wake in deadline order. */
static void
test_sleepers_interleave(void)
{
	struct journal j = { .n = 0 };
	struct sleeper s[3] = {
		{ &j, 'a', 90 }, { &j, 'b', 10 }, { &j, 'c', 50 },
	};
	void *args[3] = { &s[0], &s[1], &s[2] };

	CHECK(fiber_run(sleeper_fiber, args, 3) == 0);
	CHECK_STR(j.events, "abcBCA");
}

struct waker {
	struct journal *j;
	struct fiber *sleeper;	/* the long sleeper, once it sleeps */
	int64_t woken_at;
};

static void
waker_fiber(struct fiber *self, void *arg)
{
	struct waker *w = arg;

	if (w->sleeper == NULL) {
		/* The first fiber: sleeps 5 s unless woken. */
		w->sleeper = self;
		note(w->j, 's');
		fiber_sleep_until(self, now_ms() + 5000);
		w->woken_at = now_ms();
		note(w->j, 'S');
		return;
	}
	note(w->j, 'w');
	fiber_sleep_until(self, now_ms() + 20);
	fiber_wake(w->sleeper);
	fiber_wake(NULL);	/* nothing */
	note(w->j, 'W');
}

/* fiber_wake() ends another fiber's sleep at once, not at its deadline. */
static void
test_wake(void)
{
	struct journal j = { .n = 0 };
	struct waker w = { .j = &j, .sleeper = NULL };
	void *args[2] = { &w, &w };
	int64_t t0 = now_ms();

	CHECK(fiber_run(waker_fiber, args, 2) == 0);
	CHECK_STR(j.events, "swWS");
	CHECK(w.woken_at - t0 < 2000);
}

/* A ping-pong over two pipes between two fibers. */
struct pong {
	struct journal *j;
	int in, out;
	char name;
	int rounds;
	int fails;
};

static void
pong_fiber(struct fiber *self, void *arg)
{
	struct pong *p = arg;
	char c = 'x';
	int i;

	for (i = 0; i < p->rounds; i++) {
		/* p starts each exchange; q answers what it has read. */
		if (p->name == 'p' && write(p->out, &c, 1) != 1)
			p->fails++;
		if (fiber_wait_fd(self, p->in, POLLIN, now_ms() + 5000) <= 0 ||
		    read(p->in, &c, 1) != 1)
			p->fails++;
		note(p->j, p->name);
		if (p->name == 'q' && write(p->out, &c, 1) != 1)
			p->fails++;
	}
}

static void
test_descriptors_interleave(void)
{
	struct journal j = { .n = 0 };
	int ab[2], ba[2];
	struct pong p, q;
	void *args[2];

	CHECK(pipe2(ab, O_NONBLOCK) == 0 && pipe2(ba, O_NONBLOCK) == 0);
	p = (struct pong){ &j, ba[0], ab[1], 'p', 3, 0 };
	q = (struct pong){ &j, ab[0], ba[1], 'q', 3, 0 };
	args[0] = &q;		/* the reader starts first and must wait */
	args[1] = &p;
	CHECK(fiber_run(pong_fiber, args, 2) == 0);
	CHECK_STR(j.events, "qpqpqp");
	CHECK(p.fails == 0 && q.fails == 0);
	close(ab[0]); close(ab[1]); close(ba[0]); close(ba[1]);
}

/* A wait on a silent descriptor ends at its deadline, not before. */
struct silent {
	int fd;
	int ms;
	int result;
	int64_t waited;
};

static void
silent_fiber(struct fiber *self, void *arg)
{
	struct silent *s = arg;
	int64_t t0 = now_ms();

	s->result = fiber_wait_fd(self, s->fd, POLLIN, t0 + s->ms);
	s->waited = now_ms() - t0;
}

static void
test_deadline(void)
{
	int fds[2];
	struct silent s1, s2;
	void *args[2] = { &s1, &s2 };

	CHECK(pipe(fds) == 0);
	s1 = (struct silent){ fds[0], 40, -1, 0 };
	s2 = (struct silent){ fds[0], 80, -1, 0 };
	CHECK(fiber_run(silent_fiber, args, 2) == 0);
	CHECK(s1.result == 0 && s1.waited >= 40);
	CHECK(s2.result == 0 && s2.waited >= 80);
	/* A deadline already past: no wait at all. */
	CHECK(fiber_wait_fd(NULL, fds[0], POLLIN, now_ms() - 1) == 0);
	close(fds[0]);
	close(fds[1]);
}

/* Without a fiber: a plain poll, readiness and timeout alike. */
static void
test_no_fiber(void)
{
	int fds[2];
	int64_t t0;

	CHECK(pipe(fds) == 0);
	t0 = now_ms();
	CHECK(fiber_wait_fd(NULL, fds[0], POLLIN, t0 + 30) == 0);
	CHECK(now_ms() - t0 >= 30);
	CHECK(write(fds[1], "x", 1) == 1);
	CHECK(fiber_wait_fd(NULL, fds[0], POLLIN, now_ms() + 1000) & POLLIN);
	t0 = now_ms();
	fiber_sleep_until(NULL, t0 + 20);
	CHECK(now_ms() - t0 >= 20);
	close(fds[0]);
	close(fds[1]);
}

/* OpenSSL needs tens of KiB of stack: a fiber gives it room. */
static unsigned int
deep(unsigned int depth)
{
	volatile char frame[1024];

	frame[0] = (char)depth;
	if (depth == 0)
		return (unsigned char)frame[0];
	return deep(depth - 1) + (unsigned char)frame[0];
}

struct deep_job {
	unsigned int sum;
};

static void
deep_fiber(struct fiber *self, void *arg)
{
	struct deep_job *job = arg;

	fiber_sleep_until(self, now_ms() + 1);
	job->sum = deep(120);	/* > 120 KiB of frames */
}

static void
test_deep_stack(void)
{
	struct deep_job a = { 0 }, b = { 0 };
	void *args[2] = { &a, &b };

	CHECK(fiber_run(deep_fiber, args, 2) == 0);
	CHECK(a.sum == 120 * 121 / 2 && b.sum == a.sum);
}

/* An empty set runs and returns at once. */
static void
test_no_fibers(void)
{
	CHECK(fiber_run(sleeper_fiber, NULL, 0) == 0);
}

int
main(void)
{
	RUN(test_sleepers_interleave);
	RUN(test_descriptors_interleave);
	RUN(test_deadline);
	RUN(test_wake);
	RUN(test_no_fiber);
	RUN(test_deep_stack);
	RUN(test_no_fibers);
	return UNIT_EXIT();
}
