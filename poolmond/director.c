#include "director.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define DIRECTOR_HANDSHAKE "VERSION\tdirector-doveadm\t1\t0\n"
#define DIRECTOR_CMD_MAX	(INET6_ADDRSTRLEN + 32)

enum director_cmd_kind {
	CMD_HOST_LIST,
	CMD_DIRECTOR_LIST,
	CMD_HOST,		/* HOST-DOWN/UP/FLUSH: one reply line */
};

enum conn_state {
	CONN_CLOSED,
	CONN_CONNECTING,	/* connect() in progress */
	CONN_HELLO,		/* waiting for the director's VERSION line */
	CONN_READY,
};

struct host_list_ctx;

struct director_cmd {
	struct director_cmd *next;
	enum director_cmd_kind kind;
	char line[DIRECTOR_CMD_MAX];	/* as sent, with its newline */
	int64_t deadline;		/* monotonic ms */
	director_done_fn *done;		/* NULL: forgotten */
	void *arg;
	struct host_list_ctx *hl;	/* HOST-LIST being read */
	bool found_self;		/* DIRECTOR-LIST */
	bool synced;
	char ring_state[64];
	char (*members)[INET6_ADDRSTRLEN];	/* DIRECTOR-LIST's */
	size_t nmembers;
};

struct director_client {
	sd_event *event;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int timeout_ms;
	int fd;
	enum conn_state state;
	sd_event_source *io;
	sd_event_source *timer;
	sd_event_source *kicker;	/* runs kick() from the loop */
	struct director_cmd *head, **tail;
	size_t ncmds;
	bool sent;		/* the head's line is written or being written */
	bool dispatching;	/* in a callback: the caller kicks afterwards */
	size_t outlen, outoff;
	char out[sizeof(DIRECTOR_HANDSHAKE) + DIRECTOR_CMD_MAX];
	size_t inlen;
	char in[DIRECTOR_LINE_MAX];
	char err[256];		/* why the head failed */
};

static int __attribute__((format(printf, 3, 4)))
fail(struct director_client *dcl, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dcl->err, sizeof(dcl->err), fmt, ap);
	va_end(ap);
	return err;
}

int
director_parse_host_line(char *line, struct router_host *host,
    const char **why)
{
	char *f[8];
	size_t n = str_split_tabs(line, f, ARRAY_SIZE(f));
	struct in6_addr a6;
	int family;
	long v;

	memset(host, 0, sizeof(*host));
	host->has_vhosts = true;
	host->state = ROUTER_STATE_NONE;
	if (n < 5) {
		*why = "too few fields";
		return -EINVAL;
	}
	if (ip_parse(f[0], &family, &a6) < 0) {
		*why = "not an IP address";
		return -EINVAL;
	}
	str_copy(host->ip, f[0], sizeof(host->ip));
	if (parse_long(f[1], 0, INT32_MAX, &v) < 0) {
		*why = "bad vhost count";
		return -EINVAL;
	}
	host->vhost_count = (unsigned int)v;
	if (parse_long(f[2], 0, INT32_MAX, &v) < 0) {
		*why = "bad user count";
		return -EINVAL;
	}
	host->user_count = (unsigned int)v;
	if (str_tabunescape(f[3]) < 0) {
		*why = "bad escape in tag";
		return -EINVAL;
	}
	if (strlen(f[3]) >= DIRECTOR_TAG_MAX) {
		*why = "tag too long";
		return -EINVAL;
	}
	host->tag = f[3];
	if (strcmp(f[4], "U") == 0)
		host->up = true;
	else if (strcmp(f[4], "D") == 0)
		host->up = false;
	else {
		*why = "state is neither U nor D";
		return -EINVAL;
	}
	if (n > 5) {
		if (parse_long(f[5], 0, LONG_MAX, &v) < 0) {
			*why = "bad last change time";
			return -EINVAL;
		}
		host->last_updown_change = (time_t)v;
	}
	return 0;
}

