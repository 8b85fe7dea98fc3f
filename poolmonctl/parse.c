/*
 * Table-driven parser of poolmonctl's command words. Each table lists what
 * may come next; ENDTOKEN means the command may end there. An option of a
 * command ("--flush") leads to the table it may appear in again.
 */
#include "parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SHOWN_WORD_MAX	64

enum token_type {
	NOTOKEN,		/* end of a table */
	ENDTOKEN,		/* the command may end here */
	KEYWORD,
	HOST,			/* one IP address */
	HOSTLIST,		/* IP addresses up to the end */
	OPTION,			/* --name */
	OPTION_ARG,		/* --name VALUE or --name=VALUE */
};

struct token {
	enum token_type type;
	const char *keyword;
	enum ctl_action action;
	const struct token *next;
};

static const struct token t_end[] = {
	{ ENDTOKEN, "", CTL_ACTION_NONE, NULL },
	{ NOTOKEN, "", CTL_ACTION_NONE, NULL },
};

static const struct token t_host[] = {
	{ HOST, "", CTL_ACTION_NONE, t_end },
	{ NOTOKEN, "", CTL_ACTION_NONE, NULL },
};

static const struct token t_hostlist[] = {
	{ HOSTLIST, "", CTL_ACTION_NONE, NULL },
	{ NOTOKEN, "", CTL_ACTION_NONE, NULL },
};

static const struct token t_dry_run[] = {
	{ KEYWORD, "on", CTL_ACTION_DRY_RUN_ON, t_end },
	{ KEYWORD, "off", CTL_ACTION_DRY_RUN_OFF, t_end },
	{ NOTOKEN, "", CTL_ACTION_NONE, NULL },
};

/* hold [OPTIONS] HOST [OPTIONS]: options on either side of the host. */
static const struct token t_hold_opts[] = {
	{ ENDTOKEN, "", CTL_ACTION_NONE, NULL },
	{ OPTION_ARG, "--reason", CTL_ACTION_NONE, t_hold_opts },
	{ OPTION, "--flush", CTL_ACTION_NONE, t_hold_opts },
	{ NOTOKEN, "", CTL_ACTION_NONE, NULL },
};

static const struct token t_hold[] = {
	{ HOST, "", CTL_ACTION_NONE, t_hold_opts },
	{ OPTION_ARG, "--reason", CTL_ACTION_NONE, t_hold },
	{ OPTION, "--flush", CTL_ACTION_NONE, t_hold },
	{ NOTOKEN, "", CTL_ACTION_NONE, NULL },
};

static const struct token t_main[] = {
	{ KEYWORD, "status", CTL_ACTION_STATUS, t_end },
	{ KEYWORD, "show", CTL_ACTION_SHOW, t_host },
	{ KEYWORD, "recheck", CTL_ACTION_RECHECK, t_hostlist },
	{ KEYWORD, "dry-run", CTL_ACTION_NONE, t_dry_run },
	{ KEYWORD, "reload", CTL_ACTION_RELOAD, t_end },
	{ KEYWORD, "version", CTL_ACTION_VERSION, t_end },
	{ KEYWORD, "hold", CTL_ACTION_HOLD, t_hold },
	{ KEYWORD, "release", CTL_ACTION_RELEASE, t_host },
	{ KEYWORD, "metrics", CTL_ACTION_METRICS, t_end },
	{ NOTOKEN, "", CTL_ACTION_NONE, NULL },
};

static int __attribute__((format(printf, 3, 4)))
parse_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A word of the command line, cut and made printable for a message. */
static const char *
shown(const char *word, char *buf, size_t len)
{
	size_t i;

	for (i = 0; word[i] != '\0' && i + 1 < len && i < SHOWN_WORD_MAX;
	    i++)
		buf[i] = (word[i] < 0x20 || word[i] == 0x7f) ? '?' : word[i];
	buf[i] = '\0';
	return buf;
}

static bool
is_option(const struct token *t)
{
	return t->type == OPTION || t->type == OPTION_ARG;
}

/*
 * "on|off", "HOST": what a table accepts. Options only when asked: they
 * never make up for a missing argument.
 */
