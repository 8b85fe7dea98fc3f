/*
 * poolmonctl: ask a running poolmond what it sees and steer it, over its
 * control socket. Exit status: 0 success, 1 the daemon refused or failed
 * the command, 2 usage error, 3 the daemon cannot be reached.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "frame.h"
#include "output.h"
#include "parse.h"
#include "poolmon.pb-c.h"
#include "version.h"

#define EXIT_REFUSED		1
#define EXIT_USAGE		2
#define EXIT_UNREACHABLE	3

#define DEFAULT_TIMEOUT_S	10
/* A recheck waits for a whole scan: retries of slow backends included. */
#define DEFAULT_RECHECK_TIMEOUT_S	300

static void
usage(FILE *out)
{
	fprintf(out,
"Usage: poolmonctl [-s PATH] [--json] [-t SECS] COMMAND [ARGS]\n"
"Asks a running poolmond what it sees and steers it.\n"
"\n"
"Commands (any unambiguous prefix will do):\n"
"  status               Summary and one row per backend\n"
"  show HOST            One backend in detail, with each port's last result\n"
"  recheck [HOST...]    Check now (every backend, or these) and print the\n"
"                       result; with --no-wait return once it is queued\n"
"  dry-run on|off       Switch dry-run (report, change nothing) at run time\n"
"  reload               Re-read the credential file and reopen the log\n"
"  version              Versions of poolmonctl, poolmond and the protocol\n"
"  hold HOST [--reason=TEXT] [--flush]\n"
"                       Take HOST down for maintenance (--flush: move\n"
"                       its users away too) and keep it down until released\n"
"  release HOST         Hand a held or operator-down HOST to poolmond,\n"
"                       which brings it up once it is healthy\n"
"  metrics              Prometheus metrics, as poolmond serves them over HTTP\n"
"  watch [--scans]      Stream events as they happen (verdicts, actions,\n"
"                       holds, guard and ring changes; scans with --scans)\n"
"                       until interrupted; --json: one object a line\n"
"\n"
"Options:\n"
"  -s, --socket=PATH    poolmond's control socket (default: %s)\n"
"  -j, --json           Print one JSON document\n"
"  -t, --timeout=SECS   Give up after SECS (default: %d; recheck: %d)\n"
"      --no-wait        recheck: do not wait for the result\n"
"      --scans          watch: also one event per finished scan\n"
"  -h, --help           Print this text and exit\n"
"  -V, --version        Print poolmonctl's version and exit\n"
"\n"
"Exit status: 0 success, 1 poolmond refused or failed the command,\n"
"2 usage error, 3 poolmond cannot be reached.\n",
	    CTL_DEFAULT_SOCKET, DEFAULT_TIMEOUT_S, DEFAULT_RECHECK_TIMEOUT_S);
}

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("poolmonctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'poolmonctl --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

static void
build_hold(const struct ctl_cmdline *cl, Poolmon__Request *req,
    Poolmon__HoldRequest *hold)
{
	poolmon__hold_request__init(hold);
	hold->host = cl->hosts[0];
	hold->reason = (char *)cl->reason;
	hold->has_flush = 1;
	hold->flush = cl->flush;
	req->command_case = POOLMON__REQUEST__COMMAND_HOLD;
	req->hold = hold;
}

static void
build_request(const struct ctl_cmdline *cl, Poolmon__Request *req,
    void *body)
{
	poolmon__request__init(req);
	req->version = POOLMON__PROTOCOL__PROTOCOL_VERSION;
	/* Any value will do: it only pairs replies with the request. */
	req->id = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	switch (cl->action) {
	case CTL_ACTION_STATUS:
		poolmon__status_request__init(body);
		req->command_case = POOLMON__REQUEST__COMMAND_STATUS;
		req->status = body;
		break;
	case CTL_ACTION_SHOW:
		poolmon__show_request__init(body);
		((Poolmon__ShowRequest *)body)->host = cl->hosts[0];
		req->command_case = POOLMON__REQUEST__COMMAND_SHOW;
		req->show = body;
		break;
	case CTL_ACTION_RECHECK:
		poolmon__recheck_request__init(body);
		((Poolmon__RecheckRequest *)body)->hosts = cl->hosts;
		((Poolmon__RecheckRequest *)body)->n_hosts = cl->nhosts;
		((Poolmon__RecheckRequest *)body)->has_wait = 1;
		((Poolmon__RecheckRequest *)body)->wait = !cl->no_wait;
		req->command_case = POOLMON__REQUEST__COMMAND_RECHECK;
		req->recheck = body;
		break;
	case CTL_ACTION_DRY_RUN_ON:
	case CTL_ACTION_DRY_RUN_OFF:
		poolmon__set_dry_run_request__init(body);
		((Poolmon__SetDryRunRequest *)body)->enabled =
		    cl->action == CTL_ACTION_DRY_RUN_ON;
		req->command_case = POOLMON__REQUEST__COMMAND_SET_DRY_RUN;
		req->set_dry_run = body;
		break;
	case CTL_ACTION_RELOAD:
		poolmon__reload_request__init(body);
		req->command_case = POOLMON__REQUEST__COMMAND_RELOAD;
		req->reload = body;
		break;
	case CTL_ACTION_VERSION:
		poolmon__version_request__init(body);
		req->command_case = POOLMON__REQUEST__COMMAND_GET_VERSION;
		req->get_version = body;
		break;
	case CTL_ACTION_HOLD:
		build_hold(cl, req, body);
		break;
	case CTL_ACTION_RELEASE:
		poolmon__release_request__init(body);
		((Poolmon__ReleaseRequest *)body)->host = cl->hosts[0];
		req->command_case = POOLMON__REQUEST__COMMAND_RELEASE;
		req->release = body;
		break;
	case CTL_ACTION_WATCH:
		poolmon__watch_request__init(body);
		((Poolmon__WatchRequest *)body)->has_scans = 1;
		((Poolmon__WatchRequest *)body)->scans = cl->scans;
		req->command_case = POOLMON__REQUEST__COMMAND_WATCH;
		req->watch = body;
		break;
	case CTL_ACTION_METRICS:
		poolmon__metrics_request__init(body);
		req->command_case = POOLMON__REQUEST__COMMAND_METRICS;
		req->metrics = body;
		break;
	case CTL_ACTION_NONE:
		break;
	}
}

struct watch_out {
	bool json;
	bool refused;		/* the daemon said no, or dropped us */
	char message[256];
};

/* One part of a watch: the start, an event, or the daemon's last word. */
static int
watch_part(const Poolmon__Response *p, void *arg)
{
	struct watch_out *w = arg;

	if (!p->success) {
		w->refused = true;
		snprintf(w->message, sizeof(w->message), "%s",
		    p->message != NULL ? p->message : "failed");
		return 0;
	}
	if (p->result_case != POOLMON__RESPONSE__RESULT_WATCH_EVENT)
		return 0;
	if (w->json)
		ctl_print_event_json(stdout, p->watch_event);
	else
		ctl_print_event_text(stdout, p->watch_event);
	/* Each event when it happens, not when a buffer fills. */
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/* Interrupted: what was read is out already (flushed per event). */
static void
on_interrupt(int sig)
{
	(void)sig;
	_exit(0);
}

/* Until interrupted (exit 0) or the daemon ends the watch. */
static int
watch(struct ctl_conn *conn, const Poolmon__Request *req, int timeout_ms,
    bool json)
{
	struct watch_out w = { .json = json };
	int r;

	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	r = ctl_stream(conn, req, timeout_ms, watch_part, &w);
	if (w.refused) {
		fprintf(stderr, "poolmonctl: watch: %s\n", w.message);
		return EXIT_REFUSED;
	}
	if (r == -EIO)
		return EXIT_REFUSED;
	if (r < 0) {
		fprintf(stderr, "poolmonctl: %s\n", conn->err);
		return EXIT_UNREACHABLE;
	}
	return 0;
}

static int
call_daemon(const struct ctl_cmdline *cl)
{
	union {
		Poolmon__StatusRequest status;
		Poolmon__ShowRequest show;
		Poolmon__RecheckRequest recheck;
		Poolmon__SetDryRunRequest set_dry_run;
		Poolmon__ReloadRequest reload;
		Poolmon__VersionRequest version;
		Poolmon__HoldRequest hold;
		Poolmon__ReleaseRequest release;
		Poolmon__MetricsRequest metrics;
		Poolmon__WatchRequest watch;
	} body;
	Poolmon__Request req;
	struct ctl_conn conn;
	struct ctl_reply reply;
	const Poolmon__Response *last;
	int timeout_s = cl->timeout_s, status = 0, r;

	if (timeout_s == 0)
		timeout_s = cl->action == CTL_ACTION_RECHECK && !cl->no_wait ?
		    DEFAULT_RECHECK_TIMEOUT_S : DEFAULT_TIMEOUT_S;
	build_request(cl, &req, &body);
	if (poolmon__request__get_packed_size(&req) > CTL_REQUEST_MAX) {
		fprintf(stderr, "poolmonctl: %zu hosts make a request larger "
		    "than %d bytes; name fewer\n", cl->nhosts,
		    CTL_REQUEST_MAX);
		return EXIT_USAGE;
	}
	if (ctl_connect(&conn, cl->socket) < 0) {
		fprintf(stderr, "poolmonctl: %s\n", conn.err);
		return EXIT_UNREACHABLE;
	}
	if (cl->action == CTL_ACTION_WATCH) {
		status = watch(&conn, &req, timeout_s * 1000, cl->json);
		ctl_close(&conn);
		return status;
	}
	r = ctl_call(&conn, &req, timeout_s * 1000, &reply);
	ctl_close(&conn);
	if (r < 0) {
		fprintf(stderr, "poolmonctl: %s\n", conn.err);
		ctl_reply_free(&reply);
		return r == -E2BIG ? EXIT_USAGE : EXIT_UNREACHABLE;
	}
	/* A refusal may still carry a result, e.g. rechecked hosts. */
	ctl_print_reply(stdout, &reply, cl->json);
	last = reply.parts[reply.nparts - 1];
	if (!reply.parts[0]->success || !last->success) {
		fprintf(stderr, "poolmonctl: %s: %s\n", ctl_action_name(
		    cl->action), reply.parts[0]->message != NULL ?
		    reply.parts[0]->message : "failed");
		status = EXIT_REFUSED;
	}
	ctl_reply_free(&reply);
	if (fflush(stdout) != 0 && status == 0)
		status = EXIT_REFUSED;
	return status;
}

int
main(int argc, char **argv)
{
	struct ctl_cmdline cl;
	char err[512];
	int r;

	switch (ctl_cmdline_parse(argc, argv, CTL_DEFAULT_SOCKET, &cl, err,
	    sizeof(err))) {
	case CTL_PARSE_RUN:
		r = call_daemon(&cl);
		break;
	case CTL_PARSE_HELP:
		usage(stdout);
		r = 0;
		break;
	case CTL_PARSE_VERSION:
		printf("poolmonctl %s (protocol %d)\n", POOLMON_VERSION,
		    POOLMON__PROTOCOL__PROTOCOL_VERSION);
		r = 0;
		break;
	default:
		return usage_error("%s", err);
	}
	ctl_cmdline_free(&cl);
	return r;
}
