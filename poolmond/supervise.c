/*
 * Check process supervision on sd-event. A check process is asked of the
 * spawn server and becomes the daemon's child; from its pid on it has a
 * child source (a pidfd: no waitpid(-1) sweep, no search for whose pid it
 * was) and a deadline timer of its own, which until then bounds the
 * server's answer. A slot is recycled from a deferred event, never inside
 * its own child source's callback, which sd-event still uses to reap the
 * process once the callback returns; a lost server likewise. A check
 * process the daemon never heard of (its server lost as it was forked)
 * is killed when it answers late, or reaped when found dead among the
 * daemon's children (orphans.h).
 */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "orphans.h"
#include "util.h"

#define REPORT_PIPE_SIZE	(1024 * 1024)
/* Requests the server has not answered: its socket holds them all. */
#define SPAWN_IN_FLIGHT_MAX	64
/* A fork takes a millisecond: a server silent this long (5 s, as its
 * message says) is lost. */
#define SPAWN_REPLY_TIMEOUT_MS	5000
/* A server that keeps dying is started again at most this often. */
#define SERVER_RESTART_MS	1000
/* How often, while checks run, poolmond looks among its children for a
 * check process no one knows (orphans.h). */
#define ORPHAN_SWEEP_MS		5000

enum slot_state {
	SLOT_FREE,
	SLOT_FORKING,		/* asked of the server, no pid yet */
	SLOT_RUNNING,
	SLOT_ENDED,		/* told, its sources not yet released */
};

struct child_slot {
	struct supervisor *sup;
	struct server_link *link;	/* the server it was asked of */
	sd_event_source *child;
	sd_event_source *deadline;
	size_t backend;
	pid_t pid;
	enum slot_state state;
	bool killed;		/* SIGKILL sent at the deadline */
	bool stopped;		/* and it was stopped then */
};

/* A check process killed when it answered too late: its child source
 * reaps it, and is released from the loop after (as a slot's). */
struct killed_orphan {
	struct supervisor *sup;
	struct killed_orphan *next;
	sd_event_source *child;
	pid_t pid;
	bool exited;
};

/*
 * A spawn server: the current one, or a lost one not yet reaped. A lost
 * one's socket is read until its end (SPAWN_REPLY_TIMEOUT_MS at most):
 * a check process it forked before it went answers there, and is killed
 * and reaped, not left a zombie no one knows.
 */
struct server_link {
	struct supervisor *sup;
	struct server_link *next;	/* lost ones */
	pid_t pid;
	int sock;			/* -1 once read to its end */
	sd_event_source *io;
	sd_event_source *child;
	sd_event_source *drain;		/* a lost one's socket given up */
	bool lost;
	bool exited;			/* reaped, or being reaped */
};

struct supervisor {
	sd_event *event;
	struct supervisor_hooks hooks;
	struct spawn_server_conf server_conf;
	struct server_link *server;	/* NULL: none running */
	struct server_link *lost;
	int64_t server_started_ms;
	sd_event_source *restart_timer;
	sd_event_source *silence;	/* asked, and no answer for 5 s */
	struct child_slot *slots;
	size_t *free_slots;	/* a stack of indices into slots */
	size_t nfree, max;
	size_t forking;		/* slots waiting for the server */
	size_t record_size;
	unsigned char *record;	/* RECORDS_PER_READ records read */
	struct spawn_request *request;
	int pipe[2];		/* reports: children write, we read */
	sd_event_source *pipe_source;
	sd_event_source *recycle;
	sd_event_source *sweep;
	struct orphan_look orphans;
	struct killed_orphan *killed;
	uint64_t forked;
};

/* Records taken from the pipe with one read. */
#define RECORDS_PER_READ	32

/*
 * Read what the pipe holds, RECORDS_PER_READ records a read at most. The
 * children write whole records, at most PIPE_BUF bytes at once, so a
 * read returns whole ones; a read that does not fill the buffer found
 * the pipe empty, and the pipe's readiness wakes us for what comes next.
 */
