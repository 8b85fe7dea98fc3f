/*
 * The check process of one backend. It checks every port concurrently, one
 * fiber a port on its one thread, so a hanging port does not delay the
 * others, and writes one check_report per port to the parent, all in
 * one write once the last port ends. It has no thread but its one: its
 * backend's PTR name came with the fork.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "fiber.h"
#include "pool.h"
#include "util.h"

/*
 * What an attempt may take beyond its timeout (the wake-up after it, the
 * close): without it an attempt that times out leaves its retries no room
 * before the hard deadline, and a hanging port is never retried.
 */
#define ATTEMPT_SLACK_MS	250

/* Reports of finished ports not yet written, and who flushes them. */
struct report_batch {
	const struct check_report *held[MAX_PORTS];
	size_t nheld;
	size_t running;		/* ports still being checked */
	int fd;
	struct fiber *flusher;	/* holding them, asleep till the last ends */
	int64_t hard_deadline;
};

struct port_job {
	struct check_target target;
	struct check_report report;
	struct report_batch *batch;	/* with the hard deadline */
};

int64_t
child_budget_ms(const struct check_env *env)
{
	return (int64_t)(env->retries + 1) * (env->timeout_ms +
	    ATTEMPT_SLACK_MS) +
	    (int64_t)env->retries * env->retry_delay_ms;
}

/*
 * The name TLS verifies and sends as SNI: --ssl-name, else the PTR name
 * the daemon resolved and confirmed before forking (resolver.h), else
 * the IP.
 */
static const char *
verify_name(const struct check_env *env, const char *ip,
    const char *ptr_name)
{
	if (env->ssl_name != NULL)
		return env->ssl_name;
	return ptr_name != NULL ? ptr_name : ip;
}

/* Whole reports, at most PIPE_BUF bytes a write: never interleaved. */
static void
flush_reports(struct report_batch *batch)
{
	char buf[PIPE_BUF];
	size_t i, len;
	ssize_t w;

	for (i = 0; i < batch->nheld; ) {
		for (len = 0; i < batch->nheld &&
		    len + sizeof(struct check_report) <= sizeof(buf); i++) {
			memcpy(buf + len, batch->held[i],
			    sizeof(struct check_report));
			len += sizeof(struct check_report);
		}
		do {
			w = write(batch->fd, buf, len);
		} while (w < 0 && errno == EINTR);
	}
	batch->nheld = 0;
}

/*
 * A port is done. Its report waits for its siblings', so that the daemon
 * is woken once a backend, not once a port: all go in one write when the
 * last port ends, or at the hard deadline if one hangs past it (1 s
 * before the daemon's kill). The daemon judges a backend when its check
 * process has ended, so the wait delays no verdict. Off a fiber, at once.
 */
static void
report_done(struct fiber *self, struct port_job *job)
{
	struct report_batch *batch = job->batch;

	batch->held[batch->nheld++] = &job->report;
	batch->running--;
	if (self == NULL || batch->running == 0 ||
	    now_ms() >= batch->hard_deadline) {
		flush_reports(batch);
		fiber_wake(batch->flusher);
		return;
	}
	if (batch->flusher != NULL)
		return;		/* it will write this one too */
	batch->flusher = self;
	fiber_sleep_until(self, batch->hard_deadline);
	batch->flusher = NULL;
	flush_reports(batch);
}

static void
port_fiber(struct fiber *self, void *arg)
{
	struct port_job *job = arg;

	job->target.fiber = self;
	check_port(&job->target, &job->report.result,
	    job->batch->hard_deadline);
	report_done(self, job);
}

void
child_run(const struct check_job *cj, int report_fd, int64_t hard_deadline)
{
	struct port_job jobs[MAX_PORTS];
	void *args[MAX_PORTS] = { NULL };
	struct report_batch batch = { .running = cj->nports, .fd = report_fd,
	    .hard_deadline = hard_deadline };
	const char *name = verify_name(cj->env, cj->ip, cj->ptr_name);
	size_t i, n = cj->nports;

	for (i = 0; i < n; i++) {
		struct port_job *job = &jobs[i];

		memset(job, 0, sizeof(*job));
		job->target.env = cj->env;
		job->target.ip = cj->ip;
		job->target.verify_name = name;
		job->target.port = &cj->ports[i];
		job->target.tls_seen = cj->tls_seen;
		job->report.magic = CHECK_REPORT_MAGIC;
		job->report.scan_id = cj->scan_id;
		job->report.backend = cj->backend;
		job->report.port = (uint32_t)i;
		job->batch = &batch;
		args[i] = job;
	}
	/* Without fibers (no memory for their stacks), one port after the
	 * other: slower, still bounded by the hard deadline. */
	if (n == 1 || fiber_run(port_fiber, args, n) < 0)
		for (i = 0; i < n; i++)
			port_fiber(NULL, args[i]);
	_exit(0);
}