enum director_reply
director_classify_reply(const char *line)
{
	if (strcmp(line, "OK") == 0)
		return DIRECTOR_REPLY_OK;
	if (strcmp(line, "NOTFOUND") == 0)
		return DIRECTOR_REPLY_NOTFOUND;
	if (strncmp(line, "host is already being updated", 29) == 0)
		return DIRECTOR_REPLY_BUSY;
	if (strcmp(line, "Ring sync timed out") == 0)
		return DIRECTOR_REPLY_RING_TIMEOUT;
	return DIRECTOR_REPLY_OTHER;
}

const char *
director_reply_str(enum director_reply reply)
{
	switch (reply) {
	case DIRECTOR_REPLY_OK: return "OK";
	case DIRECTOR_REPLY_NOTFOUND: return "host not found";
	case DIRECTOR_REPLY_BUSY: return "host is already being updated";
	case DIRECTOR_REPLY_RING_TIMEOUT: return "ring sync timed out";
	case DIRECTOR_REPLY_OTHER: break;
	}
	return "unexpected reply";
}

bool
director_parse_self_line(char *line, bool *synced, const char **ring_state)
{
	char *f[8];
	size_t n = str_split_tabs(line, f, ARRAY_SIZE(f));

	/* ip, port, "self", last_failed, ring state[, last sync msecs] */
	if (n < 5 || strcmp(f[2], "self") != 0)
		return false;
	*ring_state = f[4];
	*synced = strcmp(f[4], "ring synced") == 0;
	return true;
}

/* Distinct tags looked up before a tag is stored again: few in a pool. */
#define TAGS_DEDUP_MAX	64

struct host_list_ctx {
	struct director_client *dcl;
	struct router_host_list list;
	size_t alloc;
	/* Each host's tag as an offset into tags (which moves as it grows);
	 * offset 0 is the empty tag, tags[0] being NUL. */
	uint32_t *tag_at;
	size_t tags_len, tags_alloc;
	uint32_t distinct[TAGS_DEDUP_MAX];
	size_t ndistinct;
};

static int
grow_hosts(struct host_list_ctx *ctx)
{
	size_t alloc = ctx->alloc ? ctx->alloc * 2 : 64;
	struct router_host *h;
	uint32_t *at;

	if (ctx->list.n >= ROUTER_MAX_HOSTS)
		return fail(ctx->dcl, -EPROTO, "more than %d hosts",
		    ROUTER_MAX_HOSTS);
	if ((h = reallocarray(ctx->list.hosts, alloc, sizeof(*h))) == NULL)
		return fail(ctx->dcl, -ENOMEM, "out of memory");
	ctx->list.hosts = h;
	if ((at = reallocarray(ctx->tag_at, alloc, sizeof(*at))) == NULL)
		return fail(ctx->dcl, -ENOMEM, "out of memory");
	ctx->tag_at = at;
	ctx->alloc = alloc;
	return 0;
}

/* Where tag is in the list's tags, stored there if it is not yet. */
static int
intern_tag(struct host_list_ctx *ctx, const char *tag, uint32_t *at)
{
	size_t i, len = strlen(tag);
	char *tags;

	*at = 0;
	if (len == 0)
		return 0;
	for (i = 0; i < ctx->ndistinct; i++)
		if (strcmp(ctx->list.tags + ctx->distinct[i], tag) == 0) {
			*at = ctx->distinct[i];
			return 0;
		}
	if (ctx->tags_len == 0)
		ctx->tags_len = 1;		/* the empty tag */
	if (ctx->tags_len + len + 1 > ctx->tags_alloc) {
		size_t alloc = ctx->tags_alloc ? ctx->tags_alloc * 2 : 256;

		while (ctx->tags_len + len + 1 > alloc)
			alloc *= 2;
		if ((tags = realloc(ctx->list.tags, alloc)) == NULL)
			return fail(ctx->dcl, -ENOMEM, "out of memory");
		tags[0] = '\0';
		ctx->list.tags = tags;
		ctx->tags_alloc = alloc;
	}
	*at = (uint32_t)ctx->tags_len;
	memcpy(ctx->list.tags + ctx->tags_len, tag, len + 1);
	ctx->tags_len += len + 1;
	if (ctx->ndistinct < TAGS_DEDUP_MAX)
		ctx->distinct[ctx->ndistinct++] = *at;
	return 0;
}


