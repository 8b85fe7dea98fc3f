/*
 * poolmonctl's requests, served on the daemon's event loop. Each client is
 * one SOCK_SEQPACKET connection carrying one packed protobuf per message
 * (proto/poolmon.proto). Nothing here blocks the loop: requests are read
 * only when whole, replies are queued and written as the client reads them,
 * and a client that neither asks nor reads for CTL_CLIENT_TIMEOUT_MS is
 * dropped. A recheck is answered when the scan that covers it finishes.
 */
#include "control.h"
#include "control_reply.h"
#include "control_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "poolmon.pb-c.h"
#include "pool_event.h"
#include "util.h"
#include "version.h"

#define CTL_CLIENT_TIMEOUT_MS	5000
#define CTL_MAX_CLIENTS		32
/*
 * Root always gets a slot: CTL_ROOT_SLOTS of them only root may take.
 * Reserved rather than won by evicting someone, which could cut off a
 * client mid-request (a recheck waiting for its scan). And no one uid but
 * root holds more than half of them.
 */
#define CTL_ROOT_SLOTS		4
#define CTL_MAX_PER_UID		(CTL_MAX_CLIENTS / 2)
#define CTL_ACCEPT_RETRY_MS	1000
/*
 * Control events come before the scan's: during a large scan reports and
 * child exits are always pending, and poolmonctl waited for the scan's
 * end (20 s at 1000 backends) although its requests cost little.
 */
#define CTL_PRIORITY		SD_EVENT_PRIORITY_IMPORTANT
#define CTL_MAX_PEER_GROUPS	65536
#define CTL_HOST_SHOWN_MAX	64
/* Events waiting for a watcher that reads too slowly, before it is
 * dropped: the daemon never waits for one. */
#define CTL_WATCH_QUEUE_MAX	1024
#define CTL_WARN_BURST		10	/* client errors logged a minute */
#define CTL_WARN_WINDOW_MS	(60 * 1000)

struct ctl_client {
	struct control *ctl;
	struct ctl_client *next;
	int fd;
	sd_event_source *io;
	sd_event_source *timer;
	struct ucred peer;
	bool privileged;	/* root or in the control group */
	struct ctl_outq out;
	bool close_after_flush;
	/* A recheck waiting for the scan that covers it. */
	bool waiting;
	uint64_t wait_id;
	uint32_t wait_scan;
	char **wait_hosts;	/* none: every backend */
	size_t nwait_hosts;
	/* A hold waiting for its director commands. */
	bool hold_waiting;
	uint64_t hold_id;
	bool hold_flush;
	char hold_ip[INET6_ADDRSTRLEN];
	/* A status or recheck reply still to be written, part by part. */
	struct ctl_stream stream;
	/* poolmonctl watch: events pushed as they happen. */
	bool watching;
	bool watch_scans;
	uint64_t watch_id;
};

struct control {
	struct control_ctx ctx;		/* what it reads and asks (main.c) */
	sd_event *event;
	struct ctl_socket sock;		/* control_socket.c */
	sd_event_source *listener;
	sd_event_source *accept_retry;
	struct ctl_client *clients;
	size_t nclients;
	struct ratelimit client_warnings;	/* warn_client() */
};

/*
 * What a client did wrong (refused, too many, broke the protocol), logged
 * at most CTL_WARN_BURST times a minute: anyone who may open the socket
 * could otherwise fill the log with a loop.
 */
