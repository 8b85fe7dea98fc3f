/*
 * The scan engine. At each interval (start to start) it reads HOST-LIST,
 * forks one check process per backend with at most --max-children alive,
 * collects their reports from one shared pipe, kills stragglers at their
 * hard deadline and, when every backend is done, applies the actions.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "poolmond.h"
#include "util.h"

/* Grace on top of a child's own budget before the parent kills it. */
#define CHILD_KILL_GRACE_MS	1000
/*
 * Check processes forked in one turn of the event loop: a fork costs a
 * millisecond or more, and poolmonctl, reports and director replies are
 * served between batches rather than after hundreds of forks.
 */
#define START_BATCH		16
#define REPORT_PIPE_SIZE	(1024 * 1024)
/*
 * Addresses a recheck may queue; beyond, the recheck is of every backend,
 * which covers them: clients asking faster than scans run cannot grow it.
 */
#define RECHECK_QUEUE_MAX	4096

static int on_scan_timer(sd_event_source *s, uint64_t usec, void *arg);

static int64_t
usec_to_ms(uint64_t usec)
{
	return (int64_t)(usec / 1000);
}

static int
arm_timer(sd_event_source *timer, int64_t at_ms)
{
	int r;

	if (at_ms < 0)
		return sd_event_source_set_enabled(timer, SD_EVENT_OFF);
	r = sd_event_source_set_time(timer, (uint64_t)at_ms * 1000);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
}

static int
cmp_backend(const void *a, const void *b)
{
	return strcmp(((const struct backend *)a)->dh.ip,
	    ((const struct backend *)b)->dh.ip);
}

static void
free_backends(struct backend *backends, size_t n, size_t nports)
{
	size_t i;

	for (i = 0; i < n; i++)
		backend_free(&backends[i], nports);
	free(backends);
}

static int
cmp_host(const void *a, const void *b)
{
	return strcmp(((const struct director_host *)a)->ip,
	    ((const struct director_host *)b)->ip);
}

/* No check process or report from the last scan: a new one starts. */
static void
reset_scan_marks(struct backend *b)
{
	b->pid = 0;
	b->reported = 0;
}

/*
 * The usual case, the same hosts as last time (hosts sorted): update them
 * in place rather than build a second table of thousands.
 */
static bool
same_hosts(const struct poolmond *d, const struct director_host *hosts,
    size_t n)
{
	size_t i;

	if (n != d->nbackends)
		return false;
	for (i = 0; i < n; i++)
		if (strcmp(hosts[i].ip, d->backends[i].dh.ip) != 0)
			return false;
	return true;
}

/*
 * Replace the backend table by the director's current host list, keeping
 * what we know of hosts that were there before.
 */
static int
merge_hosts(struct poolmond *d, struct director_host *hosts, size_t n)
{
	size_t i, nports = d->cfg.nports;
	struct backend *nb, **old;
	int r = -ENOMEM;

	qsort(hosts, n, sizeof(*hosts), cmp_host);
	if (same_hosts(d, hosts, n)) {
		for (i = 0; i < n; i++) {
			d->backends[i].dh = hosts[i];
			reset_scan_marks(&d->backends[i]);
		}
		return 0;
	}
	nb = calloc(n > 0 ? n : 1, sizeof(*nb));
	old = calloc(n > 0 ? n : 1, sizeof(*old));
	if (nb == NULL || old == NULL)
		goto fail;
	/* New hosts' memory first: a failure must leave the table whole. */
	for (i = 0; i < n; i++) {
		nb[i].dh = hosts[i];
		old[i] = d->nbackends == 0 ? NULL : bsearch(&nb[i],
		    d->backends, d->nbackends, sizeof(*d->backends),
		    cmp_backend);
		if (old[i] == NULL && backend_init_ports(&nb[i], nports) < 0)
			goto fail;
	}
	for (i = 0; i < n; i++) {
		if (old[i] != NULL) {
			/* Its memory moves to the new table. */
			nb[i] = *old[i];
			nb[i].dh = hosts[i];
			old[i]->ports = NULL;
			old[i]->reason = NULL;
		}
		reset_scan_marks(&nb[i]);
	}
	free_backends(d->backends, d->nbackends, nports);
	d->backends = nb;
	d->nbackends = n;
	nb = NULL;
	r = 0;
fail:
	if (nb != NULL)
		free_backends(nb, n, nports);
	free(old);
	return r;
}

/* The table's tags are the list's from now on: every backend's dh is. */
static int
merge_host_list(struct poolmond *d, struct director_host_list *list)
{
	int r = merge_hosts(d, list->hosts, list->n);

	if (r == 0) {
		free(d->tags);
		d->tags = list->tags;
		list->tags = NULL;
	}
	return r;
}

