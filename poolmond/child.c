/*
 * The check process of one backend. It checks every port concurrently, one
 * fiber a port on its one thread, so a hanging port does not delay the
 * others, and writes one check_report per port to the parent. It has no
 * thread but its one: its backend's PTR name came with the fork.
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

struct port_job {
	struct check_target target;
	struct check_report report;
	int report_fd;
	int64_t hard_deadline;
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

static void
send_report(const struct port_job *job)
{
	ssize_t w;

	/* One write of at most PIPE_BUF bytes: never interleaved. */
	do {
		w = write(job->report_fd, &job->report, sizeof(job->report));
	} while (w < 0 && errno == EINTR);
}

static void
port_fiber(struct fiber *self, void *arg)
{
	struct port_job *job = arg;

	job->target.fiber = self;
	check_port(&job->target, &job->report.result, job->hard_deadline);
	send_report(job);
}

void
child_run(const struct check_job *cj, int report_fd, int64_t hard_deadline)
{
	struct port_job jobs[MAX_PORTS];
	void *args[MAX_PORTS] = { NULL };
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
		job->report_fd = report_fd;
		job->hard_deadline = hard_deadline;
		args[i] = job;
	}
	/* Without fibers (no memory for their stacks), one port after the
	 * other: slower, still bounded by the hard deadline. */
	if (n == 1 || fiber_run(port_fiber, args, n) < 0)
		for (i = 0; i < n; i++)
			port_fiber(NULL, args[i]);
	_exit(0);
}
