/*
 * luadir-run - the Lua director's router (poolmond/luadir.h) on an
 * sd-event loop, for the integration tests.
 *
 * usage: luadir-run [-d] [-t TIMEOUT_MS] [-p CONF]... DSN STEP...
 *
 * Steps run in order on one router (so that a later listing sees what an
 * earlier one did), each result printed as one line on stdout:
 *
 *   list              list ok IP,up|down,STATE,USERS,MARK ...
 *   gate              gate ok can_act=0|1 STATE
 *   down IP | downflush IP | flush IP | up IP
 *                     CMD REPLY flushed=0|1: LINE
 *   wait-file PATH    waits (at most 60 s) until PATH exists
 *
 * A request that fails prints "STEP error=-ERRNO unreachable=0|1: [WHAT: ]WHY"
 * (WHAT: the statement that failed); a flush still owed ends its line
 * with "(not flushed: WHY)".
 * -p names a proxy's dovecot.conf (repeatable), -d logs debug lines to
 * stderr. Exits 0 when every step succeeded, 1 when one failed, 2 when
 * the router could not be made.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "log.h"
#include "luadir.h"
#include "router.h"
#include "util.h"

#define MAX_PROXIES	8
#define WAIT_FILE_MS	60000

struct tool {
	sd_event *event;
	struct router *router;
	char **steps;
	int nsteps, next;
	int rc;
	const char *name;		/* of the step under way */
	const char *wait_path;
	int64_t wait_until;
	sd_event_source *poll;
	sd_event_source *mover;
};

static void step(struct tool *t);

static const char *
mark_str(enum router_mark m)
{
	switch (m) {
	case ROUTER_MARK_POOLMON: return "poolmon";
	case ROUTER_MARK_OTHER: return "other";
	case ROUTER_MARK_UNKNOWN: break;
	}
	return "-";
}

static void
schedule(struct tool *t)
{
	(void)sd_event_source_set_enabled(t->mover, SD_EVENT_ONESHOT);
}

static bool
failed(struct tool *t, const struct router_result *res)
{
	if (res->error == 0)
		return false;
	printf("%s error=%d unreachable=%d: %s%s%s\n", t->name, res->error,
	    res->unreachable, res->what != NULL ? res->what : "",
	    res->what != NULL ? ": " : "", res->err != NULL ? res->err : "");
	t->rc = 1;
	return true;
}

static void
on_list(const struct router_result *res, void *arg)
{
	struct tool *t = arg;
	size_t i;

	if (!failed(t, res)) {
		printf("list ok");
		for (i = 0; i < res->list->n; i++) {
			const struct router_host *h = &res->list->hosts[i];

			printf(" %s,%s,%d,%u,%s", h->ip, h->up ? "up" : "down",
			    h->state, h->user_count, mark_str(h->mark));
		}
		printf("\n");
	}
	fflush(stdout);
	schedule(t);
}

static void
on_gate(const struct router_result *res, void *arg)
{
	struct tool *t = arg;

	if (!failed(t, res))
		printf("gate ok can_act=%d %s\n", res->can_act,
		    res->act_state);
	fflush(stdout);
	schedule(t);
}

static void
on_command(const struct router_result *res, void *arg)
{
	struct tool *t = arg;

	if (!failed(t, res)) {
		printf("%s %s flushed=%d: %s%s%s%s\n", t->name,
		    router_reply_str(res->reply), res->flushed,
		    res->line != NULL ? res->line : "",
		    res->flush_err != NULL ? " (not flushed: " : "",
		    res->flush_err != NULL ? res->flush_err : "",
		    res->flush_err != NULL ? ")" : "");
		if (res->reply != ROUTER_REPLY_OK)
			t->rc = 1;
	}
	fflush(stdout);
	schedule(t);
}