/*
 * Whose business a host's state is: a hold, poolmond's own HOST-DOWN (from
 * the state file), or, for a host down without either, the operator's.
 */
static bool
derive_owner(struct poolmond *d, struct backend *b)
{
	struct state_entry *e = state_find(&d->state, b->dh.ip);

	if (e != NULL && e->owner == OWNER_HOLD) {
		b->owner = OWNER_HOLD;
		return false;
	}
	if (e != NULL) {
		if (!b->dh.up) {
			b->owner = OWNER_POOLMOND;
			return false;
		}
		log_info("%s is up again, not by poolmond: it is no longer "
		    "poolmond's to bring up", b->dh.ip);
		state_remove(&d->state, b->dh.ip);
		b->owner = OWNER_NONE;
		return true;
	}
	if (b->dh.up) {
		b->owner = OWNER_NONE;
		b->operator_noted = false;
		return false;
	}
	b->owner = OWNER_OPERATOR;
	if (!b->operator_noted)
		log_info("%s is down by the operator: poolmond leaves it "
		    "down%s", b->dh.ip, d->cfg.adopt_down ?
		    " until healthy (--adopt-down)" :
		    " ('poolmonctl release' hands it over)");
	b->operator_noted = true;
	return false;
}

static void
derive_owners(struct poolmond *d)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < d->nbackends; i++)
		changed |= derive_owner(d, &d->backends[i]);
	if (changed)
		(void)backend_state_save(d);
}

static void
director_outage(struct poolmond *d, const char *what, const char *why)
{
	if (!d->director_down)
		log_warnx("director %s: %s %s; poolmond keeps trying every "
		    "scan", d->cfg.director_socket, what, why);
	d->director_down = true;
	str_copy(d->director_error, why, sizeof(d->director_error));
}

static int
read_host_list(struct poolmond *d)
{
	struct director_conn dc;
	struct director_host_list list;
	int r;

	director_conn_init(&dc, d->cfg.timeout_s * 1000);
	r = director_connect(&dc, d->cfg.director_socket);
	if (r < 0) {
		director_outage(d, "unreachable:", dc.err);
		return r;
	}
	r = director_host_list(&dc, &list);
	director_close(&dc);
	if (r < 0) {
		director_outage(d, "HOST-LIST failed:", dc.err);
		return r;
	}
	if (d->director_down)
		log_info("director %s reachable again",
		    d->cfg.director_socket);
	d->director_down = false;
	d->director_error[0] = '\0';
	r = merge_host_list(d, &list);
	director_host_list_free(&list);
	if (r == 0)
		derive_owners(d);
	return r;
}

/* In the check process: drop everything of the daemon's but the pipe. */
static void
child_setup(int report_fd)
{
	static const int reset[] = { SIGINT, SIGTERM, SIGQUIT, SIGCHLD,
	    SIGALRM };
	sigset_t none;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reset); i++)
		signal(reset[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* A reload meant for the daemon (killall -HUP poolmond, systemctl
	 * kill -s HUP) must not kill a check and fail a healthy backend. */
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Die with the daemon rather than outlive it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (report_fd != 3) {
		if (dup2(report_fd, 3) < 0)
			_exit(1);
	}
	/* No pidfile lock, control or director socket in a child. */
	close_range(4, ~0U, 0);
}

static void
rearm_deadline_timer(struct poolmond *d)
{
	int64_t first = -1;
	size_t i;

	for (i = 0; i < d->nchildren; i++) {
		if (d->children[i].killed)
			continue;
		if (first < 0 || d->children[i].deadline < first)
			first = d->children[i].deadline;
	}
	arm_timer(d->deadline_timer, first);
}

static void
finish_backend(struct poolmond *d, size_t idx, const char *why_missing,
    enum check_status missing_status)
{
	struct backend *b = &d->backends[idx];
	size_t i;
	bool ok = true;

	for (i = 0; i < d->cfg.nports; i++) {
		struct port_state *res = &b->ports[i];
		const struct portspec *p = &d->cfg.ports[i];

		if (!(b->reported & (1u << i))) {
			struct check_result missing = { .status =
			    missing_status };

			str_copy(missing.reason, why_missing,
			    sizeof(missing.reason));
			(void)port_state_set(res, &missing);
		}
		if (res->status != CHECK_OK)
			ok = false;
		log_debug("%s %s:%u %s (%u ms, %u %s)", b->dh.ip,
		    mail_proto_name(p->proto, p->tls), p->port,
		    res->status == CHECK_OK ? "ok" :
		    res->reason != NULL ? res->reason : "failed",
		    res->latency_ms, res->tries,
		    res->tries == 1 ? "try" : "tries");
		if (res->status == CHECK_OK && res->warning &&
		    res->reason != NULL)
			log_warnx("%s %s:%u %s", b->dh.ip,
			    mail_proto_name(p->proto, p->tls), p->port,
			    res->reason);
	}
	b->health = ok ? HEALTH_OK : HEALTH_FAILED;
	if (!ok)
		backend_failure_reason(d, b);
	b->last_check = time(NULL);
	b->pid = 0;
	d->finished++;
}

static int
start_child(struct poolmond *d, size_t idx)
{
	struct backend *b = &d->backends[idx];
	int64_t budget = child_budget_ms(&d->env);
	int64_t start = now_ms();
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		log_warn("%s: cannot fork a check process", b->dh.ip);
		return -errno;
	}
	if (pid == 0) {
		child_setup(d->report_pipe[1]);
		/* Issue 12 item 6: unprivileged user + seccomp from here on. */
		sandbox_enter(&d->sandbox);
		child_run(d, idx, 3, start + budget);
	}
	b->pid = pid;
	d->children_forked++;
	d->children[d->nchildren++] = (struct running_child){
		.pid = pid, .backend = idx,
		.deadline = start + budget + CHILD_KILL_GRACE_MS,
	};
	return 0;
}