static void __attribute__((format(printf, 2, 3)))
warn_client(struct control *ctl, const char *fmt, ...)
{
	unsigned int suppressed;
	char msg[512];
	va_list ap;

	if (!ratelimit_allow(&ctl->client_warnings, now_ms(), &suppressed)) {
		if (suppressed == 1)
			log_warnx("control: more than %d client errors a "
			    "minute; the next are counted, not logged",
			    CTL_WARN_BURST);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (suppressed > 0)
		log_warnx("control: %s (after %u unlogged client errors)",
		    msg, suppressed);
	else
		log_warnx("control: %s", msg);
}

/* ------------------------------------------------------------------ */
/* Replies to one client */

static int
reply_error(struct ctl_client *c, uint64_t id, int code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static int
reply_error(struct ctl_client *c, uint64_t id, int code, const char *fmt, ...)
{
	Poolmon__Response resp;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_response_init(&resp, id, false);
	SET(&resp, code, code);
	resp.message = msg;
	return ctl_outq_push(&c->out, &resp);
}

/* The request broke the protocol: say why, then hang up. */
static void __attribute__((format(printf, 4, 5)))
reply_fatal(struct ctl_client *c, uint64_t id, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn_client(c->ctl, "client uid %u pid %d: %s; closing the "
	    "connection", (unsigned int)c->peer.uid, (int)c->peer.pid, msg);
	(void)reply_error(c, id, code, "%s", msg);
	c->close_after_flush = true;
}

/*
 * What a handler answers, and the storage its Response points at: filled
 * by the handler, sent by send_response(), freed by reply_free().
 */
struct ctl_reply {
	Poolmon__Response resp;
	union {
		Poolmon__ShowReply show;
		Poolmon__RecheckReply recheck;
		Poolmon__SetDryRunReply set_dry_run;
		Poolmon__ReloadReply reload;
		Poolmon__VersionReply version;
		Poolmon__HoldReply hold;
		Poolmon__ReleaseReply release;
	} u;
	struct backend_set set;		/* the backends it shows */
	char message[512];		/* an error's, or resp.message's */
	/* Once the response is queued (watch: events may follow it). */
	void (*sent)(struct ctl_client *c);
};

/*
 * A handler returns 0 (send rep->resp), -errno (send an error saying
 * rep->message), or CTL_DEFERRED: nothing to send now, the answer comes
 * later (a status stream, a recheck or hold waiting) or is queued whole
 * (metrics).
 */
#define CTL_DEFERRED	1

typedef int ctl_handler(struct ctl_client *, const Poolmon__Request *,
    struct ctl_reply *);

static void
reply_init(struct ctl_reply *rep, uint64_t id)
{
	memset(rep, 0, sizeof(*rep));
	ctl_response_init(&rep->resp, id, true);
}

static void
reply_free(struct ctl_reply *rep)
{
	backend_set_free(&rep->set);
}

/* An error for the handler to return: -code, with why in rep->message. */
static int __attribute__((format(printf, 3, 4)))
fail(struct ctl_reply *rep, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
	va_end(ap);
	return -code;
}

static int
fail_nomem(struct ctl_reply *rep)
{
	return fail(rep, ENOMEM, "out of memory");
}

/*
 * The one way a handler's answer is queued: the response for r >= 0,
 * else the error r; without memory for the response, that error instead.
 */
static void
send_response(struct ctl_client *c, struct ctl_reply *rep, int r)
{
	if (r >= 0 && ctl_outq_push(&c->out, &rep->resp) == 0) {
		if (rep->sent != NULL)
			rep->sent(c);
		return;
	}
	if (r >= 0)
		r = fail_nomem(rep);
	(void)reply_error(c, rep->resp.id, -r, "%s", rep->message);
}

/* Host arguments are printed back: keep them short and printable. */
static const char *
shown_host(const char *host, char *buf, size_t len)
{
	str_sanitize_r(host, strnlen(host, CTL_HOST_SHOWN_MAX), buf, len);
	return buf;
}

/* A request's host in the director's form: 0, or the error in rep. */
static int
host_arg(struct ctl_reply *rep, const char *host, char *ip, size_t iplen)
{
	char shown[CTL_HOST_SHOWN_MAX + 1];

	if (ip_canonical(host, ip, iplen) == 0)
		return 0;
	return fail(rep, EINVAL, "'%s' is not an IP address",
	    shown_host(host, shown, sizeof(shown)));
}

/*
 * The message of b, or NULL for none (b NULL). The message points into
 * set and b: pack before either changes.
 */
static int
one_backend(struct backend_set *set, const struct control_ctx *ctx,
    const struct backend *b, Poolmon__Backend **out)
{
	*out = NULL;
	memset(set, 0, sizeof(*set));
	if (b == NULL)
		return 0;
	if (backend_set_alloc(set, 1, ctx->cfg->nports) < 0 ||
	    backend_set_add(set, ctx, b) < 0)
		return -ENOMEM;
	*out = set->ptr[0];
	return 0;
}

static int
handle_status(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	if (ctl_stream_status(&c->stream, &c->ctl->ctx, req->id) < 0)
		return fail_nomem(rep);
	return CTL_DEFERRED;
}

static int
handle_show(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	const struct control_ctx *ctx = &c->ctl->ctx;
	char ip[INET6_ADDRSTRLEN];
	const struct backend *b;
	int r;

	if ((r = host_arg(rep, req->show->host, ip, sizeof(ip))) < 0)
		return r;
	if ((b = pool_find(ctx->pool, ip)) == NULL)
		return fail(rep, ENOENT, "%s is not in the director's host "
		    "list", ip);
	poolmon__show_reply__init(&rep->u.show);
	if (one_backend(&rep->set, ctx, b, &rep->u.show.backend) < 0)
		return fail_nomem(rep);
	rep->resp.result_case = POOLMON__RESPONSE__RESULT_SHOW;
	rep->resp.show = &rep->u.show;
	return 0;
}

static void
free_hosts(char **hosts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(hosts[i]);
	free(hosts);
}

/* The request's hosts in the director's form: 0, or the error in rep. */
static int
recheck_hosts(struct ctl_reply *rep, const Poolmon__RecheckRequest *rr,
    char ***out)
{
	char ip[INET6_ADDRSTRLEN], shown[CTL_HOST_SHOWN_MAX + 1];
	char **hosts;
	size_t i;

	if ((hosts = calloc(rr->n_hosts + 1, sizeof(*hosts))) == NULL)
		return fail_nomem(rep);
	for (i = 0; i < rr->n_hosts; i++) {
		if (ip_canonical(rr->hosts[i], ip, sizeof(ip)) < 0) {
			free_hosts(hosts, i);
			return fail(rep, EINVAL, "'%s' is not an IP address",
			    shown_host(rr->hosts[i], shown, sizeof(shown)));
		}
		if ((hosts[i] = strdup(ip)) == NULL) {
			free_hosts(hosts, i);
			return fail_nomem(rep);
		}
	}
	*out = hosts;
	return 0;
}

static int
handle_recheck(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	const struct control_ctx *ctx = &c->ctl->ctx;
	const Poolmon__RecheckRequest *rr = req->recheck;
	struct daemon_summary sum;
	char **hosts = NULL;
	int r;

	if ((r = recheck_hosts(rep, rr, &hosts)) < 0)
		return r;
	if ((r = ctx->request_scan(ctx->arg, (const char *const *)hosts,
	    rr->n_hosts)) < 0) {
		free_hosts(hosts, rr->n_hosts);
		return fail(rep, -r, "cannot queue the recheck: %s",
		    strerror(-r));
	}
	log_info("control: recheck of %s%s requested by uid %u pid %d",
	    rr->n_hosts == 0 ? "every backend" : hosts[0],
	    rr->n_hosts > 1 ? " and others" : "", (unsigned int)c->peer.uid,
	    (int)c->peer.pid);
	if (rr->wait) {
		/* A scan in progress started before this request: the next
		 * one is the first to cover it. */
		summary_read(&ctx->summary, &sum);
		c->waiting = true;
		c->wait_id = req->id;
		c->wait_scan = sum.scan_id + 1;
		c->wait_hosts = hosts;
		c->nwait_hosts = rr->n_hosts;
		return CTL_DEFERRED;
	}
	free_hosts(hosts, rr->n_hosts);
	poolmon__recheck_reply__init(&rep->u.recheck);
	SET(&rep->u.recheck, queued, true);
	rep->resp.message = (char *)"recheck queued";
	rep->resp.result_case = POOLMON__RESPONSE__RESULT_RECHECK;
	rep->resp.recheck = &rep->u.recheck;
	return 0;
}

static int
handle_set_dry_run(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	const struct control_ctx *ctx = &c->ctl->ctx;
	bool on = req->set_dry_run->enabled;
	struct daemon_summary sum;

	summary_read(&ctx->summary, &sum);
	ctx->set_dry_run(ctx->arg, on);
	if (sum.dry_run != on)
		log_info("control: dry-run switched %s by uid %u pid %d",
		    on ? "on" : "off", (unsigned int)c->peer.uid,
		    (int)c->peer.pid);
	poolmon__set_dry_run_reply__init(&rep->u.set_dry_run);
	rep->u.set_dry_run.dry_run = on;
	SET(&rep->u.set_dry_run, previous, sum.dry_run);
	rep->resp.result_case = POOLMON__RESPONSE__RESULT_SET_DRY_RUN;
	rep->resp.set_dry_run = &rep->u.set_dry_run;
	return 0;
}

static int
handle_reload(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	const struct control_ctx *ctx = &c->ctl->ctx;
	char err[sizeof(rep->message) - 32] = "";
	int r;

	(void)req;
	log_info("control: reload requested by uid %u pid %d",
	    (unsigned int)c->peer.uid, (int)c->peer.pid);
	if ((r = ctx->reload(ctx->arg, err, sizeof(err))) < 0)
		return fail(rep, -r, "reload failed: %s", err);
	poolmon__reload_reply__init(&rep->u.reload);
	rep->resp.message = (char *)"reloaded";
	rep->resp.result_case = POOLMON__RESPONSE__RESULT_RELOAD;
	rep->resp.reload = &rep->u.reload;
	return 0;
}

static int
handle_version(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	Poolmon__VersionReply *v = &rep->u.version;

	(void)c;
	(void)req;
	poolmon__version_reply__init(v);
	v->daemon_version = (char *)POOLMON_VERSION;
	v->protocol_version = POOLMON__PROTOCOL__PROTOCOL_VERSION;
	SET(v, pid, (uint32_t)getpid());
	rep->resp.result_case = POOLMON__RESPONSE__RESULT_VERSION_INFO;
	rep->resp.version_info = v;
	return 0;
}

/*
 * The answer to a hold; r and err are the hold hook's. A hold that is
 * recorded but not yet applied is a failure (the host is not down yet)
 * that still carries the held backend, so the client shows both.
 */
static int
fill_hold(const struct control_ctx *ctx, struct ctl_reply *rep,
    const char *ip, bool flush, int r, const char *err)
{
	const struct state_entry *e = state_find(ctx->state, ip);
	bool held = e != NULL && e->owner == OWNER_HOLD;

	if (r < 0 && !held)
		return fail(rep, -r, "%s", err);
	poolmon__hold_reply__init(&rep->u.hold);
	SET(&rep->u.hold, held, held);
	if (one_backend(&rep->set, ctx, pool_find(ctx->pool, ip),
	    &rep->u.hold.backend) < 0)
		return fail_nomem(rep);
	rep->resp.success = r == 0;
	if (r < 0)
		SET(&rep->resp, code, -r);
	str_copy(rep->message, err[0] != '\0' ? err : flush ?
	    "held: down and flushed" : "held: down", sizeof(rep->message));
	rep->resp.message = rep->message;
	rep->resp.result_case = POOLMON__RESPONSE__RESULT_HOLD;
	rep->resp.hold = &rep->u.hold;
	return 0;
}

static int client_flush(struct ctl_client *c);
static void client_free(struct ctl_client *c);
static void client_update(struct ctl_client *c);

static void
hold_done(void *arg, int r, const char *err)
{
	struct ctl_client *c = arg;
	struct ctl_reply rep;

	c->hold_waiting = false;
	reply_init(&rep, c->hold_id);
	send_response(c, &rep, fill_hold(&c->ctl->ctx, &rep, c->hold_ip,
	    c->hold_flush, r, err));
	reply_free(&rep);
	if (client_flush(c) < 0)
		client_free(c);
	else
		client_update(c);
}

static int
handle_hold(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	const struct control_ctx *ctx = &c->ctl->ctx;
	const Poolmon__HoldRequest *hr = req->hold;
	const char *reason = hr->reason != NULL ? hr->reason : "";
	char ip[INET6_ADDRSTRLEN], err[512] = "";
	int r;

	if ((r = host_arg(rep, hr->host, ip, sizeof(ip))) < 0)
		return r;
	if (!hold_reason_valid(reason))
		return fail(rep, EINVAL, "the reason must be at most %d bytes "
		    "on one line, without control characters but tabs",
		    HOLD_REASON_MAX - 1);
	/* Who asked is the peer's uid, never anything the request says. */
	r = ctx->hold(ctx->arg, ip, reason, c->peer.uid, hr->flush, hold_done,
	    c, err, sizeof(err));
	if (r == 1) {
		/* Answered when the director's commands finish. */
		c->hold_waiting = true;
		c->hold_id = req->id;
		c->hold_flush = hr->flush;
		str_copy(c->hold_ip, ip, sizeof(c->hold_ip));
		return CTL_DEFERRED;
	}
	return fill_hold(ctx, rep, ip, hr->flush, r, err);
}

/* Whose ip is before a release: what the release hands over. */
static const char *
previous_owner(const struct control_ctx *ctx, const char *ip)
{
	const struct state_entry *e = state_find(ctx->state, ip);
	const struct backend *b = pool_find(ctx->pool, ip);

	if (e != NULL)
		return owner_str(e->owner);
	return b != NULL ? owner_str(b->owner) : "";
}

static int
handle_release(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	const struct control_ctx *ctx = &c->ctl->ctx;
	Poolmon__ReleaseReply *reply = &rep->u.release;
	char ip[INET6_ADDRSTRLEN], err[512] = "";
	const char *was;
	int r;

	if ((r = host_arg(rep, req->release->host, ip, sizeof(ip))) < 0)
		return r;
	was = previous_owner(ctx, ip);
	if ((r = ctx->release(ctx->arg, ip, err, sizeof(err))) < 0)
		return fail(rep, -r, "%s", err);
	/* Checked at once: up as soon as --rise allows, not an interval on. */
	if (pool_find(ctx->pool, ip) != NULL) {
		const char *one = ip;

		(void)ctx->request_scan(ctx->arg, &one, 1);
	}
	poolmon__release_reply__init(reply);
	reply->previous_owner = (char *)was;
	if (one_backend(&rep->set, ctx, pool_find(ctx->pool, ip),
	    &reply->backend) < 0)
		return fail_nomem(rep);
	str_copy(rep->message, err, sizeof(rep->message));
	rep->resp.message = rep->message;
	rep->resp.result_case = POOLMON__RESPONSE__RESULT_RELEASE;
	rep->resp.release = reply;
	return 0;
}

/* ------------------------------------------------------------------ */
/* metrics: the Prometheus text (metrics.c) */

/* Room in a part for the Response around the text. */
#define CTL_METRICS_TEXT_MAX	(CTL_PART_TARGET - 256)

/* A part of text from here: up to the last line end that fits. */
static size_t
metrics_part_len(const char *text, size_t left)
{
	const char *nl;

	if (left <= CTL_METRICS_TEXT_MAX)
		return left;
	nl = memrchr(text, '\n', CTL_METRICS_TEXT_MAX);
	return nl != NULL ? (size_t)(nl - text) + 1 : CTL_METRICS_TEXT_MAX;
}

static int
push_metrics(struct ctl_outq *q, uint64_t id, const char *text, size_t len)
{
	Poolmon__Response resp;
	Poolmon__MetricsReply reply;
	size_t off = 0, n;
	int r;

	do {
		n = metrics_part_len(text + off, len - off);
		ctl_response_init(&resp, id, true);
		SET(&resp, more, off + n < len);
		poolmon__metrics_reply__init(&reply);
		reply.has_text = 1;
		reply.text.len = n;
		reply.text.data = (uint8_t *)text + off;
		resp.result_case = POOLMON__RESPONSE__RESULT_METRICS;
		resp.metrics = &reply;
		if ((r = ctl_outq_push(q, &resp)) < 0)
			return r;
		off += n;
	} while (off < len);
	return 0;
}

/*
 * Rendered and queued whole: unlike status, not a part at a time. The
 * text is about 1 KiB a backend, held until the client has read it.
 */
int
control_metrics_reply(const struct control_ctx *ctx, uint64_t id,
    struct ctl_outq *q)
{
	size_t queued = q->n, len;
	char *text;
	int r;

	if ((r = metrics_render(&ctx->metrics, &text, &len)) < 0)
		return r;
	r = push_metrics(q, id, text, len);
	free(text);
	/* A reply cut short is no reply: drop its parts. */
	while (r < 0 && q->n > queued)
		free(q->msg[--q->n].buf);
	return r;
}

static int
handle_metrics(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	if (control_metrics_reply(&c->ctl->ctx, req->id, &c->out) < 0)
		return fail_nomem(rep);
	return CTL_DEFERRED;
}

/* ------------------------------------------------------------------ */
/* watch: events as they happen (control_event) */

static void
start_watching(struct ctl_client *c)
{
	c->watching = true;
}

static int
handle_watch(struct ctl_client *c, const Poolmon__Request *req,
    struct ctl_reply *rep)
{
	rep->resp.has_more = rep->resp.more = true;
	rep->resp.message = (char *)"watching";
	c->watch_scans = req->watch->scans;
	c->watch_id = req->id;
	rep->sent = start_watching;
	return 0;
}

/* One event to one watcher; a watcher too slow for its queue is told and
 * dropped, never waited for. */
static void
push_event(struct ctl_client *c, const Poolmon__WatchEvent *we)
{
	Poolmon__Response resp;

	if (c->out.n - c->out.head >= CTL_WATCH_QUEUE_MAX) {
		warn_client(c->ctl, "control: watcher uid %u pid %d reads too "
		    "slowly: %d events queued; dropped",
		    (unsigned int)c->peer.uid, (int)c->peer.pid,
		    CTL_WATCH_QUEUE_MAX);
		c->watching = false;
		/* Its goodbye next, not after a thousand stale events. */
		ctl_outq_clear(&c->out);
		(void)reply_error(c, c->watch_id, ENOBUFS, "watch dropped: "
		    "more than %d events were waiting to be read",
		    CTL_WATCH_QUEUE_MAX);
		c->close_after_flush = true;
		return;
	}
	ctl_response_init(&resp, c->watch_id, true);
	resp.has_more = resp.more = true;
	resp.result_case = POOLMON__RESPONSE__RESULT_WATCH_EVENT;
	resp.watch_event = (Poolmon__WatchEvent *)we;
	if (ctl_outq_push(&c->out, &resp) < 0) {
		c->watching = false;
		(void)reply_error(c, c->watch_id, ENOMEM, "out of memory");
		c->close_after_flush = true;
	}
}

static const struct ctl_command {
	Poolmon__Request__CommandCase command;
	const char *name;
	bool privileged;	/* changes something: root or control group */
	ctl_handler *handle;
} ctl_commands[] = {
	{ POOLMON__REQUEST__COMMAND_STATUS, "status", false, handle_status },
	{ POOLMON__REQUEST__COMMAND_SHOW, "show", false, handle_show },
	{ POOLMON__REQUEST__COMMAND_RECHECK, "recheck", true,
	    handle_recheck },
	{ POOLMON__REQUEST__COMMAND_SET_DRY_RUN, "dry-run", true,
	    handle_set_dry_run },
	{ POOLMON__REQUEST__COMMAND_RELOAD, "reload", true, handle_reload },
	{ POOLMON__REQUEST__COMMAND_GET_VERSION, "version", false,
	    handle_version },
	{ POOLMON__REQUEST__COMMAND_HOLD, "hold", true, handle_hold },
	{ POOLMON__REQUEST__COMMAND_RELEASE, "release", true,
	    handle_release },
	{ POOLMON__REQUEST__COMMAND_METRICS, "metrics", false,
	    handle_metrics },
	{ POOLMON__REQUEST__COMMAND_WATCH, "watch", false, handle_watch },
};

static const struct ctl_command *
find_command(Poolmon__Request__CommandCase which)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ctl_commands); i++)
		if (ctl_commands[i].command == which)
			return &ctl_commands[i];
	return NULL;
}