static void
host_list_ctx_free(struct host_list_ctx *ctx)
{
	if (ctx == NULL)
		return;
	router_host_list_free(&ctx->list);
	free(ctx->tag_at);
	free(ctx);
}

static int
host_list_line(struct host_list_ctx *ctx, char *line)
{
	struct router_host *host;
	const char *why;
	char shown[80];
	int r;

	if (ctx->list.n == ctx->alloc && (r = grow_hosts(ctx)) < 0)
		return r;
	host = &ctx->list.hosts[ctx->list.n];
	str_sanitize_r(line, strlen(line), shown, sizeof(shown));
	if (director_parse_host_line(line, host, &why) < 0)
		return fail(ctx->dcl, -EPROTO, "bad HOST-LIST line '%s': %s",
		    shown, why);
	if ((r = intern_tag(ctx, host->tag, &ctx->tag_at[ctx->list.n])) < 0)
		return r;
	ctx->list.n++;
	return 0;
}

/* The tags have stopped moving: offsets become pointers. */
static void
host_list_finish(struct host_list_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->list.n; i++)
		ctx->list.hosts[i].tag = ctx->list.tags != NULL ?
		    ctx->list.tags + ctx->tag_at[i] : "";
}

/* ------------------------------------------------------------------ */
/* The connection */

static void kick(struct director_client *dcl);
static void send_head(struct director_client *dcl);

static void
conn_close(struct director_client *dcl)
{
	dcl->io = sd_event_source_disable_unref(dcl->io);
	if (dcl->fd >= 0)
		close(dcl->fd);
	dcl->fd = -1;
	dcl->state = CONN_CLOSED;
	dcl->sent = false;
	dcl->inlen = 0;
	dcl->outlen = dcl->outoff = 0;
}

static void
cmd_free(struct director_cmd *c)
{
	host_list_ctx_free(c->hl);
	free(c->members);
	free(c);
}

/* Hand the head its result; the callback may queue more commands. */
static void
finish_head(struct director_client *dcl, struct director_result *res)
{
	struct director_cmd *c = dcl->head;
	bool was = dcl->dispatching;

	dcl->head = c->next;
	if (dcl->head == NULL)
		dcl->tail = &dcl->head;
	dcl->ncmds--;
	dcl->sent = false;
	dcl->dispatching = true;
	if (c->done != NULL)
		c->done(res, c->arg);
	dcl->dispatching = was;
	cmd_free(c);
}

/* The head failed with dcl->err. */
static void
fail_head(struct director_client *dcl, int error, bool unreachable)
{
	char err[sizeof(dcl->err)];
	struct director_result res = { .error = error,
	    .unreachable = unreachable, .err = err };

	str_copy(err, dcl->err, sizeof(err));
	finish_head(dcl, &res);
}

/* The connection is unusable: the head, if it was waiting on it, fails. */
static void
conn_fail(struct director_client *dcl, int error)
{
	bool unreachable = dcl->state != CONN_READY;

	if (dcl->head != NULL && (dcl->sent || unreachable))
		fail_head(dcl, error, unreachable);
	conn_close(dcl);
}

static void
update_io(struct director_client *dcl)
{
	uint32_t events = EPOLLIN;

	if (dcl->io == NULL)
		return;
	if (dcl->state == CONN_CONNECTING || dcl->outoff < dcl->outlen)
		events |= EPOLLOUT;
	(void)sd_event_source_set_io_events(dcl->io, events);
}