static void scan_finish(struct poolmond *d);

static void
start_children(struct poolmond *d)
{
	size_t idx, started = 0;

	while (d->nchildren < (size_t)d->cfg.max_children &&
	    d->next_to_start < d->nbackends) {
		if (started == START_BATCH) {
			/* The rest after the events pending now. */
			(void)sd_event_source_set_enabled(d->start_source,
			    SD_EVENT_ONESHOT);
			break;
		}
		idx = d->next_to_start++;
		if (!backend_in_scan(&d->backends[idx], d->scan_id))
			continue;
		if (start_child(d, idx) < 0)
			finish_backend(d, idx, "cannot fork a check process",
			    CHECK_ECHILD);
		else
			started++;
	}
	rearm_deadline_timer(d);
	if (d->scanning && d->finished == d->selected)
		scan_finish(d);
}

static int
on_start_more(sd_event_source *s, void *arg)
{
	struct poolmond *d = arg;

	(void)s;
	if (!d->stopping)
		start_children(d);
	return 0;
}

static void
schedule_next_scan(struct poolmond *d)
{
	int64_t now = now_ms();

	/* A recheck does not move the interval's schedule. */
	if (!d->scan_is_recheck) {
		d->next_scan_at = d->interval_started +
		    (int64_t)d->cfg.interval_s * 1000;
		if (d->next_scan_at < now) {
			log_warnx("scan took %lld ms, longer than the %d s "
			    "interval; starting the next one at once",
			    (long long)(now - d->interval_started),
			    d->cfg.interval_s);
			d->next_scan_at = now;
		}
	}
	/* A recheck asked for meanwhile runs at once; the interval's next
	 * scan keeps its time all the same. */
	arm_timer(d->scan_timer, d->recheck_pending ||
	    d->next_scan_at < now ? now : d->next_scan_at);
}

static void
scan_finish(struct poolmond *d)
{
	size_t i, failed = 0;
	int64_t took;

	d->scanning = false;
	actions_apply(d);
	for (i = 0; i < d->nbackends; i++)
		if (d->backends[i].health == HEALTH_FAILED)
			failed++;
	took = now_ms() - d->scan_started;
	d->scans_completed++;
	d->last_scan_ms = took;
	d->last_scan_end = time(NULL);
	log_debug("scan complete: %zu backends, %zu failed, %lld ms",
	    d->selected, failed, (long long)took);
	control_scan_done(d, true);
	if (!d->stopping)
		schedule_next_scan(d);
}

static void
clear_recheck(struct poolmond *d)
{
	size_t i;

	for (i = 0; i < d->nrecheck_ips; i++)
		free(d->recheck_ips[i]);
	free(d->recheck_ips);
	d->recheck_ips = NULL;
	d->nrecheck_ips = 0;
	d->recheck_pending = false;
}

