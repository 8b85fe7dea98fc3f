/*
 * --metrics-listen: GET /metrics over HTTP with libmicrohttpd, run from
 * the daemon's sd-event loop. MHD has no thread of its own here
 * (MHD_USE_EPOLL without an internal polling thread): its epoll
 * descriptor is an sd-event io source and MHD_get_timeout() drives a
 * timer, both calling MHD_run(), which never blocks. So the daemon's
 * state is read only from the loop, and a slow or idle client costs a
 * connection slot (at most METRICS_HTTP_MAX_CONNECTIONS) until its
 * inactivity timeout, never the loop's time.
 *
 * libmicrohttpd is loaded only when --metrics-listen is given (dlib.h):
 * with it come GnuTLS and its dependencies, which a daemon that runs as
 * root, uses OpenSSL and serves plain HTTP has no use for otherwise.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "dlib.h"
#include "log.h"
#include "util.h"

#define METRICS_HTTP_PATH		"/metrics"
#define METRICS_HTTP_MAX_CONNECTIONS	16
#define METRICS_HTTP_TIMEOUT_S		5	/* of inactivity */
#define METRICS_HTTP_MEMORY_LIMIT	(32 * 1024)	/* per connection */
#define METRICS_HTTP_BACKLOG		64
#define METRICS_HTTP_LOG_BURST		10	/* MHD messages a minute */
#define METRICS_HTTP_LOG_WINDOW_MS	(60 * 1000)

/* Debian 12's and 13's ABI; the package is libmicrohttpd12(t64). */
#define MHD_SONAME	"libmicrohttpd.so.12"
#define MHD_PACKAGE	"libmicrohttpd12"

/* The functions of libmicrohttpd used here, resolved at run time. */
struct mhd_api {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_run) *run;
	__typeof__(MHD_get_timeout) *get_timeout;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
};

static const struct dlib_sym mhd_syms[] = {
	DLIB_SYM(struct mhd_api, start_daemon, MHD_start_daemon),
	DLIB_SYM(struct mhd_api, stop_daemon, MHD_stop_daemon),
	DLIB_SYM(struct mhd_api, run, MHD_run),
	DLIB_SYM(struct mhd_api, get_timeout, MHD_get_timeout),
	DLIB_SYM(struct mhd_api, get_daemon_info, MHD_get_daemon_info),
	DLIB_SYM(struct mhd_api, create_response_from_buffer,
	    MHD_create_response_from_buffer),
	DLIB_SYM(struct mhd_api, add_response_header, MHD_add_response_header),
	DLIB_SYM(struct mhd_api, queue_response, MHD_queue_response),
	DLIB_SYM(struct mhd_api, destroy_response, MHD_destroy_response),
};

/* The process's one copy of the library, loaded by the first open. */
static struct mhd_api mhd;
static struct dlib mhd_lib = DLIB_INIT(MHD_SONAME, MHD_PACKAGE, mhd_syms,
    &mhd);

struct metrics_http {
	struct metrics_ctx ctx;		/* what is shown */
	char *listen;			/* --metrics-listen */
	int listen_fd;		/* MHD's once the daemon started */
	struct MHD_Daemon *mhd;
	sd_event_source *io;
	sd_event_source *timer;
	struct ratelimit log_limit;
};

/*
 * MHD's own complaints (a client gone mid-reply, the connection limit
 * reached), at most a burst a minute: anyone who reaches the port could
 * otherwise fill the log.
 */
static void
on_mhd_log(void *arg, const char *fmt, va_list ap)
{
	struct metrics_http *h = arg;
	unsigned int suppressed;
	char msg[256];
	size_t n;

	if (!ratelimit_allow(&h->log_limit, now_ms(), &suppressed))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warnx("metrics http: %s%s", msg, suppressed > 0 ?
	    " (after unlogged messages)" : "");
}

static enum MHD_Result
reply_static(struct MHD_Connection *conn, unsigned int code,
    const char *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = mhd.create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	(void)mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		(void)mhd.add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    MHD_HTTP_METHOD_GET);
	ret = mhd.queue_response(conn, code, resp);
	mhd.destroy_response(resp);
	return ret;
}

static enum MHD_Result
reply_metrics(struct metrics_http *h, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len;
	char *text;

	if (metrics_render(&h->ctx, &text, &len) < 0)
		return reply_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "out of memory\n");
	resp = mhd.create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	(void)mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    METRICS_CONTENT_TYPE);
	ret = mhd.queue_response(conn, MHD_HTTP_OK, resp);
	mhd.destroy_response(resp);
	return ret;
}