static void
drain_reports(struct supervisor *s)
{
	size_t want = s->record_size * RECORDS_PER_READ, i;
	ssize_t r;

	for (;;) {
		r = read(s->pipe[0], s->record, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		for (i = 0; i + s->record_size <= (size_t)r;
		    i += s->record_size)
			s->hooks.record(s->hooks.arg, s->record + i);
		if (i != (size_t)r)
			log_warnx("short check report (%zu bytes)",
			    (size_t)r - i);
		if ((size_t)r < want)
			return;
	}
}

static int
on_reports(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	(void)src;
	(void)fd;
	(void)revents;
	drain_reports(arg);
	return 0;
}

static void
release_slot(struct supervisor *s, struct child_slot *slot)
{
	slot->child = sd_event_source_disable_unref(slot->child);
	slot->deadline = sd_event_source_disable_unref(slot->deadline);
	slot->state = SLOT_FREE;
	slot->pid = 0;
	s->free_slots[s->nfree++] = (size_t)(slot - s->slots);
}

/* Told, its slot released and the idle hook run from the loop. */
static void
end_slot(struct supervisor *s, struct child_slot *slot, enum child_end how,
    int code)
{
	slot->state = SLOT_ENDED;
	slot->deadline = sd_event_source_disable_unref(slot->deadline);
	s->hooks.ended(s->hooks.arg, slot->backend, how, code);
	(void)sd_event_source_set_enabled(s->recycle, SD_EVENT_ONESHOT);
}

static int
on_child(sd_event_source *src, const siginfo_t *si, void *arg)
{
	struct child_slot *slot = arg;
	struct supervisor *s = slot->sup;
	enum child_end how = CHILD_EXITED;

	(void)src;
	/* It wrote its reports before it ended: every one is in the pipe. */
	drain_reports(s);
	if (slot->killed)
		how = slot->stopped ? CHILD_STOPPED : CHILD_KILLED;
	else if (si->si_code != CLD_EXITED)
		how = CHILD_SIGNALED;
	end_slot(s, slot, how, si->si_status);
	return 0;
}

static void link_read_out(struct server_link *link);

/*
 * Whether pid is stopped (SIGSTOP, or a tracer such as strace -f): what
 * held it up is on this machine, not at the backend, which a check
 * process cannot make stop.
 */
static bool
process_stopped(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "pid (comm) S ...": the comm may hold anything, even ") ". */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return false;
	return p[2] == 'T' || p[2] == 't';
}
static void server_lost(struct supervisor *s, struct server_link *link,
    const char *why);

static int
on_deadline(sd_event_source *src, uint64_t usec, void *arg)
{
	struct child_slot *slot = arg;
	int r;

	(void)src;
	(void)usec;
	if (slot->state == SLOT_FORKING) {
		server_lost(slot->sup, slot->link, "did not answer "
		    "before a check's deadline");
		return 0;
	}
	log_debug("check process %ld past its deadline, killing it",
	    (long)slot->pid);
	slot->killed = true;
	slot->stopped = process_stopped(slot->pid);
	r = sd_event_source_send_child_signal(slot->child, SIGKILL, NULL, 0);
	if (r < 0 && r != -ESRCH)
		log_warnx("cannot kill check process %ld: %s",
		    (long)slot->pid, strerror(-r));
	return 0;
}

static void
free_link(struct server_link *link)
{
	sd_event_source_disable_unref(link->io);
	sd_event_source_disable_unref(link->child);
	sd_event_source_disable_unref(link->drain);
	if (link->sock >= 0)
		close(link->sock);
	free(link);
}

/* Those killed whose child source has run: released. */
static void
release_killed(struct supervisor *s)
{
	struct killed_orphan **l, *o;

	for (l = &s->killed; (o = *l) != NULL;) {
		if (!o->exited) {
			l = &o->next;
			continue;
		}
		*l = o->next;
		sd_event_source_disable_unref(o->child);
		free(o);
	}
}

static int
on_recycle(sd_event_source *src, void *arg)
{
	struct supervisor *s = arg;
	struct server_link **l, *dead;
	size_t i;

	(void)src;
	for (i = 0; i < s->max; i++)
		if (s->slots[i].state == SLOT_ENDED)
			release_slot(s, &s->slots[i]);
	release_killed(s);
	for (l = &s->lost; *l != NULL;) {
		if (!(*l)->exited || (*l)->sock >= 0) {
			l = &(*l)->next;
			continue;
		}
		dead = *l;
		*l = dead->next;
		free_link(dead);
	}
	s->hooks.idle(s->hooks.arg);
	return 0;
}

/* ---- check processes no one knows ---- */

/* Every slot's and server's pid, in a new array of *n; NULL: no memory. */
static pid_t *
known_pids(const struct supervisor *s, size_t *n)
{
	const struct server_link *l;
	size_t i, cap = s->max + 1;
	pid_t *known;

	for (l = s->lost; l != NULL; l = l->next)
		cap++;
	if ((known = calloc(cap, sizeof(pid_t))) == NULL)
		return NULL;
	*n = 0;
	for (i = 0; i < s->max; i++)
		if (s->slots[i].state != SLOT_FREE && s->slots[i].pid > 0)
			known[(*n)++] = s->slots[i].pid;
	if (s->server != NULL)
		known[(*n)++] = s->server->pid;
	for (l = s->lost; l != NULL; l = l->next)
		known[(*n)++] = l->pid;
	return known;
}

/* A look in ORPHAN_SWEEP_MS, unless one is due already. */
static void
sweep_later(struct supervisor *s)
{
	int enabled = SD_EVENT_OFF;

	(void)sd_event_source_get_enabled(s->sweep, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	(void)sd_event_source_set_time(s->sweep,
	    (uint64_t)(now_ms() + ORPHAN_SWEEP_MS) * 1000);
	(void)sd_event_source_set_enabled(s->sweep, SD_EVENT_ONESHOT);
}

static int
on_sweep(sd_event_source *src, uint64_t usec, void *arg)
{
	struct supervisor *s = arg;
	size_t n;
	pid_t *known = known_pids(s, &n);

	(void)src;
	(void)usec;
	if (known != NULL)
		(void)orphans_look(&s->orphans, known, n);
	free(known);
	/* Another look while some wait for their second, or checks run. */
	if (s->orphans.nsuspects > 0 || supervisor_running(s) > 0)
		sweep_later(s);
	return 0;
}

/* ---- the spawn server ---- */

static int
watch(struct supervisor *s, struct child_slot *slot)
{
	/* Its deadline timer runs from the request (supervisor_spawn). */
	return sd_event_add_child(s->event, &slot->child, slot->pid, WEXITED,
	    on_child, slot);
}

/*
 * The server is lost when it is asked and says nothing for
 * SPAWN_REPLY_TIMEOUT_MS: a wait counted from its last answer, not from
 * each request, since it answers them in turn and, on a busy machine,
 * shares the CPU with the check processes it forks.
 */
static void
silence_watch(struct supervisor *s)
{
	if (s->forking == 0) {
		(void)sd_event_source_set_enabled(s->silence, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(s->silence,
	    (uint64_t)(now_ms() + SPAWN_REPLY_TIMEOUT_MS) * 1000);
	(void)sd_event_source_set_enabled(s->silence, SD_EVENT_ONESHOT);
}

static int
on_silence(sd_event_source *src, uint64_t usec, void *arg)
{
	struct supervisor *s = arg;

	(void)src;
	(void)usec;
	server_lost(s, s->server, "did not answer within 5 s");
	return 0;
}

static int
on_orphan_exit(sd_event_source *src, const siginfo_t *si, void *arg)
{
	struct killed_orphan *o = arg;

	(void)src;
	(void)si;
	o->exited = true;	/* sd-event reaps it once we return */
	(void)sd_event_source_set_enabled(o->sup->recycle, SD_EVENT_ONESHOT);
	return 0;
}

/*
 * A check process whose request ended unanswered (its server lost): its
 * result would come too late for anyone, so it is killed, and reaped by
 * a source of its own. Its pid is ours to kill: it came from the server's
 * socket, which a check process closes before its check begins.
 */
static void
end_orphan(struct supervisor *s, pid_t pid)
{
	struct killed_orphan *o;

	log_warnx("check process %ld answered after its spawn server was "
	    "lost; killing it", (long)pid);
	(void)kill(pid, SIGKILL);
	if ((o = calloc(1, sizeof(*o))) == NULL ||
	    sd_event_add_child(s->event, &o->child, pid, WEXITED,
	    on_orphan_exit, o) < 0) {
		free(o);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return;
	}
	o->sup = s;
	o->pid = pid;
	o->next = s->killed;
	s->killed = o;
}

/* An answer for one slot, from link: the check process runs, or not. */
static void
take_reply(struct supervisor *s, struct server_link *link,
    const struct spawn_reply *rep)
{
	struct child_slot *slot;
	int r, status;

	if (rep->slot >= s->max ||
	    (slot = &s->slots[rep->slot])->state != SLOT_FORKING ||
	    slot->link != link) {
		if (rep->pid > 0)
			end_orphan(s, rep->pid);
		else
			log_warnx("spawn server: an answer for no request "
			    "(slot %u)", rep->slot);
		return;
	}
	/* Room again for a request: more may start. */
	if (s->forking-- == SPAWN_IN_FLIGHT_MAX)
		(void)sd_event_source_set_enabled(s->recycle,
		    SD_EVENT_ONESHOT);
	if (rep->pid <= 0) {
		end_slot(s, slot, CHILD_UNSTARTED, rep->pid < 0 ?
		    -rep->pid : EIO);
		return;
	}
	slot->pid = rep->pid;
	slot->state = SLOT_RUNNING;
	s->forked++;
	if ((r = watch(s, slot)) < 0) {
		/* Unwatched, it would never be reaped nor killed. */
		kill(slot->pid, SIGKILL);
		while (waitpid(slot->pid, &status, 0) < 0 && errno == EINTR)
			;
		end_slot(s, slot, CHILD_UNSTARTED, -r);
		return;
	}
	s->hooks.started(s->hooks.arg, slot->backend, slot->pid);
}

/* Every answer the server has sent. -errno once its socket is gone. */
static int
read_replies(struct supervisor *s, struct server_link *link)
{
	struct spawn_reply rep;
	bool answered = false;
	ssize_t n;

	for (;;) {
		n = recv(link->sock, &rep, sizeof(rep), MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(rep)) {
			take_reply(s, link, &rep);
			answered = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (answered && !link->lost)
				silence_watch(s);
			return 0;
		}
		if (n > 0) {
			log_warnx("spawn server: a short answer (%zd bytes)",
			    n);
			continue;
		}
		return n == 0 ? -EPIPE : -errno;
	}
}

static int
on_server_io(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct server_link *link = arg;
	int r;

	(void)src;
	(void)fd;
	(void)revents;
	if ((r = read_replies(link->sup, link)) < 0) {
		server_lost(link->sup, link, r == -EPIPE ? "closed its socket" :
		    strerror(-r));
		link_read_out(link);
	}
	return 0;
}

static int
on_server_exit(sd_event_source *src, const siginfo_t *si, void *arg)
{
	struct server_link *link = arg;
	struct supervisor *s = link->sup;
	char why[96];

	(void)src;
	link->exited = true;
	if (!link->lost) {
		/* What was answered before it went still counts. */
		int r = read_replies(s, link);

		if (si->si_code == CLD_EXITED)
			snprintf(why, sizeof(why), "exited with status %d",
			    si->si_status);
		else
			snprintf(why, sizeof(why), "died of signal %d (%s)",
			    si->si_status, sigabbrev_np(si->si_status) != NULL ?
			    sigabbrev_np(si->si_status) : "?");
		server_lost(s, link, why);
		if (r < 0)
			link_read_out(link);
	}
	/* Freed from the loop, after sd-event has reaped it. */
	(void)sd_event_source_set_enabled(s->recycle, SD_EVENT_ONESHOT);
	return 0;
}

/* No more answers from link: its socket is closed, and the link freed
 * once its server is reaped too. A check process whose answer comes too
 * late now fails to send it and exits: a look finds it. */
static void
link_read_out(struct server_link *link)
{
	sweep_later(link->sup);
	link->io = sd_event_source_disable_unref(link->io);
	link->drain = sd_event_source_disable_unref(link->drain);
	if (link->sock >= 0)
		close(link->sock);
	link->sock = -1;
	if (link->exited)
		(void)sd_event_source_set_enabled(link->sup->recycle,
		    SD_EVENT_ONESHOT);
}

static int
on_drain(sd_event_source *src, uint64_t usec, void *arg)
{
	(void)src;
	(void)usec;
	link_read_out(arg);
	return 0;
}

/*
 * The server is gone or useless: whatever it was asked and did not
 * answer ends CHILD_UNSTARTED (poolmond's fault, never the backend's),
 * and the next check starts a new one. Check processes it forked are the
 * daemon's children and go on; one that answers only now is an orphan.
 */
static void
server_lost(struct supervisor *s, struct server_link *link, const char *why)
{
	size_t i;

	if (link == NULL || link->lost)
		return;
	log_warnx("spawn server %ld %s; the checks it was asked for are "
	    "unknown, and it is started again", (long)link->pid, why);
	link->lost = true;
	if (link->sock >= 0 && sd_event_add_time(s->event, &link->drain,
	    CLOCK_MONOTONIC, (uint64_t)(now_ms() + SPAWN_REPLY_TIMEOUT_MS) *
	    1000, 1000, on_drain, link) < 0)
		link_read_out(link);
	if (!link->exited)
		(void)sd_event_source_send_child_signal(link->child, SIGKILL,
		    NULL, 0);
	if (s->server == link) {
		s->server = NULL;
		link->next = s->lost;
		s->lost = link;
	}
	for (i = 0; i < s->max; i++)
		if (s->slots[i].state == SLOT_FORKING) {
			s->forking--;
			end_slot(s, &s->slots[i], CHILD_UNSTARTED, 0);
		}
	silence_watch(s);
}

static int
on_restart_timer(sd_event_source *src, uint64_t usec, void *arg)
{
	struct supervisor *s = arg;

	(void)src;
	(void)usec;
	s->hooks.idle(s->hooks.arg);
	return 0;
}

/*
 * Whether no server runs and the last one started too recently to start
 * another: the idle hook then runs once one may.
 */
static bool
restart_too_soon(struct supervisor *s)
{
	int64_t at = s->server_started_ms + SERVER_RESTART_MS;

	if (s->server != NULL || s->server_started_ms == 0 ||
	    now_ms() >= at)
		return false;
	(void)sd_event_source_set_time(s->restart_timer, (uint64_t)at * 1000);
	(void)sd_event_source_set_enabled(s->restart_timer, SD_EVENT_ONESHOT);
	return true;
}

/* The server, forked now if none runs. */
static int
server_start(struct supervisor *s)
{
	struct server_link *link;
	int r;

	if (s->server != NULL)
		return 0;
	if ((link = calloc(1, sizeof(*link))) == NULL)
		return -ENOMEM;
	link->sup = s;
	s->server_started_ms = now_ms();
	if ((r = spawn_server_start(&s->server_conf, s->pipe[1], &link->pid,
	    &link->sock)) < 0) {
		free(link);
		return r;
	}
	if ((r = sd_event_add_child(s->event, &link->child, link->pid,
	    WEXITED, on_server_exit, link)) < 0 ||
	    (r = sd_event_add_io(s->event, &link->io, link->sock, EPOLLIN,
	    on_server_io, link)) < 0) {
		kill(link->pid, SIGKILL);
		close(link->sock);
		link->sock = -1;
		link->io = sd_event_source_disable_unref(link->io);
		link->lost = true;
		if (link->child == NULL) {
			while (waitpid(link->pid, NULL, 0) < 0 && errno == EINTR)
				;
			free(link);
			return r;
		}
		/* Its child source reaps it, then the loop frees it. */
		link->next = s->lost;
		s->lost = link;
		return r;
	}
	s->server = link;
	return 0;
}

bool
supervisor_can_spawn(struct supervisor *s)
{
	return s->nfree > 0 && s->forking < SPAWN_IN_FLIGHT_MAX &&
	    !restart_too_soon(s);
}

int
supervisor_spawn(struct supervisor *s, size_t backend, int64_t budget_ms,
    const void *job, size_t len)
{
	struct spawn_request *req = s->request;
	struct child_slot *slot;
	int64_t start = now_ms();
	size_t idx;
	int r;

	if (len > SPAWN_DATA_MAX)
		return -EINVAL;
	if (!supervisor_can_spawn(s))
		return -EBUSY;
	if ((r = server_start(s)) < 0)
		return r;
	idx = s->free_slots[s->nfree - 1];
	slot = &s->slots[idx];
	/* Killed past it once it runs; the server lost if still asked. */
	r = sd_event_add_time(s->event, &slot->deadline, CLOCK_MONOTONIC,
	    (uint64_t)(start + budget_ms + CHILD_KILL_GRACE_MS) * 1000, 1000,
	    on_deadline, slot);
	if (r < 0)
		return r;
	req->kind = SPAWN_FORK;
	req->slot = (uint32_t)idx;
	req->hard_deadline = start + budget_ms;
	req->len = (uint32_t)len;
	memcpy(req->data, job, len);
	/* At most SPAWN_IN_FLIGHT_MAX requests: the socket has room. */
	if (send(s->server->sock, req, SPAWN_REQUEST_HEADER + len,
	    MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		r = -errno;
		slot->deadline = sd_event_source_disable_unref(slot->deadline);
		return r;
	}
	s->nfree--;
	/* The first request waiting: the server's silence is timed. */
	if (s->forking++ == 0)
		silence_watch(s);
	slot->backend = backend;
	slot->link = s->server;
	slot->killed = false;
	slot->stopped = false;
	slot->state = SLOT_FORKING;
	sweep_later(s);
	return 0;
}

void
supervisor_update(struct supervisor *s, const void *data, size_t len)
{
	struct spawn_request *req = s->request;
	ssize_t n;

	if (s->server == NULL)
		return;		/* the next one is forked with it */
	memset(req, 0, SPAWN_REQUEST_HEADER);
	req->kind = SPAWN_UPDATE;
	req->len = (uint32_t)len;
	if (len <= SPAWN_DATA_MAX)
		memcpy(req->data, data, len);
	n = len > SPAWN_DATA_MAX ? -1 : send(s->server->sock, req,
	    SPAWN_REQUEST_HEADER + len, MSG_DONTWAIT | MSG_NOSIGNAL);
	explicit_bzero(req->data, len <= SPAWN_DATA_MAX ? len : 0);
	if (n < 0)
		server_lost(s, s->server, "could not take the new "
		    "credentials");
}

int
supervisor_new(sd_event *event, size_t max, size_t record_size,
    const struct supervisor_hooks *hooks,
    const struct spawn_server_conf *server, struct supervisor **out)
{
	struct supervisor *s;
	size_t i;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->event = event;
	s->hooks = *hooks;
	s->server_conf = *server;
	s->max = max;
	s->record_size = record_size;
	s->pipe[0] = s->pipe[1] = -1;
	r = -EINVAL;
	if (record_size == 0 || record_size > PIPE_BUF)
		goto fail;
	s->slots = calloc(max, sizeof(*s->slots));
	s->free_slots = calloc(max, sizeof(*s->free_slots));
	s->record = calloc(RECORDS_PER_READ, record_size);
	s->request = calloc(1, sizeof(*s->request));
	r = -ENOMEM;
	if (s->slots == NULL || s->free_slots == NULL || s->record == NULL ||
	    s->request == NULL)
		goto fail;
	for (i = 0; i < max; i++) {
		s->slots[i].sup = s;
		s->free_slots[s->nfree++] = max - 1 - i;
	}
	if (pipe2(s->pipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	/* Only our end is non-blocking: a check process waits for room. */
	if (fcntl(s->pipe[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	(void)fcntl(s->pipe[0], F_SETPIPE_SZ, REPORT_PIPE_SIZE);
	if ((r = sd_event_add_io(event, &s->pipe_source, s->pipe[0], EPOLLIN,
	    on_reports, s)) < 0 ||
	    (r = sd_event_add_defer(event, &s->recycle, on_recycle, s)) < 0 ||
	    (r = sd_event_source_set_enabled(s->recycle, SD_EVENT_OFF)) < 0 ||
	    (r = sd_event_add_time(event, &s->restart_timer, CLOCK_MONOTONIC,
	    0, 1000, on_restart_timer, s)) < 0 ||
	    (r = sd_event_source_set_enabled(s->restart_timer,
	    SD_EVENT_OFF)) < 0 ||
	    (r = sd_event_add_time(event, &s->silence, CLOCK_MONOTONIC,
	    0, 1000, on_silence, s)) < 0 ||
	    (r = sd_event_source_set_enabled(s->silence, SD_EVENT_OFF)) < 0 ||
	    (r = sd_event_add_time(event, &s->sweep, CLOCK_MONOTONIC,
	    0, 1000 * 1000, on_sweep, s)) < 0 ||
	    (r = sd_event_source_set_enabled(s->sweep, SD_EVENT_OFF)) < 0)
		goto fail;
	/* Now, while the daemon is small: every check is forked from it. */
	if ((r = server_start(s)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	supervisor_free(s);
	return r;
}

static void
stop_server(struct server_link *link)
{
	if (link->sock >= 0) {
		close(link->sock);
		link->sock = -1;
	}
	if (!link->exited) {
		kill(link->pid, SIGKILL);
		while (waitpid(link->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	free_link(link);
}

void
supervisor_free(struct supervisor *s)
{
	struct killed_orphan *o;
	struct server_link *link;
	size_t i;
	int status;

	if (s == NULL)
		return;
	for (i = 0; i < s->max && s->slots != NULL; i++) {
		struct child_slot *slot = &s->slots[i];

		/* Not reaped yet: its source's callback has not run. */
		if (slot->state == SLOT_RUNNING) {
			kill(slot->pid, SIGKILL);
			while (waitpid(slot->pid, &status, 0) < 0 &&
			    errno == EINTR)
				;
		}
		sd_event_source_disable_unref(slot->child);
		sd_event_source_disable_unref(slot->deadline);
	}
	while ((o = s->killed) != NULL) {
		s->killed = o->next;
		/* Killed already; not reaped while its callback has not run. */
		if (!o->exited)
			while (waitpid(o->pid, NULL, 0) < 0 && errno == EINTR)
				;
		sd_event_source_disable_unref(o->child);
		free(o);
	}
	if (s->server != NULL)
		stop_server(s->server);
	while ((link = s->lost) != NULL) {
		s->lost = link->next;
		stop_server(link);
	}
	/* Every one known is reaped: what is left, no one knew. */
	(void)orphans_end();
	sd_event_source_disable_unref(s->pipe_source);
	sd_event_source_disable_unref(s->recycle);
	sd_event_source_disable_unref(s->restart_timer);
	sd_event_source_disable_unref(s->silence);
	sd_event_source_disable_unref(s->sweep);
	if (s->pipe[0] >= 0)
		close(s->pipe[0]);
	if (s->pipe[1] >= 0)
		close(s->pipe[1]);
	free(s->slots);
	free(s->free_slots);
	free(s->record);
	free(s->request);
	free(s);
}

size_t
supervisor_running(const struct supervisor *s)
{
	return s->max - s->nfree;
}

uint64_t
supervisor_forked(const struct supervisor *s)
{
	return s->forked;
}

pid_t
supervisor_server_pid(const struct supervisor *s)
{
	return s->server != NULL ? s->server->pid : 0;
}