static void
describe(const struct token *table, bool options, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	buf[0] = '\0';
	for (; table->type != NOTOKEN && off < len; table++) {
		const char *what = table->type == HOST ||
		    table->type == HOSTLIST ? "HOST" : table->keyword;

		if (table->type == ENDTOKEN || (!options && is_option(table)))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "|" : "",
		    what);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static bool
may_end(const struct token *table)
{
	for (; table->type != NOTOKEN; table++)
		if (table->type == ENDTOKEN || table->type == HOSTLIST)
			return true;
	return false;
}

static int
add_host(struct ctl_command *cmd, const char *word, char *err,
    size_t errlen)
{
	char ip[INET6_ADDRSTRLEN], buf[SHOWN_WORD_MAX + 1];
	struct in6_addr a6;
	struct in_addr a4;
	char *copy;

	if (inet_pton(AF_INET, word, &a4) == 1)
		inet_ntop(AF_INET, &a4, ip, sizeof(ip));
	else if (inet_pton(AF_INET6, word, &a6) == 1)
		inet_ntop(AF_INET6, &a6, ip, sizeof(ip));
	else
		return parse_error(err, errlen, "invalid argument: '%s' is not "
		    "an IP address", shown(word, buf, sizeof(buf)));
	if ((copy = strdup(ip)) == NULL)
		return parse_error(err, errlen, "out of memory");
	cmd->hosts[cmd->nhosts++] = copy;
	return 0;
}

/* Keywords: an exact match wins, else the only keyword word begins. */
static const struct token *
match_keyword(const char *word, const struct token *table, char *err,
    size_t errlen)
{
	const struct token *found = NULL, *t;
	char choices[256] = "", buf[SHOWN_WORD_MAX + 1];
	size_t len = strlen(word), off = 0, matches = 0;

	for (t = table; t->type != NOTOKEN; t++) {
		if (t->type != KEYWORD || len == 0 ||
		    strncmp(word, t->keyword, len) != 0)
			continue;
		if (strcmp(word, t->keyword) == 0)
			return t;
		found = t;
		matches++;
		if (off < sizeof(choices))
			off += (size_t)snprintf(choices + off,
			    sizeof(choices) - off, "%s%s", off ? ", " : "",
			    t->keyword);
	}
	if (matches == 1)
		return found;
	if (matches > 1)
		parse_error(err, errlen, "ambiguous argument: '%s' (%s)",
		    shown(word, buf, sizeof(buf)), choices);
	else
		err[0] = '\0';
	return NULL;
}

static const struct token *
match_token(const char *word, const struct token *table,
    struct ctl_command *cmd, char *err, size_t errlen)
{
	const struct token *t;
	char buf[SHOWN_WORD_MAX + 1], what[128];

	if ((t = match_keyword(word, table, err, errlen)) != NULL)
		return t;
	if (err[0] != '\0')
		return NULL;
	for (t = table; t->type != NOTOKEN; t++) {
		if (t->type == HOST || t->type == HOSTLIST)
			return add_host(cmd, word, err, errlen) == 0 ? t : NULL;
	}
	if (table[0].type == ENDTOKEN && table[1].type == NOTOKEN)
		parse_error(err, errlen, "unknown argument: '%s' (nothing may "
		    "follow)", shown(word, buf, sizeof(buf)));
	else {
		describe(table, true, what, sizeof(what));
		parse_error(err, errlen, "unknown argument: '%s' (expected "
		    "%s)", shown(word, buf, sizeof(buf)), what);
	}
	return NULL;
}

static bool
has_options(const struct token *table)
{
	for (; table->type != NOTOKEN; table++)
		if (is_option(table))
			return true;
	return false;
}

/* The option word names, up to any "=": exact, else the only prefix. */
static const struct token *
match_option(const char *word, size_t len, const struct token *table,
    char *err, size_t errlen)
{
	const struct token *found = NULL, *t;
	char buf[SHOWN_WORD_MAX + 1], what[128];
	size_t matches = 0;

	for (t = table; len > 2 && t->type != NOTOKEN; t++) {
		if (!is_option(t) || strncmp(word, t->keyword, len) != 0)
			continue;
		if (t->keyword[len] == '\0')
			return t;
		found = t;
		matches++;
	}
	if (matches == 1)
		return found;
	describe(table, true, what, sizeof(what));
	parse_error(err, errlen, "%s option: '%s' (expected %s)", matches > 1 ?
	    "ambiguous" : "unknown", shown(word, buf, sizeof(buf)), what);
	return NULL;
}

/* The options are hold's: --flush is the only flag, --reason the value. */
static void
set_flag(struct ctl_command *cmd, const struct token *t)
{
	if (strcmp(t->keyword, "--flush") == 0)
		cmd->flush = true;
}

static int
set_value(struct ctl_command *cmd, const struct token *t, const char *value,
    char *err, size_t errlen)
{
	if (strcmp(t->keyword, "--reason") != 0)
		return 0;
	/* The last one given counts, as with getopt. */
	free(cmd->reason);
	if ((cmd->reason = strdup(value)) == NULL)
		return parse_error(err, errlen, "out of memory");
	return 0;
}

/* argv[*i] is an option; one with a separate value consumes the next. */
static int
parse_option(int argc, char *const argv[], int *i, const struct token *table,
    struct ctl_command *cmd, char *err, size_t errlen)
{
	const char *word = argv[*i], *eq = strchr(word, '=');
	const struct token *t;

	t = match_option(word, eq != NULL ? (size_t)(eq - word) :
	    strlen(word), table, err, errlen);
	if (t == NULL)
		return -EINVAL;
	if (t->type == OPTION) {
		if (eq != NULL)
			return parse_error(err, errlen, "option '%s' takes no "
			    "argument", t->keyword);
		set_flag(cmd, t);
		return 0;
	}
	if (eq != NULL)
		return set_value(cmd, t, eq + 1, err, errlen);
	if (*i + 1 >= argc)
		return parse_error(err, errlen, "missing argument: option "
		    "'%s' needs a value", t->keyword);
	return set_value(cmd, t, argv[++*i], err, errlen);
}

int
ctl_parse(int argc, char *const argv[], struct ctl_command *cmd, char *err,
    size_t errlen)
{
	const struct token *table = t_main, *t;
	char what[128];
	int i;

	memset(cmd, 0, sizeof(*cmd));
	err[0] = '\0';
	if (argc < 0)
		argc = 0;
	if ((cmd->hosts = calloc((size_t)argc + 1, sizeof(char *))) == NULL)
		return parse_error(err, errlen, "out of memory");
	for (i = 0; i < argc; i++) {
		if (argv[i][0] == '-' && has_options(table)) {
			if (parse_option(argc, argv, &i, table, cmd, err,
			    errlen) < 0) {
				ctl_command_free(cmd);
				return -EINVAL;
			}
			continue;
		}
		if ((t = match_token(argv[i], table, cmd, err, errlen)) ==
		    NULL) {
			ctl_command_free(cmd);
			return -EINVAL;
		}
		if (t->action != CTL_ACTION_NONE)
			cmd->action = t->action;
		if (t->type != HOSTLIST)
			table = t->next;
	}
	if (!may_end(table)) {
		describe(table, false, what, sizeof(what));
		ctl_command_free(cmd);
		return parse_error(err, errlen, "missing argument: expected %s",
		    what);
	}
	return 0;
}

void
ctl_command_free(struct ctl_command *cmd)
{
	size_t i;

	for (i = 0; i < cmd->nhosts; i++)
		free(cmd->hosts[i]);
	free(cmd->hosts);
	free(cmd->reason);
	memset(cmd, 0, sizeof(*cmd));
}

const char *
ctl_action_name(enum ctl_action action)
{
	switch (action) {
	case CTL_ACTION_STATUS: return "status";
	case CTL_ACTION_SHOW: return "show";
	case CTL_ACTION_RECHECK: return "recheck";
	case CTL_ACTION_DRY_RUN_ON: return "dry-run on";
	case CTL_ACTION_DRY_RUN_OFF: return "dry-run off";
	case CTL_ACTION_RELOAD: return "reload";
	case CTL_ACTION_VERSION: return "version";
	case CTL_ACTION_HOLD: return "hold";
	case CTL_ACTION_RELEASE: return "release";
	case CTL_ACTION_METRICS: return "metrics";
	case CTL_ACTION_NONE: break;
	}
	return "none";
}