/* Run the command's handler and send what it answers. */
static void
dispatch(struct ctl_client *c, const struct ctl_command *cmd,
    const Poolmon__Request *req)
{
	struct ctl_reply rep;
	int r;

	reply_init(&rep, req->id);
	if ((r = cmd->handle(c, req, &rep)) != CTL_DEFERRED)
		send_response(c, &rep, r);
	reply_free(&rep);
}

static void
handle_request(struct ctl_client *c, const uint8_t *buf, size_t len)
{
	struct control *ctl = c->ctl;
	const struct ctl_command *cmd;
	Poolmon__Request *req;

	if ((req = poolmon__request__unpack(NULL, len, buf)) == NULL) {
		reply_fatal(c, 0, EPROTO, "malformed request");
		return;
	}
	if (req->version != POOLMON__PROTOCOL__PROTOCOL_VERSION) {
		reply_fatal(c, req->id, EPROTONOSUPPORT, "protocol version %u "
		    "is not supported: poolmond %s speaks version %d",
		    req->version, POOLMON_VERSION,
		    POOLMON__PROTOCOL__PROTOCOL_VERSION);
	} else if ((cmd = find_command(req->command_case)) == NULL) {
		(void)reply_error(c, req->id, EOPNOTSUPP, "unknown request: "
		    "poolmond %s speaks protocol version %d", POOLMON_VERSION,
		    POOLMON__PROTOCOL__PROTOCOL_VERSION);
	} else if (cmd->privileged && !c->privileged) {
		warn_client(ctl, "%s refused to uid %u pid %d: neither root "
		    "nor in group %s", cmd->name, (unsigned int)c->peer.uid,
		    (int)c->peer.pid, ctl->ctx.cfg->control_group);
		(void)reply_error(c, req->id, EACCES, "permission denied: %s "
		    "needs root or group %s", cmd->name,
		    ctl->ctx.cfg->control_group);
	} else {
		log_debug("control: %s from uid %u pid %d", cmd->name,
		    (unsigned int)c->peer.uid, (int)c->peer.pid);
		dispatch(c, cmd, req);
	}
	poolmon__request__free_unpacked(req, NULL);
}

