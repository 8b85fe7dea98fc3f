/*
 * poolmonctl: ask a running poolmond what it sees and steer it, over its
 * control socket. Exit status: 0 success, 1 the daemon refused or failed
 * the command, 2 usage error, 3 the daemon cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "frame.h"
#include "output.h"
#include "parse.h"
#include "poolmon.pb-c.h"
#include "util.h"
#include "version.h"

#define EXIT_REFUSED		1
#define EXIT_USAGE		2
#define EXIT_UNREACHABLE	3

#define DEFAULT_TIMEOUT_S	10
/* A recheck waits for a whole scan: retries of slow backends included. */
#define DEFAULT_RECHECK_TIMEOUT_S	300

enum long_only_opt {
	OPT_NO_WAIT = 256,
	OPT_REASON,
	OPT_FLUSH,
};

struct ctl_options {
	const char *socket;
	bool json;
	bool no_wait;
	int timeout_s;		/* 0: the command's default */
	/* The command's words, its own options among them, in order. */
	char **words;
	int nwords;
};

static const struct option long_opts[] = {
	{ "socket",	required_argument, NULL, 's' },
	{ "json",	no_argument,	   NULL, 'j' },
	{ "timeout",	required_argument, NULL, 't' },
	{ "no-wait",	no_argument,	   NULL, OPT_NO_WAIT },
	{ "reason",	required_argument, NULL, OPT_REASON },
	{ "flush",	no_argument,	   NULL, OPT_FLUSH },
	{ "help",	no_argument,	   NULL, 'h' },
	{ "version",	no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

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
"\n"
"Options:\n"
"  -s, --socket=PATH    poolmond's control socket (default: %s)\n"
"  -j, --json           Print one JSON document\n"
"  -t, --timeout=SECS   Give up after SECS (default: %d; recheck: %d)\n"
"      --no-wait        recheck: do not wait for the result\n"
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

/*
 * Options may come anywhere. "-" keeps the words in order (getopt returns
 * each as 1), so a command's own options go back among its words, where
 * the command parser places them. -1 to go on, else the exit status.
 */
static int
parse_options(int argc, char **argv, struct ctl_options *o)
{
	long v;
	int c;

	/* At most two words per argument: --reason=TEXT is two. */
	if ((o->words = calloc((size_t)argc * 2 + 1, sizeof(char *))) ==
	    NULL) {
		fprintf(stderr, "poolmonctl: out of memory\n");
		return EXIT_REFUSED;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-:s:jt:hV", long_opts, NULL)) !=
	    -1) {
		switch (c) {
		case 1: o->words[o->nwords++] = optarg; break;
		case OPT_REASON:
			o->words[o->nwords++] = (char *)"--reason";
			o->words[o->nwords++] = optarg;
			break;
		case OPT_FLUSH:
			o->words[o->nwords++] = (char *)"--flush";
			break;
		case 's': o->socket = optarg; break;
		case 'j': o->json = true; break;
		case OPT_NO_WAIT: o->no_wait = true; break;
		case 't':
			if (parse_long(optarg, 1, 86400, &v) < 0)
				return usage_error("--timeout '%s': expected "
				    "1 to 86400 seconds", optarg);
			o->timeout_s = (int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("poolmonctl %s (protocol %d)\n", POOLMON_VERSION,
			    POOLMON__PROTOCOL__PROTOCOL_VERSION);
			return 0;
		case ':':
			return usage_error("option '%s' requires an argument",
			    argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	/* Whatever follows "--" is words. */
	while (optind < argc)
		o->words[o->nwords++] = argv[optind++];
	return -1;
}

static void
build_hold(const struct ctl_command *cmd, Poolmon__Request *req,
    Poolmon__HoldRequest *hold)
{
	poolmon__hold_request__init(hold);
	hold->host = cmd->hosts[0];
	hold->reason = cmd->reason;
	hold->has_flush = 1;
	hold->flush = cmd->flush;
	req->command_case = POOLMON__REQUEST__COMMAND_HOLD;
	req->hold = hold;
}

static void
build_request(const struct ctl_command *cmd, const struct ctl_options *o,
    Poolmon__Request *req, void *body)
{
	poolmon__request__init(req);
	req->version = POOLMON__PROTOCOL__PROTOCOL_VERSION;
	/* Any value will do: it only pairs replies with the request. */
	req->id = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	switch (cmd->action) {
	case CTL_ACTION_STATUS:
		poolmon__status_request__init(body);
		req->command_case = POOLMON__REQUEST__COMMAND_STATUS;
		req->status = body;
		break;
	case CTL_ACTION_SHOW:
		poolmon__show_request__init(body);
		((Poolmon__ShowRequest *)body)->host = cmd->hosts[0];
		req->command_case = POOLMON__REQUEST__COMMAND_SHOW;
		req->show = body;
		break;
	case CTL_ACTION_RECHECK:
		poolmon__recheck_request__init(body);
		((Poolmon__RecheckRequest *)body)->hosts = cmd->hosts;
		((Poolmon__RecheckRequest *)body)->n_hosts = cmd->nhosts;
		((Poolmon__RecheckRequest *)body)->has_wait = 1;
		((Poolmon__RecheckRequest *)body)->wait = !o->no_wait;
		req->command_case = POOLMON__REQUEST__COMMAND_RECHECK;
		req->recheck = body;
		break;
	case CTL_ACTION_DRY_RUN_ON:
	case CTL_ACTION_DRY_RUN_OFF:
		poolmon__set_dry_run_request__init(body);
		((Poolmon__SetDryRunRequest *)body)->enabled =
		    cmd->action == CTL_ACTION_DRY_RUN_ON;
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
		build_hold(cmd, req, body);
		break;
	case CTL_ACTION_RELEASE:
		poolmon__release_request__init(body);
		((Poolmon__ReleaseRequest *)body)->host = cmd->hosts[0];
		req->command_case = POOLMON__REQUEST__COMMAND_RELEASE;
		req->release = body;
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

static int
call_daemon(const struct ctl_command *cmd, const struct ctl_options *o)
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
	} body;
	Poolmon__Request req;
	struct ctl_conn conn;
	struct ctl_reply reply;
	const Poolmon__Response *last;
	int timeout_s = o->timeout_s, status = 0, r;

	if (timeout_s == 0)
		timeout_s = cmd->action == CTL_ACTION_RECHECK && !o->no_wait ?
		    DEFAULT_RECHECK_TIMEOUT_S : DEFAULT_TIMEOUT_S;
	build_request(cmd, o, &req, &body);
	if (poolmon__request__get_packed_size(&req) > CTL_REQUEST_MAX) {
		fprintf(stderr, "poolmonctl: %zu hosts make a request larger "
		    "than %d bytes; name fewer\n", cmd->nhosts,
		    CTL_REQUEST_MAX);
		return EXIT_USAGE;
	}
	if (ctl_connect(&conn, o->socket) < 0) {
		fprintf(stderr, "poolmonctl: %s\n", conn.err);
		return EXIT_UNREACHABLE;
	}
	r = ctl_call(&conn, &req, timeout_s * 1000, &reply);
	ctl_close(&conn);
	if (r < 0) {
		fprintf(stderr, "poolmonctl: %s\n", conn.err);
		ctl_reply_free(&reply);
		return r == -E2BIG ? EXIT_USAGE : EXIT_UNREACHABLE;
	}
	/* A refusal may still carry a result, e.g. rechecked hosts. */
	ctl_print_reply(stdout, &reply, o->json);
	last = reply.parts[reply.nparts - 1];
	if (!reply.parts[0]->success || !last->success) {
		fprintf(stderr, "poolmonctl: %s: %s\n", ctl_action_name(
		    cmd->action), reply.parts[0]->message != NULL ?
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
	struct ctl_options o = { .socket = CTL_DEFAULT_SOCKET };
	struct ctl_command cmd;
	char err[512];
	int r;

	if ((r = parse_options(argc, argv, &o)) < 0) {
		if (ctl_parse(o.nwords, o.words, &cmd, err, sizeof(err)) < 0)
			r = usage_error("%s", err);
		else if (o.no_wait && cmd.action != CTL_ACTION_RECHECK)
			r = usage_error("--no-wait is an option of recheck "
			    "only");
		else
			r = call_daemon(&cmd, &o);
		ctl_command_free(&cmd);
	}
	free(o.words);
	return r;
}