/* Mark the backends of scan d->scan_id: all, or a recheck request's. */
static void
select_backends(struct poolmond *d)
{
	struct backend *b;
	size_t i;

	if (d->nrecheck_ips == 0) {
		for (i = 0; i < d->nbackends; i++)
			d->backends[i].scanned_in = d->scan_id;
		d->selected = d->nbackends;
		return;
	}
	d->selected = 0;
	for (i = 0; i < d->nrecheck_ips; i++) {
		if ((b = backend_find(d, d->recheck_ips[i])) != NULL &&
		    !backend_in_scan(b, d->scan_id)) {
			b->scanned_in = d->scan_id;
			d->selected++;
		}
	}
}

static void
scan_start(struct poolmond *d)
{
	if (d->scanning || d->stopping)
		return;
	d->scan_started = now_ms();
	d->scan_is_recheck = d->recheck_pending;
	if (!d->scan_is_recheck)
		d->interval_started = d->scan_started;
	if (read_host_list(d) < 0) {
		clear_recheck(d);
		schedule_next_scan(d);
		control_scan_done(d, false);
		return;
	}
	d->scan_id++;
	select_backends(d);
	clear_recheck(d);
	d->scanning = true;
	d->next_to_start = 0;
	d->finished = 0;
	log_debug("scan %u: %zu of %zu backends", d->scan_id, d->selected,
	    d->nbackends);
	start_children(d);
}

static int
on_scan_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	(void)s;
	(void)usec;
	scan_start(arg);
	return 0;
}

static void
store_report(struct poolmond *d, const struct check_report *rep)
{
	struct backend *b;

	if (rep->magic != CHECK_REPORT_MAGIC || rep->scan_id != d->scan_id ||
	    rep->backend >= d->nbackends || rep->port >= d->cfg.nports ||
	    (unsigned int)rep->result.status >= CHECK_STATUS_COUNT) {
		log_warnx("ignoring a malformed check report");
		return;
	}
	b = &d->backends[rep->backend];
	if (!backend_in_scan(b, d->scan_id) || b->pid == 0)
		return;
	if (port_state_set(&b->ports[rep->port], &rep->result) < 0)
		log_warnx("%s: out of memory for a check result", b->dh.ip);
	b->reported |= 1u << rep->port;
}

static void
drain_reports(struct poolmond *d)
{
	struct check_report rep;
	ssize_t r;

	for (;;) {
		r = read(d->report_pipe[0], &rep, sizeof(rep));
		if (r == (ssize_t)sizeof(rep)) {
			store_report(d, &rep);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0)
			log_warnx("short check report (%zd bytes)", r);
		return;
	}
}

static int
on_report(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	(void)s;
	(void)fd;
	(void)revents;
	drain_reports(arg);
	return 0;
}

static struct running_child *
find_child(struct poolmond *d, pid_t pid)
{
	size_t i;

	for (i = 0; i < d->nchildren; i++)
		if (d->children[i].pid == pid)
			return &d->children[i];
	return NULL;
}

static void
reaped(struct poolmond *d, struct running_child *rc, int status)
{
	char why[96];
	enum check_status st = CHECK_ECHILD;

	if (rc->killed) {
		snprintf(why, sizeof(why), "check killed at its deadline "
		    "(%lld ms)", (long long)child_budget_ms(&d->env) +
		    CHILD_KILL_GRACE_MS);
		st = CHECK_EKILLED;
	} else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "check process died of signal %d",
		    WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "check process exited with "
		    "status %d without a result", WEXITSTATUS(status));
	if (!d->stopping)
		finish_backend(d, rc->backend, why, st);
	*rc = d->children[--d->nchildren];
}

static void
reap_children(struct poolmond *d)
{
	struct running_child *rc;
	struct reaped_child *done = d->reaped;
	size_t i, n;
	int status;
	pid_t pid;

	do {
		n = 0;
		while (n < (size_t)d->cfg.max_children &&
		    (pid = waitpid(-1, &status, WNOHANG)) > 0)
			done[n++] = (struct reaped_child){ pid, status };
		/*
		 * A child writes its reports before it exits: now that these
		 * have exited, all their reports are in the pipe. Reading the
		 * pipe before waitpid() would miss those of a child that
		 * exits in between.
		 */
		drain_reports(d);
		for (i = 0; i < n; i++)
			if ((rc = find_child(d, done[i].pid)) != NULL)
				reaped(d, rc, done[i].status);
	} while (n == (size_t)d->cfg.max_children);
	if (!d->stopping)
		start_children(d);
}

static int
on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	(void)s;
	(void)si;
	reap_children(arg);
	return 0;
}

