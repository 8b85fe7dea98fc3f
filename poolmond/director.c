#include "director.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

#define DIRECTOR_HANDSHAKE "VERSION\tdirector-doveadm\t1\t0\n"

static int __attribute__((format(printf, 3, 4)))
fail(struct director_conn *dc, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dc->err, sizeof(dc->err), fmt, ap);
	va_end(ap);
	return err;
}

int
director_parse_host_line(char *line, struct director_host *host,
    const char **why)
{
	char *f[8];
	size_t n = str_split_tabs(line, f, ARRAY_SIZE(f));
	struct in6_addr a6;
	struct in_addr a4;
	long v;

	memset(host, 0, sizeof(*host));
	if (n < 5) {
		*why = "too few fields";
		return -EINVAL;
	}
	if (inet_pton(AF_INET, f[0], &a4) != 1 &&
	    inet_pton(AF_INET6, f[0], &a6) != 1) {
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

void
director_conn_init(struct director_conn *dc, int timeout_ms)
{
	memset(dc, 0, sizeof(*dc));
	dc->fd = -1;
	dc->timeout_ms = timeout_ms;
}

void
director_close(struct director_conn *dc)
{
	if (dc->fd >= 0)
		close(dc->fd);
	dc->fd = -1;
	dc->len = 0;
}

static int
wait_fd(struct director_conn *dc, short events)
{
	struct pollfd pfd = { .fd = dc->fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = dc->deadline - now_ms();
		if (left <= 0)
			return fail(dc, -ETIMEDOUT, "no answer within %d ms",
			    dc->timeout_ms);
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return fail(dc, -errno, "poll: %s", strerror(errno));
	}
}

static int
write_all(struct director_conn *dc, const char *data, size_t len)
{
	ssize_t w;
	int r;

	while (len > 0) {
		if ((r = wait_fd(dc, POLLOUT)) < 0)
			return r;
		w = send(dc->fd, data, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return fail(dc, -errno, "write: %s", strerror(errno));
		}
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Read one line into line (without the newline). The line stays valid
 * until the next read. Lines longer than the buffer are garbage.
 */
static int
read_line(struct director_conn *dc, char *line, size_t linelen)
{
	char *nl;
	ssize_t r;
	int err;

	for (;;) {
		nl = memchr(dc->buf, '\n', dc->len);
		if (nl != NULL) {
			size_t n = (size_t)(nl - dc->buf);

			if (n >= linelen)
				return fail(dc, -EPROTO, "reply line too long");
			memcpy(line, dc->buf, n);
			line[n] = '\0';
			if (memchr(line, '\0', n) != NULL)
				return fail(dc, -EPROTO, "NUL byte in reply");
			dc->len -= n + 1;
			memmove(dc->buf, nl + 1, dc->len);
			return 0;
		}
		if (dc->len == sizeof(dc->buf))
			return fail(dc, -EPROTO, "reply line too long");
		if ((err = wait_fd(dc, POLLIN)) < 0)
			return err;
		r = read(dc->fd, dc->buf + dc->len, sizeof(dc->buf) - dc->len);
		if (r == 0)
			return fail(dc, -ECONNRESET,
			    "director closed the connection");
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return fail(dc, -errno, "read: %s", strerror(errno));
		}
		dc->len += (size_t)r;
	}
}

static void
start_deadline(struct director_conn *dc)
{
	dc->deadline = now_ms() + dc->timeout_ms;
}

static int
check_handshake(struct director_conn *dc, char *line)
{
	char *f[5];
	char shown[64];
	long v;

	str_sanitize_r(line, strlen(line), shown, sizeof(shown));
	if (str_split_tabs(line, f, ARRAY_SIZE(f)) != 4 ||
	    strcmp(f[0], "VERSION") != 0 ||
	    strcmp(f[1], "director-doveadm") != 0 ||
	    strcmp(f[2], "1") != 0 || parse_long(f[3], 0, INT32_MAX, &v) < 0)
		return fail(dc, -EPROTO, "bad handshake '%s'", shown);
	return 0;
}

int
director_connect(struct director_conn *dc, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int r;

	director_close(dc);
	if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		return fail(dc, -ENAMETOOLONG, "socket path too long");
	dc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (dc->fd < 0)
		return fail(dc, -errno, "socket: %s", strerror(errno));
	start_deadline(dc);
	if (connect(dc->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
	    errno != EINPROGRESS) {
		r = fail(dc, -errno, "connect %s: %s", path, strerror(errno));
		director_close(dc);
		return r;
	}
	if ((r = director_handshake(dc)) < 0) {
		director_close(dc);
		return r;
	}
	return 0;
}

void
director_conn_attach(struct director_conn *dc, int fd)
{
	director_close(dc);
	dc->fd = fd;
}

int
director_handshake(struct director_conn *dc)
{
	char line[DIRECTOR_LINE_MAX];
	int r;

	start_deadline(dc);
	if ((r = write_all(dc, DIRECTOR_HANDSHAKE,
	    strlen(DIRECTOR_HANDSHAKE))) < 0 ||
	    (r = read_line(dc, line, sizeof(line))) < 0)
		return r;
	return check_handshake(dc, line);
}

static int
send_line(struct director_conn *dc, const char *cmd, const char *arg)
{
	char line[DIRECTOR_LINE_MAX];
	int n;

	if (dc->fd < 0)
		return fail(dc, -ENOTCONN, "not connected");
	if (arg != NULL)
		n = snprintf(line, sizeof(line), "%s\t%s\n", cmd, arg);
	else
		n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n < 0 || (size_t)n >= sizeof(line))
		return fail(dc, -EINVAL, "command too long");
	start_deadline(dc);
	return write_all(dc, line, (size_t)n);
}

int
director_list_cmd(struct director_conn *dc, const char *cmd,
    int (*line_cb)(char *line, void *ctx), void *ctx)
{
	char line[DIRECTOR_LINE_MAX];
	int r;

	if ((r = send_line(dc, cmd, NULL)) < 0)
		return r;
	for (;;) {
		if ((r = read_line(dc, line, sizeof(line))) < 0)
			return r;
		if (line[0] == '\0')
			return 0;
		if ((r = line_cb(line, ctx)) < 0)
			return r;
	}
}

/* Distinct tags looked up before a tag is stored again: few in a pool. */
#define TAGS_DEDUP_MAX	64

struct host_list_ctx {
	struct director_conn *dc;
	struct director_host_list list;
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
	struct director_host *h;
	uint32_t *at;

	if (ctx->list.n >= DIRECTOR_MAX_HOSTS)
		return fail(ctx->dc, -EPROTO, "more than %d hosts",
		    DIRECTOR_MAX_HOSTS);
	if ((h = reallocarray(ctx->list.hosts, alloc, sizeof(*h))) == NULL)
		return fail(ctx->dc, -ENOMEM, "out of memory");
	ctx->list.hosts = h;
	if ((at = reallocarray(ctx->tag_at, alloc, sizeof(*at))) == NULL)
		return fail(ctx->dc, -ENOMEM, "out of memory");
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
			return fail(ctx->dc, -ENOMEM, "out of memory");
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

static int
host_list_line(char *line, void *arg)
{
	struct host_list_ctx *ctx = arg;
	struct director_host *host;
	const char *why;
	char shown[80];
	int r;

	if (ctx->list.n == ctx->alloc && (r = grow_hosts(ctx)) < 0)
		return r;
	host = &ctx->list.hosts[ctx->list.n];
	str_sanitize_r(line, strlen(line), shown, sizeof(shown));
	if (director_parse_host_line(line, host, &why) < 0)
		return fail(ctx->dc, -EPROTO, "bad HOST-LIST line '%s': %s",
		    shown, why);
	if ((r = intern_tag(ctx, host->tag, &ctx->tag_at[ctx->list.n])) < 0)
		return r;
	ctx->list.n++;
	return 0;
}

int
director_host_list(struct director_conn *dc, struct director_host_list *list)
{
	struct host_list_ctx ctx = { .dc = dc };
	size_t i;
	int r;

	memset(list, 0, sizeof(*list));
	r = director_list_cmd(dc, "HOST-LIST", host_list_line, &ctx);
	if (r < 0) {
		director_host_list_free(&ctx.list);
		free(ctx.tag_at);
		return r;
	}
	/* The tags have stopped moving: offsets become pointers. */
	for (i = 0; i < ctx.list.n; i++)
		ctx.list.hosts[i].tag = ctx.list.tags != NULL ?
		    ctx.list.tags + ctx.tag_at[i] : "";
	free(ctx.tag_at);
	*list = ctx.list;
	return 0;
}

void
director_host_list_free(struct director_host_list *list)
{
	free(list->hosts);
	free(list->tags);
	memset(list, 0, sizeof(*list));
}

int
director_host_cmd(struct director_conn *dc, const char *cmd, const char *ip,
    enum director_reply *result, char *reply, size_t replylen)
{
	char line[DIRECTOR_LINE_MAX];
	int r;

	/* An empty argument would turn HOST-FLUSH into "flush every host". */
	if (ip == NULL || ip[0] == '\0' || strpbrk(ip, "\t\r\n") != NULL)
		return fail(dc, -EINVAL, "refusing %s without a host", cmd);
	if ((r = send_line(dc, cmd, ip)) < 0 ||
	    (r = read_line(dc, line, sizeof(line))) < 0)
		return r;
	*result = director_classify_reply(line);
	str_sanitize_r(line, strlen(line), reply, replylen);
	return 0;
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

struct ring_ctx {
	bool found;
	bool synced;
	char *state;
	size_t statelen;
};

static int
ring_line(char *line, void *arg)
{
	struct ring_ctx *ctx = arg;
	const char *rs;
	bool synced;

	if (!ctx->found && director_parse_self_line(line, &synced, &rs)) {
		ctx->found = true;
		ctx->synced = synced;
		str_sanitize_r(rs, strlen(rs), ctx->state, ctx->statelen);
	}
	return 0;
}

int
director_ring_synced(struct director_conn *dc, bool *synced, char *state,
    size_t statelen)
{
	struct ring_ctx ctx = { .state = state, .statelen = statelen };
	int r;

	if ((r = director_list_cmd(dc, "DIRECTOR-LIST", ring_line, &ctx)) < 0)
		return r;
	if (!ctx.found)
		return fail(dc, -EPROTO, "DIRECTOR-LIST has no line for "
		    "this director");
	*synced = ctx.synced;
	return 0;
}