static int
on_poll(sd_event_source *s, uint64_t usec, void *arg)
{
	struct tool *t = arg;

	(void)usec;
	if (access(t->wait_path, F_OK) == 0) {
		(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
		schedule(t);
		return 0;
	}
	if (now_ms() >= t->wait_until) {
		printf("wait-file %s: not there after %d ms\n", t->wait_path,
		    WAIT_FILE_MS);
		fflush(stdout);
		t->rc = 1;
		sd_event_exit(t->event, 0);
		return 0;
	}
	(void)sd_event_source_set_time_relative(s, 50000);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int
on_move(sd_event_source *s, void *arg)
{
	(void)s;
	step(arg);
	return 0;
}

static int
command_of(const char *name, enum router_cmd *cmd)
{
	static const struct {
		const char *name;
		enum router_cmd cmd;
	} cmds[] = {
		{ "down", ROUTER_DOWN },
		{ "downflush", ROUTER_DOWN_FLUSH },
		{ "flush", ROUTER_FLUSH },
		{ "up", ROUTER_UP },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (strcmp(name, cmds[i].name) == 0) {
			*cmd = cmds[i].cmd;
			return 0;
		}
	return -EINVAL;
}

static void
step(struct tool *t)
{
	enum router_cmd cmd;
	const char *name;
	int r;

	if (t->next >= t->nsteps) {
		sd_event_exit(t->event, 0);
		return;
	}
	name = t->name = t->steps[t->next++];
	if (strcmp(name, "list") == 0)
		r = router_list(t->router, 0, on_list, t);
	else if (strcmp(name, "gate") == 0)
		r = router_gate(t->router, 0, on_gate, t);
	else if (strcmp(name, "wait-file") == 0 && t->next < t->nsteps) {
		t->wait_path = t->steps[t->next++];
		t->wait_until = now_ms() + WAIT_FILE_MS;
		(void)sd_event_source_set_time_relative(t->poll, 0);
		r = sd_event_source_set_enabled(t->poll, SD_EVENT_ONESHOT);
	} else if (command_of(name, &cmd) == 0 && t->next < t->nsteps)
		r = router_command(t->router, cmd, t->steps[t->next++], 0,
		    on_command, t);
	else
		r = -EINVAL;
	if (r < 0) {
		printf("%s: cannot ask: %s\n", name, strerror(-r));
		fflush(stdout);
		t->rc = 1;
		schedule(t);
	}
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: luadir-run [-d] [-t TIMEOUT_MS] [-p CONF]... "
	    "DSN list|gate|down IP|downflush IP|flush IP|up IP|"
	    "wait-file PATH ...\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *proxies[MAX_PROXIES];
	struct tool t = { .rc = 0 };
	size_t nproxies = 0;
	int timeout_ms = 5000, c, r;
	bool debug = false;
	char err[512];
	sigset_t set;
	long v;

	while ((c = getopt(argc, argv, "dt:p:")) != -1) {
		switch (c) {
		case 'd':
			debug = true;
			break;
		case 't':
			if (parse_long(optarg, 1, 600000, &v) < 0)
				usage();
			timeout_ms = (int)v;
			break;
		case 'p':
			if (nproxies == MAX_PROXIES)
				usage();
			proxies[nproxies++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2)
		usage();
	if (log_init("luadir-run", NULL, debug) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	/* sd-event's child sources need SIGCHLD blocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((r = luadir_dsn_check(argv[optind], err, sizeof(err))) < 0) {
		printf("dsn error=%d: %s\n", r, err);
		return 2;
	}
	if ((r = sd_event_default(&t.event)) < 0)
		return 2;
	if ((r = luadir_new(t.event, argv[optind], proxies, nproxies,
	    timeout_ms, &t.router, err, sizeof(err))) < 0) {
		printf("new error=%d: %s\n", r, err);
		return 2;
	}
	t.steps = argv + optind + 1;
	t.nsteps = argc - optind - 1;
	if (sd_event_add_defer(t.event, &t.mover, on_move, &t) < 0 ||
	    sd_event_add_time_relative(t.event, &t.poll, CLOCK_MONOTONIC, 0,
	    1000, on_poll, &t) < 0 ||
	    sd_event_source_set_enabled(t.poll, SD_EVENT_OFF) < 0)
		return 2;
	(void)sd_event_loop(t.event);
	router_free(t.router);
	sd_event_source_disable_unref(t.mover);
	sd_event_source_disable_unref(t.poll);
	sd_event_unref(t.event);
	return t.rc;
}