/* ------------------------------------------------------------------ */
/* Client connections */

static void
client_free(struct ctl_client *c)
{
	struct ctl_client **pp;

	for (pp = &c->ctl->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			c->ctl->nclients--;
			break;
		}
	}
	if (c->hold_waiting)
		c->ctl->ctx.forget(c->ctl->ctx.arg, c);
	/* Safe from the source's own callback: sd-event defers the free. */
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	close(c->fd);
	ctl_outq_clear(&c->out);
	ctl_stream_end(&c->stream);
	free_hosts(c->wait_hosts, c->nwait_hosts);
	free(c);
}

static bool
client_reading(const struct ctl_client *c)
{
	return !c->waiting && !c->hold_waiting && !c->watching &&
	    !c->close_after_flush &&
	    !c->stream.active && c->out.head == c->out.n;
}

/*
 * Write what the socket takes, making a reply's next part only when the
 * last one is written. -errno when the client is to be dropped.
 */
static int
client_flush(struct ctl_client *c)
{
	struct ctl_msg *m;
	uint64_t id;
	int r;

	for (;;) {
		while (c->out.head < c->out.n) {
			m = &c->out.msg[c->out.head];
			r = frame_send(c->fd, m->buf, m->len);
			if (r == -EAGAIN)
				return 0;
			if (r < 0)
				return r;
			free(m->buf);
			m->buf = NULL;
			c->out.head++;
		}
		c->out.n = c->out.head = 0;
		if (!c->stream.active)
			break;
		id = c->stream.id;
		if (ctl_stream_next(&c->stream, &c->ctl->ctx, &c->out) < 0 &&
		    reply_error(c, id, ENOMEM, "out of memory") < 0)
			return -ENOMEM;
	}
	return c->close_after_flush ? -ECONNRESET : 0;
}