/* Answered at the first call, before any request body: none is wanted. */
static enum MHD_Result
on_request(void *arg, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_ctx)
{
	struct metrics_http *h = arg;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_ctx;
	if (strcmp(url, METRICS_HTTP_PATH) != 0)
		return reply_static(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return reply_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed\n");
	return reply_metrics(h, conn);
}

/* When MHD wants to run next (its timeouts, or work it left); none: off. */
static void
rearm_timer(struct metrics_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (mhd.get_timeout(h->mhd, &ms) != MHD_YES) {
		(void)sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time_relative(h->timer, (uint64_t)ms * 1000);
	(void)sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
}

static unsigned int
connections(struct metrics_http *h)
{
	const union MHD_DaemonInfo *info;

	info = mhd.get_daemon_info(h->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info != NULL ? info->num_connections : 0;
}

/*
 * At the connection limit MHD takes its listening socket out of its
 * epoll set, and puts it back only at the start of a run. A run that
 * closed connections (timed out) may have freed the limit with nobody
 * left to wake the next: run again, or clients waiting in the listen
 * queue would wait for an event that never comes.
 */
static void
run_mhd(struct metrics_http *h)
{
	unsigned int before, after = connections(h);

	do {
		before = after;
		if (mhd.run(h->mhd) != MHD_YES) {
			log_warnx("metrics http: MHD_run failed");
			break;
		}
		after = connections(h);
	} while (after < before);
	rearm_timer(h);
}

static int
on_mhd_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	(void)s;
	(void)fd;
	(void)revents;
	run_mhd(arg);
	return 0;
}

static int
on_mhd_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	(void)s;
	(void)usec;
	run_mhd(arg);
	return 0;
}

/* Bound here, not by MHD: its failure would say nothing but "failed". */
static int
bind_listen(const char *arg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, one = 1, e;

	if (addrport_parse(arg, &ss) < 0)
		return err_set(err, errlen, -EINVAL, "--metrics-listen '%s': "
		    "expected IPv4:PORT or [IPv6]:PORT", arg);
	sslen = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sslen) < 0 ||
	    listen(fd, METRICS_HTTP_BACKLOG) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		return err_set(err, errlen, -e, "--metrics-listen '%s': %s",
		    arg, strerror(e));
	}
	return fd;
}

int
metrics_http_open(struct metrics_http **out, const char *listen,
    char *err, size_t errlen)
{
	struct metrics_http *h;
	int fd, r;

	*out = NULL;
	if (listen == NULL)
		return 0;
	/* Before the daemon forks: a missing library is said on the
	 * terminal, with the package to install. */
	if ((r = dlib_load(&mhd_lib, "--metrics-listen", err, errlen)) < 0)
		return r;
	if ((fd = bind_listen(listen, err, errlen)) < 0)
		return fd;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->listen = strdup(listen)) == NULL) {
		free(h);
		close(fd);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	h->listen_fd = fd;
	h->log_limit.interval_ms = METRICS_HTTP_LOG_WINDOW_MS;
	h->log_limit.burst = METRICS_HTTP_LOG_BURST;
	*out = h;
	return 0;
}

int
metrics_http_start(struct metrics_http *h, sd_event *event,
    const struct metrics_ctx *ctx)
{
	const union MHD_DaemonInfo *info;
	int r;

	if (h == NULL)
		return 0;
	h->ctx = *ctx;
	h->mhd = mhd.start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL,
	    NULL, on_request, h,
	    /* First, so that MHD logs nothing on its own. */
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->listen_fd,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)METRICS_HTTP_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_HTTP_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)METRICS_HTTP_MEMORY_LIMIT,
	    MHD_OPTION_END);
	if (h->mhd == NULL)
		return -EIO;
	h->listen_fd = -1;	/* MHD's: closed by MHD_stop_daemon() */
	info = mhd.get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0)
		return -EIO;
	r = sd_event_add_io(event, &h->io, info->epoll_fd, EPOLLIN,
	    on_mhd_io, h);
	if (r >= 0)
		r = sd_event_add_time_relative(event, &h->timer,
		    CLOCK_MONOTONIC, 0, 0, on_mhd_timer, h);
	if (r < 0)
		return r;
	rearm_timer(h);
	log_info("metrics: serving http://%s%s", h->listen,
	    METRICS_HTTP_PATH);
	return 0;
}

void
metrics_http_close(struct metrics_http *h)
{

	if (h == NULL)
		return;
	sd_event_source_disable_unref(h->io);
	sd_event_source_disable_unref(h->timer);
	if (h->mhd != NULL)
		mhd.stop_daemon(h->mhd);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	free(h->listen);
	free(h);
}
