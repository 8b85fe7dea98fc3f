/*
 * poolmonctl's command line: one getopt_long() pass over every option,
 * poolmonctl's and the commands' own (--no-wait, --reason, --flush),
 * wherever they stand; the words left are matched against a table of
 * commands in the style of OpenBSD's relayctl. Every keyword may be
 * shortened to any unambiguous prefix ("st" is status), and a bad
 * command line is refused with "unknown argument", "ambiguous argument"
 * or "missing argument". The table also says which of the commands'
 * options each command takes.
 */
#ifndef POOLMONCTL_PARSE_H
#define POOLMONCTL_PARSE_H

#include <stdbool.h>
#include <stddef.h>

enum ctl_action {
	CTL_ACTION_NONE,
	CTL_ACTION_STATUS,
	CTL_ACTION_SHOW,
	CTL_ACTION_RECHECK,
	CTL_ACTION_DRY_RUN_ON,
	CTL_ACTION_DRY_RUN_OFF,
	CTL_ACTION_RELOAD,
	CTL_ACTION_VERSION,
	CTL_ACTION_HOLD,
	CTL_ACTION_RELEASE,
	CTL_ACTION_METRICS,
	CTL_ACTION_WATCH,
};

/* The options that belong to one command, as bits. */
enum ctl_cmd_option {
	CTL_OPT_NO_WAIT = 1 << 0,	/* recheck */
	CTL_OPT_REASON = 1 << 1,	/* hold */
	CTL_OPT_FLUSH = 1 << 2,		/* hold */
	CTL_OPT_SCANS = 1 << 3,		/* watch */
};

/* What the command line asks for, once parsed. */
enum ctl_parse_result {
	CTL_PARSE_RUN,			/* call the daemon */
	CTL_PARSE_HELP,			/* -h: print the usage */
	CTL_PARSE_VERSION,		/* -V: print poolmonctl's version */
};

/* Distinct from poolmond's command table entry of the same concern. */
struct ctl_cmdline {
	/* poolmonctl's own options. */
	const char *socket;
	bool json;
	int timeout_s;		/* 0: the command's default */
	/* The command and its arguments. */
	enum ctl_action action;
	/* show, hold, release: one; recheck: any number (none: all). */
	char **hosts;		/* IP addresses in inet_ntop() form */
	size_t nhosts;
	/* The command's own options; given holds the CTL_OPT_* seen. */
	unsigned given;
	bool no_wait;
	const char *reason;	/* hold --reason (NULL: none), from argv */
	bool flush;
	bool scans;		/* watch --scans */
};

/*
 * Parse argv (argv[0] is the program). A ctl_parse_result, with cl to be
 * freed by ctl_cmdline_free(); or -EINVAL with the reason in err and
 * nothing to free. socket defaults to default_socket.
 */
int ctl_cmdline_parse(int argc, char *argv[], const char *default_socket,
    struct ctl_cmdline *cl, char *err, size_t errlen);
void ctl_cmdline_free(struct ctl_cmdline *cl);
/* The words of the action ("dry-run on"), for messages. */
const char *ctl_action_name(enum ctl_action action);

#endif