/*
 * Poll for what the client's state needs; restart its idle timeout. A
 * hang-up (EPOLLHUP) is reported whatever the mask: a client that closed
 * while it waited is noticed. A half-close is not a hang-up: it may still
 * read its reply.
 */
static void
client_update(struct ctl_client *c)
{
	uint32_t events = 0;

	if (c->out.head < c->out.n)
		events |= EPOLLOUT;
	else if (client_reading(c))
		events |= EPOLLIN;
	(void)sd_event_source_set_io_events(c->io, events);
	if (c->waiting || c->hold_waiting || c->watching) {
		/* The daemon's own work: not the client's slowness. */
		(void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time_relative(c->timer,
	    (uint64_t)CTL_CLIENT_TIMEOUT_MS * 1000);
	(void)sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

/* One request. -errno when the client is to be dropped. */
static int
client_read(struct ctl_client *c)
{
	uint8_t *buf;
	ssize_t n;

	n = frame_recv(c->fd, CTL_REQUEST_MAX, &buf);
	if (n == -EAGAIN)
		return 0;
	if (n == 0)
		return -ECONNRESET;
	if (n == -EMSGSIZE)
		reply_fatal(c, 0, EMSGSIZE, "request larger than %d bytes",
		    CTL_REQUEST_MAX);
	else if (n == -EPROTO)
		reply_fatal(c, 0, EPROTO, "empty request");
	else if (n < 0)
		return (int)n;
	else {
		handle_request(c, buf, (size_t)n);
		free(buf);
	}
	return client_flush(c);
}

static int
on_client_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct ctl_client *c = arg;

	(void)s;
	(void)fd;
	if ((revents & EPOLLOUT) && client_flush(c) < 0)
		goto drop;
	if ((revents & EPOLLIN) && client_reading(c)) {
		if (client_read(c) < 0)
			goto drop;
	} else if (revents & (EPOLLHUP | EPOLLERR)) {
		/* Gone: nobody would read what it waited for. */
		goto drop;
	}
	client_update(c);
	return 0;
drop:
	client_free(c);
	return 0;
}

static int
on_client_timeout(sd_event_source *s, uint64_t usec, void *arg)
{
	struct ctl_client *c = arg;

	(void)s;
	(void)usec;
	log_debug("control: client uid %u pid %d idle for %d ms, dropped",
	    (unsigned int)c->peer.uid, (int)c->peer.pid,
	    CTL_CLIENT_TIMEOUT_MS);
	client_free(c);
	return 0;
}

/*
 * SO_PEERGROUPS: the supplementary groups the peer had when it connected
 * (not those of its user's entry now).
 */
static bool
peer_in_group(int fd, gid_t gid)
{
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *groups = NULL, *grown;
	bool found = false;
	size_t i;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if (len > CTL_MAX_PEER_GROUPS * sizeof(gid_t) ||
		    (grown = realloc(groups, len > 0 ? len : 1)) == NULL)
			break;
		groups = grown;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups,
		    &len) == 0) {
			for (i = 0; i < len / sizeof(gid_t); i++)
				if (groups[i] == gid)
					found = true;
			break;
		}
		if (errno != ERANGE)	/* len now says what is needed */
			break;
	}
	free(groups);
	return found;
}