static int
on_deadline(sd_event_source *s, uint64_t usec, void *arg)
{
	struct poolmond *d = arg;
	int64_t now = usec_to_ms(usec);
	size_t i;

	(void)s;
	for (i = 0; i < d->nchildren; i++) {
		struct running_child *rc = &d->children[i];

		if (!rc->killed && rc->deadline <= now) {
			log_debug("%s: check process %ld past its deadline, "
			    "killing it", d->backends[rc->backend].dh.ip,
			    (long)rc->pid);
			kill(rc->pid, SIGKILL);
			rc->killed = true;
		}
	}
	rearm_deadline_timer(d);
	return 0;
}

struct backend *
backend_find(const struct poolmond *d, const char *ip)
{
	struct backend key;

	if (d->nbackends == 0)
		return NULL;
	str_copy(key.dh.ip, ip, sizeof(key.dh.ip));
	return bsearch(&key, d->backends, d->nbackends, sizeof(*d->backends),
	    cmp_backend);
}

int
scan_request(struct poolmond *d, const char *const *ips, size_t nips)
{
	size_t i;
	char **copy;

	/* A pending full recheck already covers any subset. */
	if (d->recheck_pending && d->nrecheck_ips == 0)
		return 0;
	if (nips == 0 || d->nrecheck_ips + nips > RECHECK_QUEUE_MAX)
		clear_recheck(d);
	else {
		copy = reallocarray(d->recheck_ips, d->nrecheck_ips + nips,
		    sizeof(*copy));
		if (copy == NULL)
			return -ENOMEM;
		d->recheck_ips = copy;
		for (i = 0; i < nips; i++) {
			if ((copy[d->nrecheck_ips] = strdup(ips[i])) == NULL)
				return -ENOMEM;
			d->nrecheck_ips++;
		}
	}
	d->recheck_pending = true;
	if (!d->scanning)
		arm_timer(d->scan_timer, now_ms());
	return 0;
}

int
scan_init(struct poolmond *d)
{
	int r;

	d->children = calloc((size_t)d->cfg.max_children,
	    sizeof(*d->children));
	d->reaped = calloc((size_t)d->cfg.max_children, sizeof(*d->reaped));
	if (d->children == NULL || d->reaped == NULL)
		return -ENOMEM;
	if (pipe2(d->report_pipe, O_CLOEXEC) < 0)
		return -errno;
	/* Only the daemon's end is non-blocking: a child waits for room. */
	if (fcntl(d->report_pipe[0], F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	(void)fcntl(d->report_pipe[0], F_SETPIPE_SZ, REPORT_PIPE_SIZE);
	r = sd_event_add_io(d->event, &d->report_source, d->report_pipe[0],
	    EPOLLIN, on_report, d);
	if (r < 0)
		return r;
	r = sd_event_add_signal(d->event, NULL, SIGCHLD, on_sigchld, d);
	if (r < 0)
		return r;
	r = sd_event_add_time(d->event, &d->deadline_timer, CLOCK_MONOTONIC,
	    UINT64_MAX, 1000, on_deadline, d);
	if (r < 0)
		return r;
	r = sd_event_add_time(d->event, &d->scan_timer, CLOCK_MONOTONIC,
	    0, 1000, on_scan_timer, d);
	if (r < 0)
		return r;
	r = sd_event_add_defer(d->event, &d->start_source, on_start_more, d);
	if (r < 0 || (r = sd_event_source_set_enabled(d->start_source,
	    SD_EVENT_OFF)) < 0)
		return r;
	return arm_timer(d->scan_timer, now_ms());
}

void
scan_shutdown(struct poolmond *d)
{
	size_t i;
	int status;

	d->stopping = true;
	for (i = 0; i < d->nchildren; i++)
		kill(d->children[i].pid, SIGKILL);
	for (i = 0; i < d->nchildren; i++)
		while (waitpid(d->children[i].pid, &status, 0) < 0 &&
		    errno == EINTR)
			;
	d->nchildren = 0;
	sd_event_source_unref(d->scan_timer);
	sd_event_source_unref(d->deadline_timer);
	sd_event_source_unref(d->report_source);
	sd_event_source_unref(d->start_source);
	d->scan_timer = d->deadline_timer = d->report_source = NULL;
	d->start_source = NULL;
	if (d->report_pipe[0] >= 0)
		close(d->report_pipe[0]);
	if (d->report_pipe[1] >= 0)
		close(d->report_pipe[1]);
	d->report_pipe[0] = d->report_pipe[1] = -1;
	free(d->children);
	d->children = NULL;
	free(d->reaped);
	d->reaped = NULL;
	free_backends(d->backends, d->nbackends, d->cfg.nports);
	d->backends = NULL;
	free(d->tags);
	d->tags = NULL;
	d->nbackends = 0;
	clear_recheck(d);
}
