/*
 * poolmonctl's command words, parsed against a table of tokens in the
 * style of OpenBSD's relayctl: every keyword may be shortened to any
 * unambiguous prefix ("st" is status), and a bad command line is refused
 * with "unknown argument", "ambiguous argument" or "missing argument".
 * A command's own options (hold's --reason and --flush) are words of it
 * too: poolmonctl's getopt hands them over in order.
 */
#ifndef POOLMONCTL_PARSE_H
#define POOLMONCTL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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
};

struct ctl_command {
	enum ctl_action action;
	/* show, hold, release: one; recheck: any number (none: all). */
	char **hosts;		/* IP addresses in inet_ntop() form */
	size_t nhosts;
	/* hold: --reason TEXT (NULL: none) and --flush. */
	char *reason;
	bool flush;
};

/*
 * Parse the words after the options. 0, or -EINVAL with the reason in err
 * (and nothing to free); else free with ctl_command_free().
 */
int ctl_parse(int argc, char *const argv[], struct ctl_command *cmd,
    char *err, size_t errlen);
void ctl_command_free(struct ctl_command *cmd);
/* The words of the action ("dry-run on"), for messages. */
const char *ctl_action_name(enum ctl_action action);

#endif