/* Say why to a client we will not serve, and hang up. */
static void
refuse_client(int fd, int code, const char *why)
{
	Poolmon__Response resp;
	uint8_t buf[256];
	size_t len;

	ctl_response_init(&resp, 0, false);
	SET(&resp, code, code);
	resp.message = (char *)why;
	len = poolmon__response__get_packed_size(&resp);
	if (len <= sizeof(buf)) {
		poolmon__response__pack(&resp, buf);
		(void)frame_send(fd, buf, len);
	}
	close(fd);
}

/* May a client of uid have a slot? If not, why in why (to log). */
static bool
slot_free(const struct control *ctl, uid_t uid, char *why, size_t whylen)
{
	const struct ctl_client *c;
	size_t not_root = 0, same_uid = 0;

	if (ctl->nclients >= CTL_MAX_CLIENTS) {
		snprintf(why, whylen, "more than %d clients", CTL_MAX_CLIENTS);
		return false;
	}
	if (uid == 0)
		return true;
	for (c = ctl->clients; c != NULL; c = c->next) {
		not_root += c->peer.uid != 0;
		same_uid += c->peer.uid == uid;
	}
	if (same_uid >= CTL_MAX_PER_UID) {
		snprintf(why, whylen, "more than %d clients of one uid",
		    CTL_MAX_PER_UID);
		return false;
	}
	if (not_root >= CTL_MAX_CLIENTS - CTL_ROOT_SLOTS) {
		snprintf(why, whylen, "the last %d slots are kept for root",
		    CTL_ROOT_SLOTS);
		return false;
	}
	return true;
}