static void
arm_timer(struct director_client *dcl)
{
	if (dcl->head == NULL) {
		(void)sd_event_source_set_enabled(dcl->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(dcl->timer,
	    (uint64_t)dcl->head->deadline * 1000);
	(void)sd_event_source_set_enabled(dcl->timer, SD_EVENT_ONESHOT);
}

static int
queue_out(struct director_client *dcl, const char *data, size_t len)
{
	if (dcl->outoff > 0) {
		memmove(dcl->out, dcl->out + dcl->outoff,
		    dcl->outlen - dcl->outoff);
		dcl->outlen -= dcl->outoff;
		dcl->outoff = 0;
	}
	if (len > sizeof(dcl->out) - dcl->outlen)
		return fail(dcl, -ENOBUFS, "command too long");
	memcpy(dcl->out + dcl->outlen, data, len);
	dcl->outlen += len;
	return 0;
}

static int
flush_out(struct director_client *dcl)
{
	ssize_t w;

	while (dcl->outoff < dcl->outlen) {
		w = send(dcl->fd, dcl->out + dcl->outoff,
		    dcl->outlen - dcl->outoff, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return fail(dcl, -errno, "write: %s", strerror(errno));
		}
		dcl->outoff += (size_t)w;
	}
	dcl->outoff = dcl->outlen = 0;
	return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *arg);

static int
conn_setup(struct director_client *dcl, int fd, bool connecting)
{
	int r;

	r = sd_event_add_io(dcl->event, &dcl->io, fd, EPOLLIN | EPOLLOUT,
	    on_io, dcl);
	if (r < 0) {
		close(fd);
		return fail(dcl, r, "sd_event_add_io: %s", strerror(-r));
	}
	dcl->fd = fd;
	dcl->state = connecting ? CONN_CONNECTING : CONN_HELLO;
	if (!connecting)
		return queue_out(dcl, DIRECTOR_HANDSHAKE,
		    strlen(DIRECTOR_HANDSHAKE));
	return 0;
}

static int
conn_open(struct director_client *dcl)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	if (str_copy(sun.sun_path, dcl->path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path) || dcl->path[0] == '\0')
		return fail(dcl, -ENAMETOOLONG, "bad socket path '%s'",
		    dcl->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(dcl, -errno, "socket: %s", strerror(errno));
	if ((r = connect(fd, (struct sockaddr *)&sun, sizeof(sun))) < 0 &&
	    errno != EINPROGRESS) {
		r = fail(dcl, -errno, "connect %s: %s", dcl->path,
		    strerror(errno));
		close(fd);
		return r;
	}
	return conn_setup(dcl, fd, r < 0);
}

static int
check_handshake(struct director_client *dcl, char *line)
{
	char *f[5];
	char shown[64];
	long v;

	str_sanitize_r(line, strlen(line), shown, sizeof(shown));
	if (str_split_tabs(line, f, ARRAY_SIZE(f)) != 4 ||
	    strcmp(f[0], "VERSION") != 0 ||
	    strcmp(f[1], "director-doveadm") != 0 ||
	    strcmp(f[2], "1") != 0 || parse_long(f[3], 0, INT32_MAX, &v) < 0)
		return fail(dcl, -EPROTO, "bad handshake '%s'", shown);
	return 0;
}

static void
finish_host_reply(struct director_client *dcl, const char *line)
{
	struct director_result res = { .err = "" };
	char shown[160];

	res.reply = director_classify_reply(line);
	str_sanitize_r(line, strlen(line), shown, sizeof(shown));
	res.line = shown;
	finish_head(dcl, &res);
}

static void
finish_list(struct director_client *dcl)
{
	struct director_cmd *c = dcl->head;
	struct director_result res = { .err = "" };
	struct router_host_list list;

	if (c->kind == CMD_HOST_LIST) {
		host_list_finish(c->hl);
		list = c->hl->list;
		memset(&c->hl->list, 0, sizeof(c->hl->list));
		res.list = &list;
		finish_head(dcl, &res);
		router_host_list_free(&list);
		return;
	}
	if (!c->found_self) {
		fail(dcl, -EPROTO, "DIRECTOR-LIST has no line for this "
		    "director");
		fail_head(dcl, -EPROTO, false);
		return;
	}
	res.synced = c->synced;
	res.ring_state = c->ring_state;
	for (res.nmembers = 0; res.nmembers < c->nmembers; res.nmembers++)
		res.members[res.nmembers] = c->members[res.nmembers];
	finish_head(dcl, &res);
}

/* A DIRECTOR-LIST line's member: "ip \t port \t type ...". */
static void
ring_member(struct director_cmd *c, const char *line)
{
	char copy[256], *f[4];
	size_t n;

	if (c->nmembers == DIRECTOR_RING_MAX)
		return;
	if (c->members == NULL && (c->members = calloc(DIRECTOR_RING_MAX,
	    sizeof(*c->members))) == NULL)
		return;
	str_copy(copy, line, sizeof(copy));
	n = str_split_tabs(copy, f, ARRAY_SIZE(f));
	if (n < 2 || (n >= 3 && strcmp(f[2], "removed") == 0))
		return;
	if (ip_canonical(f[0], c->members[c->nmembers],
	    sizeof(c->members[0])) == 0)
		c->nmembers++;
}

static int
list_line(struct director_client *dcl, char *line)
{
	struct director_cmd *c = dcl->head;
	const char *rs;
	bool synced;

	if (c->kind == CMD_HOST_LIST)
		return host_list_line(c->hl, line);
	ring_member(c, line);
	if (!c->found_self && director_parse_self_line(line, &synced, &rs)) {
		c->found_self = true;
		c->synced = synced;
		str_sanitize_r(rs, strlen(rs), c->ring_state,
		    sizeof(c->ring_state));
	}
	return 0;
}

/* One line from the director. -1 when the connection was closed. */
static int
handle_line(struct director_client *dcl, char *line)
{
	char shown[64];
	int r;

	if (dcl->state == CONN_HELLO) {
		if ((r = check_handshake(dcl, line)) < 0) {
			conn_fail(dcl, r);
			return -1;
		}
		dcl->state = CONN_READY;
		/* At once: a close right after the handshake is the
		 * command's failure, not a reason to connect again. */
		if (dcl->head != NULL && !dcl->sent)
			send_head(dcl);
		return dcl->fd >= 0 ? 0 : -1;
	}
	if (dcl->head == NULL || !dcl->sent) {
		/* Nothing asked: a late or extra line, never a reply. */
		str_sanitize_r(line, strlen(line), shown, sizeof(shown));
		log_warnx("director %s: unexpected line '%s'; closing the "
		    "connection", dcl->path, shown);
		conn_close(dcl);
		return -1;
	}
	if (dcl->head->kind == CMD_HOST) {
		finish_host_reply(dcl, line);
		/* Not understood: more may follow, which the next command
		 * would take for its reply. A fresh connection for it. */
		if (director_classify_reply(line) == DIRECTOR_REPLY_OTHER) {
			conn_close(dcl);
			return -1;
		}
		return 0;
	}
	if (line[0] == '\0') {
		finish_list(dcl);
		return 0;
	}
	if ((r = list_line(dcl, line)) < 0) {
		conn_fail(dcl, r);
		return -1;
	}
	return 0;
}

/* Every whole line buffered. -1 when the connection was closed. */
static int
process_lines(struct director_client *dcl)
{
	char line[DIRECTOR_LINE_MAX];
	char *nl;
	size_t n;

	while (dcl->fd >= 0 &&
	    (nl = memchr(dcl->in, '\n', dcl->inlen)) != NULL) {
		n = (size_t)(nl - dcl->in);
		if (memchr(dcl->in, '\0', n) != NULL) {
			conn_fail(dcl, fail(dcl, -EPROTO,
			    "NUL byte in reply"));
			return -1;
		}
		memcpy(line, dcl->in, n);
		line[n] = '\0';
		dcl->inlen -= n + 1;
		memmove(dcl->in, nl + 1, dcl->inlen);
		if (handle_line(dcl, line) < 0)
			return -1;
	}
	return dcl->fd >= 0 ? 0 : -1;
}

static void
read_input(struct director_client *dcl)
{
	ssize_t n;

	while (dcl->fd >= 0) {
		if (dcl->inlen == sizeof(dcl->in)) {
			conn_fail(dcl, fail(dcl, -EPROTO,
			    "reply line too long"));
			return;
		}
		n = read(dcl->fd, dcl->in + dcl->inlen,
		    sizeof(dcl->in) - dcl->inlen);
		if (n == 0) {
			conn_fail(dcl, fail(dcl, -ECONNRESET,
			    "director closed the connection"));
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail(dcl, fail(dcl, -errno, "read: %s",
				    strerror(errno)));
			return;
		}
		dcl->inlen += (size_t)n;
		if (process_lines(dcl) < 0)
			return;
	}
}

static void
finish_connect(struct director_client *dcl)
{
	socklen_t len = sizeof(int);
	int e = 0;

	if (getsockopt(dcl->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e != 0) {
		conn_fail(dcl, fail(dcl, -e, "connect %s: %s", dcl->path,
		    strerror(e)));
		return;
	}
	dcl->state = CONN_HELLO;
	if (queue_out(dcl, DIRECTOR_HANDSHAKE, strlen(DIRECTOR_HANDSHAKE)) < 0)
		conn_fail(dcl, -ENOBUFS);
}

static int
on_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct director_client *dcl = arg;
	int r;

	(void)s;
	(void)fd;
	if (dcl->state == CONN_CONNECTING)
		finish_connect(dcl);
	if (dcl->fd >= 0 && dcl->outoff < dcl->outlen &&
	    (r = flush_out(dcl)) < 0)
		conn_fail(dcl, r);
	if (dcl->fd >= 0 && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_input(dcl);
	kick(dcl);
	return 0;
}

static int
on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct director_client *dcl = arg;

	(void)s;
	(void)usec;
	if (dcl->head != NULL && dcl->head->deadline != 0 &&
	    now_ms() >= dcl->head->deadline) {
		/* A reply may still come: it must never answer the next
		 * command, so the connection goes with the command. */
		conn_fail(dcl, fail(dcl, -ETIMEDOUT, "no answer within %d ms",
		    dcl->timeout_ms));
		/* Waiting for its connection, it was not sent yet. */
		if (dcl->head != NULL && dcl->head->deadline != 0 &&
		    now_ms() >= dcl->head->deadline)
			fail_head(dcl, -ETIMEDOUT, true);
	}
	kick(dcl);
	return 0;
}

static int
on_kick(sd_event_source *s, void *arg)
{
	(void)s;
	kick(arg);
	return 0;
}

static void
send_head(struct director_client *dcl)
{
	const char *line = dcl->head->line;
	int r;

	if ((r = queue_out(dcl, line, strlen(line))) < 0 ||
	    (r = flush_out(dcl)) < 0) {
		dcl->sent = true;
		conn_fail(dcl, r);
		return;
	}
	dcl->sent = true;
}

/*
 * Move the queue on: fail what is past its deadline, connect for the
 * head, send it; close the connection when nothing is left to ask.
 */
static void
kick(struct director_client *dcl)
{
	int r;

	if (dcl->dispatching)
		return;
	while (dcl->head != NULL && !dcl->sent) {
		if (dcl->head->deadline == 0)
			dcl->head->deadline = now_ms() + dcl->timeout_ms;
		if (now_ms() >= dcl->head->deadline) {
			fail(dcl, -ETIMEDOUT, "no answer within %d ms",
			    dcl->timeout_ms);
			fail_head(dcl, -ETIMEDOUT, dcl->state != CONN_READY);
			continue;
		}
		if (dcl->state == CONN_CLOSED && (r = conn_open(dcl)) < 0) {
			fail_head(dcl, r, true);
			continue;
		}
		if (dcl->state != CONN_READY)
			break;
		send_head(dcl);
	}
	if (dcl->head == NULL)
		conn_close(dcl);
	update_io(dcl);
	arm_timer(dcl);
}

/* ------------------------------------------------------------------ */
/* The client's interface */

int
director_client_new(struct director_client **out, sd_event *event,
    const char *path, int timeout_ms)
{
	struct director_client *dcl;
	int r;

	*out = NULL;
	if ((dcl = calloc(1, sizeof(*dcl))) == NULL)
		return -ENOMEM;
	dcl->event = event;
	dcl->fd = -1;
	dcl->timeout_ms = timeout_ms;
	dcl->tail = &dcl->head;
	str_copy(dcl->path, path != NULL ? path : "", sizeof(dcl->path));
	r = sd_event_add_time(event, &dcl->timer, CLOCK_MONOTONIC, 0, 1000,
	    on_timer, dcl);
	if (r >= 0)
		r = sd_event_source_set_enabled(dcl->timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(event, &dcl->kicker, on_kick, dcl);
	if (r >= 0)
		r = sd_event_source_set_enabled(dcl->kicker, SD_EVENT_OFF);
	if (r < 0) {
		director_client_free(dcl);
		return r;
	}
	*out = dcl;
	return 0;
}

void
director_client_free(struct director_client *dcl)
{
	struct director_cmd *c;

	if (dcl == NULL)
		return;
	while ((c = dcl->head) != NULL) {
		dcl->head = c->next;
		cmd_free(c);
	}
	conn_close(dcl);
	sd_event_source_disable_unref(dcl->timer);
	sd_event_source_disable_unref(dcl->kicker);
	free(dcl);
}

int
director_client_attach(struct director_client *dcl, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	conn_close(dcl);
	return conn_setup(dcl, fd, false);
}

int
director_client_timeout_ms(const struct director_client *dcl)
{
	return dcl->timeout_ms;
}

size_t
director_client_pending(const struct director_client *dcl)
{
	return dcl->ncmds;
}

/* Queued; sent from the loop, so a callback never runs inside a call. */
static int
submit(struct director_client *dcl, enum director_cmd_kind kind,
    const char *line, int64_t deadline, director_done_fn *done, void *arg)
{
	struct director_cmd *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	if (kind == CMD_HOST_LIST) {
		if ((c->hl = calloc(1, sizeof(*c->hl))) == NULL) {
			free(c);
			return -ENOMEM;
		}
		c->hl->dcl = dcl;
	}
	c->kind = kind;
	str_copy(c->line, line, sizeof(c->line));
	c->deadline = deadline;		/* 0: set when its turn comes */
	c->done = done;
	c->arg = arg;
	*dcl->tail = c;
	dcl->tail = &c->next;
	dcl->ncmds++;
	return sd_event_source_set_enabled(dcl->kicker, SD_EVENT_ONESHOT) < 0 ?
	    -EIO : 0;
}

int
director_host_list_async(struct director_client *dcl, int64_t deadline,
    director_done_fn *done, void *arg)
{
	return submit(dcl, CMD_HOST_LIST, "HOST-LIST\n", deadline, done, arg);
}

int
director_ring_state_async(struct director_client *dcl, int64_t deadline,
    director_done_fn *done, void *arg)
{
	return submit(dcl, CMD_DIRECTOR_LIST, "DIRECTOR-LIST\n", deadline,
	    done, arg);
}

int
director_host_cmd_async(struct director_client *dcl, const char *cmd,
    const char *ip, int64_t deadline, director_done_fn *done, void *arg)
{
	char line[DIRECTOR_CMD_MAX];
	int n;

	/* An empty argument would turn HOST-FLUSH into "flush every host". */
	if (ip == NULL || ip[0] == '\0' || strpbrk(ip, "\t\r\n") != NULL)
		return -EINVAL;
	n = snprintf(line, sizeof(line), "%s\t%s\n", cmd, ip);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -EINVAL;
	return submit(dcl, CMD_HOST, line, deadline, done, arg);
}

void
director_client_forget(struct director_client *dcl, const void *arg)
{
	struct director_cmd *c;

	for (c = dcl->head; c != NULL; c = c->next)
		if (c->arg == arg)
			c->done = NULL;
}
