/*
 * poolmonctl's command line: one getopt_long() pass, the command table's
 * prefixes and per-command options, and every kind of bad input.
 */
#include <errno.h>
#include <stdarg.h>

#include "../../poolmonctl/parse.h"
#include "config.h"
#include "frame.h"
#include "unit.h"

static struct ctl_cmdline cmd;
static char err[512];

/*
 * Parse "poolmonctl" and a NULL-terminated list of arguments; cmd is
 * freed by the next call. 0 for a command to run, else what
 * ctl_cmdline_parse() returned.
 */
static int
parse(const char *first, ...)
{
	static int have_cmd;
	char *argv[16] = { (char *)"poolmonctl" };
	int argc = 1;
	const char *a;
	va_list ap;
	int r;

	if (have_cmd)
		ctl_cmdline_free(&cmd);
	va_start(ap, first);
	for (a = first; a != NULL && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	r = ctl_cmdline_parse(argc, argv, "/default.sock", &cmd, err,
	    sizeof(err));
	have_cmd = r >= 0;
	return r == CTL_PARSE_RUN ? 0 : r;
}

static void
test_full_words(void)
{
	CHECK(parse("status", NULL) == 0 && cmd.action == CTL_ACTION_STATUS);
	CHECK(parse("show", "127.0.6.1", NULL) == 0 &&
	    cmd.action == CTL_ACTION_SHOW && cmd.nhosts == 1);
	CHECK_STR(cmd.hosts[0], "127.0.6.1");
	CHECK(parse("recheck", NULL) == 0 &&
	    cmd.action == CTL_ACTION_RECHECK && cmd.nhosts == 0);
	CHECK(parse("recheck", "127.0.6.1", "127.0.6.2", "::1", NULL) == 0);
	CHECK(cmd.action == CTL_ACTION_RECHECK && cmd.nhosts == 3);
	CHECK_STR(cmd.hosts[2], "::1");
	CHECK(parse("dry-run", "on", NULL) == 0 &&
	    cmd.action == CTL_ACTION_DRY_RUN_ON);
	CHECK(parse("dry-run", "off", NULL) == 0 &&
	    cmd.action == CTL_ACTION_DRY_RUN_OFF);
	CHECK(parse("reload", NULL) == 0 && cmd.action == CTL_ACTION_RELOAD);
	CHECK(parse("version", NULL) == 0 &&
	    cmd.action == CTL_ACTION_VERSION);
}

static void
test_prefixes(void)
{
	CHECK(parse("st", NULL) == 0 && cmd.action == CTL_ACTION_STATUS);
	CHECK(parse("sh", "10.0.0.1", NULL) == 0 &&
	    cmd.action == CTL_ACTION_SHOW);
	CHECK(parse("rec", NULL) == 0 && cmd.action == CTL_ACTION_RECHECK);
	CHECK(parse("relo", NULL) == 0 && cmd.action == CTL_ACTION_RELOAD);
	CHECK(parse("rele", "10.0.0.1", NULL) == 0 &&
	    cmd.action == CTL_ACTION_RELEASE);
	CHECK(parse("h", "10.0.0.1", NULL) == 0 &&
	    cmd.action == CTL_ACTION_HOLD);
	CHECK(parse("d", "on", NULL) == 0 &&
	    cmd.action == CTL_ACTION_DRY_RUN_ON);
	CHECK(parse("dry", "of", NULL) == 0 &&
	    cmd.action == CTL_ACTION_DRY_RUN_OFF);
	CHECK(parse("v", NULL) == 0 && cmd.action == CTL_ACTION_VERSION);
}

static void
test_ambiguous(void)
{
	CHECK(parse("s", NULL) == -EINVAL);
	CHECK(strstr(err, "ambiguous argument") != NULL);
	CHECK(strstr(err, "'s'") != NULL);
	CHECK(strstr(err, "status, show") != NULL);
	CHECK(parse("re", NULL) == -EINVAL);
	CHECK(strstr(err, "ambiguous") && strstr(err, "recheck, reload"));
	CHECK(parse("dry-run", "o", NULL) == -EINVAL);
	CHECK(strstr(err, "ambiguous") && strstr(err, "on, off"));
	/* release made "rel" ambiguous. */
	CHECK(parse("rel", NULL) == -EINVAL);
	CHECK(strstr(err, "ambiguous") && strstr(err, "reload, release"));
}

static void
test_hold(void)
{
	CHECK(parse("hold", "127.0.6.1", NULL) == 0);
	CHECK(cmd.action == CTL_ACTION_HOLD && cmd.nhosts == 1);
	CHECK_STR(cmd.hosts[0], "127.0.6.1");
	CHECK(cmd.reason == NULL && !cmd.flush);
	CHECK(parse("hold", "127.0.6.1", "--reason", "kernel update",
	    "--flush", NULL) == 0);
	CHECK_STR(cmd.reason, "kernel update");
	CHECK(cmd.flush);
	/* Before the host too, in the --name=VALUE form, and by prefix. */
	CHECK(parse("ho", "--fl", "--reason=disk swap", "0:0::1", NULL) == 0);
	CHECK(cmd.action == CTL_ACTION_HOLD && cmd.flush);
	CHECK_STR(cmd.reason, "disk swap");
	CHECK_STR(cmd.hosts[0], "::1");
	/* The value is the next word, whatever it looks like. */
	CHECK(parse("hold", "127.0.6.1", "--reason", "--flush", NULL) == 0);
	CHECK_STR(cmd.reason, "--flush");
	CHECK(!cmd.flush);
	/* An empty reason is a reason given as empty. */
	CHECK(parse("hold", "127.0.6.1", "--reason=", NULL) == 0);
	CHECK_STR(cmd.reason, "");
	/* The last --reason counts. */
	CHECK(parse("hold", "127.0.6.1", "--reason", "a", "--reason", "b",
	    NULL) == 0);
	CHECK_STR(cmd.reason, "b");
}

static void
test_hold_errors(void)
{
	CHECK(parse("hold", NULL) == -EINVAL);
	CHECK(strstr(err, "missing argument: expected HOST") != NULL);
	CHECK(parse("hold", "--flush", NULL) == -EINVAL);
	CHECK(strstr(err, "missing argument: expected HOST") != NULL);
	CHECK(parse("hold", "127.0.6.1", "--reason", NULL) == -EINVAL);
	CHECK(strstr(err, "missing argument: option '--reason' needs a "
	    "value") != NULL);
	CHECK(parse("hold", "--reason", NULL) == -EINVAL);
	CHECK(strstr(err, "'--reason' needs a value") != NULL);
	CHECK(parse("hold", "127.0.6.1", "--bogus", NULL) == -EINVAL);
	CHECK_STR(err, "unknown option '--bogus'");
	CHECK(parse("hold", "127.0.6.1", "-f", NULL) == -EINVAL);
	CHECK_STR(err, "unknown option '-f'");
	/* In a cluster, the letter that is wrong. */
	CHECK(parse("-jf", "status", NULL) == -EINVAL);
	CHECK_STR(err, "unknown option '-f'");
	CHECK(parse("hold", "127.0.6.1", "--flush=yes", NULL) == -EINVAL);
	CHECK_STR(err, "option '--flush' takes no argument");
	CHECK(parse("hold", "127.0.6.1", "127.0.6.2", NULL) == -EINVAL);
	CHECK(strstr(err, "unknown argument: '127.0.6.2'") != NULL);
	CHECK(parse("hold", "mail1", NULL) == -EINVAL);
	CHECK(strstr(err, "not an IP address") != NULL);
	/* After "--", an option's name is only a word. */
	CHECK(parse("hold", "127.0.6.1", "--", "--flush", NULL) == -EINVAL);
	CHECK(strstr(err, "unknown argument: '--flush'") != NULL);
	/* Control bytes in an option never reach the terminal verbatim. */
	CHECK(parse("hold", "127.0.6.1", "--\033[2J", NULL) == -EINVAL);
	CHECK(strchr(err, '\033') == NULL);
}

/* The table says which command takes which option. */
static void
test_command_options(void)
{
	CHECK(parse("status", "--flush", NULL) == -EINVAL);
	CHECK_STR(err, "--flush is an option of hold only");
	CHECK(parse("release", "127.0.6.1", "--flush", NULL) == -EINVAL);
	CHECK_STR(err, "--flush is an option of hold only");
	CHECK(parse("--reason=x", "recheck", NULL) == -EINVAL);
	CHECK_STR(err, "--reason is an option of hold only");
	CHECK(parse("--no-wait", "status", NULL) == -EINVAL);
	CHECK_STR(err, "--no-wait is an option of recheck only");
	CHECK(parse("hold", "127.0.6.1", "--no-wait", NULL) == -EINVAL);
	CHECK_STR(err, "--no-wait is an option of recheck only");
	/* A bad command is reported before a misplaced option. */
	CHECK(parse("--no-wait", "bogus", NULL) == -EINVAL);
	CHECK(strstr(err, "unknown argument: 'bogus'") != NULL);
	CHECK(parse("recheck", "--no-wait", "127.0.6.1", NULL) == 0);
	CHECK(cmd.action == CTL_ACTION_RECHECK && cmd.no_wait &&
	    cmd.nhosts == 1);
	CHECK(parse("rec", "127.0.6.1", NULL) == 0 && !cmd.no_wait);
}

/* poolmonctl's own options, anywhere on the line, and -h, -V. */
static void
test_global_options(void)
{
	CHECK(parse("status", NULL) == 0);
	CHECK_STR(cmd.socket, "/default.sock");
	CHECK(!cmd.json && cmd.timeout_s == 0);
	CHECK(parse("st", "-j", "--socket", "/x.sock", "-t", "7", NULL) == 0);
	CHECK(cmd.action == CTL_ACTION_STATUS && cmd.json);
	CHECK_STR(cmd.socket, "/x.sock");
	CHECK(cmd.timeout_s == 7);
	CHECK(parse("--json", "-s/y.sock", "--timeout=86400", "show",
	    "127.0.6.1", NULL) == 0);
	CHECK_STR(cmd.socket, "/y.sock");
	CHECK(cmd.json && cmd.timeout_s == 86400);
	CHECK(parse("-t", "0", "status", NULL) == -EINVAL);
	CHECK_STR(err, "--timeout '0': expected 1 to 86400 seconds");
	CHECK(parse("--timeout=5x", "status", NULL) == -EINVAL);
	CHECK(strstr(err, "--timeout '5x'") != NULL);
	CHECK(parse("status", "-s", NULL) == -EINVAL);
	CHECK_STR(err, "missing argument: option '-s' needs a value");
	CHECK(parse("--json=yes", "status", NULL) == -EINVAL);
	CHECK_STR(err, "option '--json' takes no argument");
	CHECK(parse("--bogus", "status", NULL) == -EINVAL);
	CHECK_STR(err, "unknown option '--bogus'");
	/* -h and -V win over whatever else is wrong. */
	CHECK(parse("bogus", "-h", NULL) == CTL_PARSE_HELP);
	CHECK(parse("--help", NULL) == CTL_PARSE_HELP);
	CHECK(parse("-V", "status", "extra", NULL) == CTL_PARSE_VERSION);
	/* Every word after "--" is the command's. */
	CHECK(parse("-j", "--", "status", NULL) == 0 && cmd.json);
	CHECK(parse("--", "-j", "status", NULL) == -EINVAL);
	CHECK(strstr(err, "unknown argument: '-j'") != NULL);
}

static void
test_release(void)
{
	CHECK(parse("release", "127.0.6.1", NULL) == 0);
	CHECK(cmd.action == CTL_ACTION_RELEASE && cmd.nhosts == 1);
	CHECK_STR(cmd.hosts[0], "127.0.6.1");
	CHECK(parse("release", NULL) == -EINVAL);
	CHECK(strstr(err, "missing argument: expected HOST") != NULL);
	CHECK(parse("release", "127.0.6.1", "127.0.6.2", NULL) == -EINVAL);
	CHECK(strstr(err, "nothing may follow") != NULL);
	CHECK(parse("release", "nohost", NULL) == -EINVAL);
	CHECK(strstr(err, "not an IP address") != NULL);
}

static void
test_unknown(void)
{
	CHECK(parse("bogus", NULL) == -EINVAL);
	CHECK(strstr(err, "unknown argument: 'bogus'") != NULL);
	CHECK(strstr(err, "status|show|recheck|dry-run|reload|version"));
	CHECK(parse("status", "extra", NULL) == -EINVAL);
	CHECK(strstr(err, "unknown argument: 'extra'") != NULL);
	CHECK(parse("dry-run", "maybe", NULL) == -EINVAL);
	CHECK(strstr(err, "unknown argument") && strstr(err, "on|off"));
	CHECK(parse("show", "127.0.6.1", "127.0.6.2", NULL) == -EINVAL);
	CHECK(strstr(err, "'127.0.6.2'") != NULL);
	/* Longer than the keyword is not a prefix. */
	CHECK(parse("statusx", NULL) == -EINVAL);
	CHECK(parse("", NULL) == -EINVAL);
	/* Control bytes never reach the terminal verbatim. */
	CHECK(parse("st\033[2Jx", NULL) == -EINVAL);
	CHECK(strchr(err, '\033') == NULL);
}

static void
test_missing(void)
{
	CHECK(parse(NULL) == -EINVAL);
	CHECK(strstr(err, "missing argument") != NULL);
	CHECK(strstr(err, "status|show|recheck|dry-run|reload|version"));
	CHECK(parse("show", NULL) == -EINVAL);
	CHECK(strstr(err, "missing argument: expected HOST") != NULL);
	CHECK(parse("dry-run", NULL) == -EINVAL);
	CHECK(strstr(err, "missing argument: expected on|off") != NULL);
}

static void
test_hosts(void)
{
	CHECK(parse("show", "mail1.example.com", NULL) == -EINVAL);
	CHECK(strstr(err, "not an IP address") != NULL);
	CHECK(parse("recheck", "127.0.6.1", "nope", NULL) == -EINVAL);
	CHECK(strstr(err, "'nope'") != NULL);
	CHECK(parse("show", "127.0.6.256", NULL) == -EINVAL);
	/* The director's form: inet_ntop(). */
	CHECK(parse("show", "0:0::0001", NULL) == 0);
	CHECK_STR(cmd.hosts[0], "::1");
	CHECK(parse("recheck", "2001:DB8::A", NULL) == 0);
	CHECK_STR(cmd.hosts[0], "2001:db8::a");
}

static void
test_names_and_defaults(void)
{
	CHECK_STR(ctl_action_name(CTL_ACTION_DRY_RUN_ON), "dry-run on");
	CHECK_STR(ctl_action_name(CTL_ACTION_RECHECK), "recheck");
	CHECK_STR(ctl_action_name(CTL_ACTION_HOLD), "hold");
	CHECK_STR(ctl_action_name(CTL_ACTION_RELEASE), "release");
	/* poolmonctl and poolmond agree where the socket is. */
	CHECK_STR(CTL_DEFAULT_SOCKET, DEFAULT_CONTROL_SOCKET);
}

int
main(void)
{
	RUN(test_full_words);
	RUN(test_prefixes);
	RUN(test_ambiguous);
	RUN(test_unknown);
	RUN(test_missing);
	RUN(test_hosts);
	RUN(test_hold);
	RUN(test_hold_errors);
	RUN(test_command_options);
	RUN(test_global_options);
	RUN(test_release);
	RUN(test_names_and_defaults);
	ctl_cmdline_free(&cmd);
	return UNIT_EXIT();
}