static int
client_new(struct control *ctl, int fd)
{
	struct ctl_client *c;
	struct ucred peer;
	char why[64];
	socklen_t len = sizeof(peer);
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!slot_free(ctl, peer.uid, why, sizeof(why))) {
		warn_client(ctl, "%s, refusing one (uid %u pid %d)", why,
		    (unsigned int)peer.uid, (int)peer.pid);
		refuse_client(fd, EBUSY, "too many control clients");
		return -EBUSY;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->peer = peer;
	c->privileged = c->peer.uid == 0 || c->peer.gid == ctl->sock.gid ||
	    peer_in_group(fd, ctl->sock.gid);
	c->next = ctl->clients;
	ctl->clients = c;
	ctl->nclients++;
	r = sd_event_add_io(ctl->event, &c->io, fd, EPOLLIN, on_client_io,
	    c);
	if (r >= 0)
		r = sd_event_source_set_priority(c->io, CTL_PRIORITY);
	if (r >= 0)
		r = sd_event_add_time_relative(ctl->event, &c->timer,
		    CLOCK_MONOTONIC, (uint64_t)CTL_CLIENT_TIMEOUT_MS * 1000, 0,
		    on_client_timeout, c);
	if (r < 0) {
		client_free(c);
		return r;
	}
	return 0;
}

static int
on_accept_retry(sd_event_source *s, uint64_t usec, void *arg)
{
	struct control *ctl = arg;

	(void)s;
	(void)usec;
	(void)sd_event_source_set_enabled(ctl->listener, SD_EVENT_ON);
	return 0;
}

/* Out of descriptors or memory: accept again later, not in a busy loop. */
static void
pause_accepting(struct control *ctl)
{
	int r;

	log_warn("control socket: accept failed; pausing %d ms",
	    CTL_ACCEPT_RETRY_MS);
	(void)sd_event_source_set_enabled(ctl->listener, SD_EVENT_OFF);
	if (ctl->accept_retry == NULL)
		r = sd_event_add_time_relative(ctl->event,
		    &ctl->accept_retry, CLOCK_MONOTONIC,
		    (uint64_t)CTL_ACCEPT_RETRY_MS * 1000, 0, on_accept_retry,
		    ctl);
	else
		r = sd_event_source_set_time_relative(ctl->accept_retry,
		    (uint64_t)CTL_ACCEPT_RETRY_MS * 1000);
	if (r >= 0)
		r = sd_event_source_set_enabled(ctl->accept_retry,
		    SD_EVENT_ONESHOT);
	if (r < 0)	/* no timer: better a busy loop than deafness */
		(void)sd_event_source_set_enabled(ctl->listener, SD_EVENT_ON);
}

static int
on_accept(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct control *ctl = arg;
	int cfd, r;

	(void)s;
	(void)revents;
	for (;;) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				pause_accepting(ctl);
			return 0;
		}
		if ((r = client_new(ctl, cfd)) < 0 && r != -EBUSY) {
			errno = -r;
			log_warn("control: cannot serve a client");
		}
	}
}

/* ------------------------------------------------------------------ */
/* Recheck answers */

static void
answer_waiting(struct ctl_client *c, bool scanned)
{
	const struct control_ctx *ctx = &c->ctl->ctx;
	struct daemon_summary sum;

	if (!scanned) {
		summary_read(&ctx->summary, &sum);
		(void)reply_error(c, c->wait_id, EIO, "no check done: director "
		    "%s unreachable: %s", ctx->cfg->director_socket,
		    sum.director_error != NULL ? sum.director_error : "");
		free_hosts(c->wait_hosts, c->nwait_hosts);
	} else if (ctl_stream_recheck(&c->stream, ctx, c->wait_id,
	    c->wait_hosts, c->nwait_hosts) < 0)
		(void)reply_error(c, c->wait_id, ENOMEM, "out of memory");
	/* The stream took the hosts. */
	c->waiting = false;
	c->wait_hosts = NULL;
	c->nwait_hosts = 0;
}

void
control_scan_done(struct control *ctl, bool scanned)
{
	struct ctl_client *c, *next;
	struct daemon_summary sum;

	if (ctl == NULL)
		return;
	summary_read(&ctl->ctx.summary, &sum);
	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		if (!c->waiting)
			continue;
		/* Not yet the scan that covers the request. */
		if (scanned && (int32_t)(sum.scan_id - c->wait_scan) < 0)
			continue;
		answer_waiting(c, scanned);
		if (client_flush(c) < 0)
			client_free(c);
		else
			client_update(c);
	}
}

int
control_open(struct control **out, const char *path, const char *group,
    char *err, size_t errlen)
{
	struct control *ctl;

	*out = NULL;
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	ctl->client_warnings.interval_ms = CTL_WARN_WINDOW_MS;
	ctl->client_warnings.burst = CTL_WARN_BURST;
	*out = ctl;
	return ctl_socket_open(&ctl->sock, path, group, err, errlen);
}

int
control_start(struct control *ctl, sd_event *event,
    const struct control_ctx *ctx)
{
	int r;

	ctl->ctx = *ctx;
	ctl->event = event;
	r = sd_event_add_io(event, &ctl->listener, ctl->sock.fd, EPOLLIN,
	    on_accept, ctl);
	if (r < 0)
		return r;
	return sd_event_source_set_priority(ctl->listener, CTL_PRIORITY);
}

void
control_close(struct control *ctl)
{
	if (ctl == NULL)
		return;
	while (ctl->clients != NULL)
		client_free(ctl->clients);
	sd_event_source_disable_unref(ctl->listener);
	sd_event_source_disable_unref(ctl->accept_retry);
	ctl_socket_close(&ctl->sock);
	free(ctl);
}

void
control_event(struct control *ctl, const struct pool_event *ev)
{
	struct ctl_client *c, *next;
	Poolmon__WatchEvent we;

	if (ctl == NULL)
		return;
	poolmon__watch_event__init(&we);
	we.time = (int64_t)time(NULL);
	we.event = (char *)ev->event;
	we.host = (char *)ev->host;
	we.reason = (char *)ev->reason;
	we.result = (char *)ev->result;
	we.detail = (char *)ev->detail;
	SET(&we, dry_run, ev->dry_run);
	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		if (!c->watching ||
		    (strcmp(ev->event, "scan") == 0 && !c->watch_scans))
			continue;
		push_event(c, &we);
		if (client_flush(c) < 0)
			client_free(c);
		else
			client_update(c);
	}
}
