/*
 * Parser of poolmonctl's command line. getopt_long() takes every option
 * in one pass and leaves the command's words in order ("-" in the option
 * string); the words are then walked through the command table, where
 * each table lists what may come next and ENDTOKEN means the command may
 * end there. A command's keyword in t_main names the options it takes.
 */
#include "parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SHOWN_WORD_MAX	64
#define TIMEOUT_MAX_S	86400

enum token_type {
	NOTOKEN,		/* end of a table */
	ENDTOKEN,		/* the command may end here */
	KEYWORD,
	HOST,			/* one IP address */
	HOSTLIST,		/* IP addresses up to the end */
};

struct token {
	enum token_type type;
	const char *keyword;
	enum ctl_action action;
	unsigned options;	/* CTL_OPT_* the command takes */
	const struct token *next;
};

static const struct token t_end[] = {
	{ ENDTOKEN, "", CTL_ACTION_NONE, 0, NULL },
	{ NOTOKEN, "", CTL_ACTION_NONE, 0, NULL },
};

static const struct token t_host[] = {
	{ HOST, "", CTL_ACTION_NONE, 0, t_end },
	{ NOTOKEN, "", CTL_ACTION_NONE, 0, NULL },
};

static const struct token t_hostlist[] = {
	{ HOSTLIST, "", CTL_ACTION_NONE, 0, NULL },
	{ NOTOKEN, "", CTL_ACTION_NONE, 0, NULL },
};

static const struct token t_dry_run[] = {
	{ KEYWORD, "on", CTL_ACTION_DRY_RUN_ON, 0, t_end },
	{ KEYWORD, "off", CTL_ACTION_DRY_RUN_OFF, 0, t_end },
	{ NOTOKEN, "", CTL_ACTION_NONE, 0, NULL },
};

static const struct token t_main[] = {
	{ KEYWORD, "status", CTL_ACTION_STATUS, 0, t_end },
	{ KEYWORD, "show", CTL_ACTION_SHOW, 0, t_host },
	{ KEYWORD, "recheck", CTL_ACTION_RECHECK, CTL_OPT_NO_WAIT,
	    t_hostlist },
	{ KEYWORD, "dry-run", CTL_ACTION_NONE, 0, t_dry_run },
	{ KEYWORD, "reload", CTL_ACTION_RELOAD, 0, t_end },
	{ KEYWORD, "version", CTL_ACTION_VERSION, 0, t_end },
	{ KEYWORD, "hold", CTL_ACTION_HOLD, CTL_OPT_REASON | CTL_OPT_FLUSH,
	    t_host },
	{ KEYWORD, "release", CTL_ACTION_RELEASE, 0, t_host },
	{ KEYWORD, "metrics", CTL_ACTION_METRICS, 0, t_end },
	{ KEYWORD, "watch", CTL_ACTION_WATCH, CTL_OPT_SCANS, t_end },
	{ NOTOKEN, "", CTL_ACTION_NONE, 0, NULL },
};

/* getopt_long() values of the options without a short form. */
enum long_only_opt {
	OPT_NO_WAIT = 256,
	OPT_REASON,
	OPT_FLUSH,
	OPT_SCANS,
};

static const struct option long_opts[] = {
	{ "socket",	required_argument, NULL, 's' },
	{ "json",	no_argument,	   NULL, 'j' },
	{ "timeout",	required_argument, NULL, 't' },
	{ "no-wait",	no_argument,	   NULL, OPT_NO_WAIT },
	{ "reason",	required_argument, NULL, OPT_REASON },
	{ "flush",	no_argument,	   NULL, OPT_FLUSH },
	{ "scans",	no_argument,	   NULL, OPT_SCANS },
	{ "help",	no_argument,	   NULL, 'h' },
	{ "version",	no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* The commands' own options, for "--flush is an option of hold only". */
static const struct {
	unsigned bit;
	const char *name;
} cmd_options[] = {
	{ CTL_OPT_NO_WAIT, "--no-wait" },
	{ CTL_OPT_REASON, "--reason" },
	{ CTL_OPT_FLUSH, "--flush" },
	{ CTL_OPT_SCANS, "--scans" },
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

/* ------------------------------------------------------------------ */
/* Options */

/* The option getopt_long() refused: "--name..." as typed, or "-c". */
static const char *
bad_option(char *const argv[], char *buf, size_t len)
{
	char shortopt[3] = { '-', (char)optopt, '\0' };
	const char *word = optind > 0 ? argv[optind - 1] : "";

	if (strncmp(word, "--", 2) == 0 || optopt <= 0 || optopt > 0x7f)
		return shown(word, buf, len);
	return shown(shortopt, buf, len);
}

static int
option_error(int c, char *const argv[], char *err, size_t errlen)
{
	char buf[SHOWN_WORD_MAX + 1];
	const char *word = bad_option(argv, buf, sizeof(buf));
	const char *eq = strchr(word, '=');

	if (c == ':')
		return parse_error(err, errlen, "missing argument: option "
		    "'%s' needs a value", word);
	/* getopt_long() knew the name ("--flush=yes"): the value is wrong. */
	if (strncmp(word, "--", 2) == 0 && eq != NULL && optopt != 0)
		return parse_error(err, errlen, "option '%.*s' takes no "
		    "argument", (int)(eq - word), word);
	return parse_error(err, errlen, "unknown option '%s'", word);
}

static int
set_timeout(struct ctl_cmdline *cl, const char *arg, char *err,
    size_t errlen)
{
	char buf[SHOWN_WORD_MAX + 1];
	long v;

	if (parse_long(arg, 1, TIMEOUT_MAX_S, &v) < 0)
		return parse_error(err, errlen, "--timeout '%s': expected 1 to "
		    "%d seconds", shown(arg, buf, sizeof(buf)), TIMEOUT_MAX_S);
	cl->timeout_s = (int)v;
	return 0;
}

/* One option; 0 to go on, 1 to stop (help, version), or -EINVAL. */
static int
take_option(int c, char *const argv[], struct ctl_cmdline *cl,
    enum ctl_parse_result *result, char *err, size_t errlen)
{
	switch (c) {
	case 's': cl->socket = optarg; return 0;
	case 'j': cl->json = true; return 0;
	case 't': return set_timeout(cl, optarg, err, errlen);
	case OPT_NO_WAIT: cl->given |= CTL_OPT_NO_WAIT; cl->no_wait = true;
		return 0;
	/* The last --reason counts. */
	case OPT_REASON: cl->given |= CTL_OPT_REASON; cl->reason = optarg;
		return 0;
	case OPT_FLUSH: cl->given |= CTL_OPT_FLUSH; cl->flush = true;
		return 0;
	case OPT_SCANS: cl->given |= CTL_OPT_SCANS; cl->scans = true;
		return 0;
	case 'h': *result = CTL_PARSE_HELP; return 1;
	case 'V': *result = CTL_PARSE_VERSION; return 1;
	default: return option_error(c, argv, err, errlen);
	}
}

/*
 * Every option, wherever it stands; the other words, in order, into
 * words. "--" ends the options: whatever follows is words.
 */
static int
take_options(int argc, char *argv[], struct ctl_cmdline *cl, char **words,
    int *nwords, enum ctl_parse_result *result, char *err, size_t errlen)
{
	int c, r;

	optind = 0;		/* glibc: start over, for every call */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-:s:jt:hV", long_opts, NULL)) !=
	    -1) {
		if (c == 1) {
			words[(*nwords)++] = optarg;
			continue;
		}
		if ((r = take_option(c, argv, cl, result, err, errlen)) != 0)
			return r;
	}
	while (optind < argc)
		words[(*nwords)++] = argv[optind++];
	return 0;
}

/* ------------------------------------------------------------------ */
/* Command words */

/* "on|off", "HOST": what a table accepts. */
static void
describe(const struct token *table, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	buf[0] = '\0';
	for (; table->type != NOTOKEN && off < len; table++) {
		const char *what = table->type == HOST ||
		    table->type == HOSTLIST ? "HOST" : table->keyword;

		if (table->type == ENDTOKEN)
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
add_host(struct ctl_cmdline *cl, const char *word, char *err,
    size_t errlen)
{
	char ip[INET6_ADDRSTRLEN], buf[SHOWN_WORD_MAX + 1];
	char *copy;

	/* In the director's (inet_ntop) form. */
	if (ip_canonical(word, ip, sizeof(ip)) < 0)
		return parse_error(err, errlen, "invalid argument: '%s' is not "
		    "an IP address", shown(word, buf, sizeof(buf)));
	if ((copy = strdup(ip)) == NULL)
		return parse_error(err, errlen, "out of memory");
	cl->hosts[cl->nhosts++] = copy;
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
    struct ctl_cmdline *cl, char *err, size_t errlen)
{
	const struct token *t;
	char buf[SHOWN_WORD_MAX + 1], what[128];

	if ((t = match_keyword(word, table, err, errlen)) != NULL)
		return t;
	if (err[0] != '\0')
		return NULL;
	for (t = table; t->type != NOTOKEN; t++) {
		if (t->type == HOST || t->type == HOSTLIST)
			return add_host(cl, word, err, errlen) == 0 ? t : NULL;
	}
	if (table[0].type == ENDTOKEN && table[1].type == NOTOKEN)
		parse_error(err, errlen, "unknown argument: '%s' (nothing may "
		    "follow)", shown(word, buf, sizeof(buf)));
	else {
		describe(table, what, sizeof(what));
		parse_error(err, errlen, "unknown argument: '%s' (expected "
		    "%s)", shown(word, buf, sizeof(buf)), what);
	}
	return NULL;
}

/* The words through the tables; *options gets what the command takes. */
static int
match_words(int nwords, char *const words[], struct ctl_cmdline *cl,
    unsigned *options, char *err, size_t errlen)
{
	const struct token *table = t_main, *t;
	char what[128];
	int i;

	for (i = 0; i < nwords; i++) {
		if ((t = match_token(words[i], table, cl, err, errlen)) == NULL)
			return -EINVAL;
		if (t->action != CTL_ACTION_NONE)
			cl->action = t->action;
		*options |= t->options;
		if (t->type != HOSTLIST)
			table = t->next;
	}
	if (!may_end(table)) {
		describe(table, what, sizeof(what));
		return parse_error(err, errlen, "missing argument: expected %s",
		    what);
	}
	return 0;
}

/* An option given to a command that does not take it. */
static int
check_options(const struct ctl_cmdline *cl, unsigned options, char *err,
    size_t errlen)
{
	const struct token *t;
	size_t i;

	for (i = 0; i < sizeof(cmd_options) / sizeof(cmd_options[0]); i++) {
		if (!(cl->given & cmd_options[i].bit) ||
		    (options & cmd_options[i].bit))
			continue;
		for (t = t_main; t->type != NOTOKEN; t++)
			if (t->options & cmd_options[i].bit)
				break;
		return parse_error(err, errlen, "%s is an option of %s only",
		    cmd_options[i].name, t->keyword);
	}
	return 0;
}

/* ------------------------------------------------------------------ */

int
ctl_cmdline_parse(int argc, char *argv[], const char *default_socket,
    struct ctl_cmdline *cl, char *err, size_t errlen)
{
	enum ctl_parse_result result = CTL_PARSE_RUN;
	unsigned options = 0;
	char **words;
	int nwords = 0, r;

	memset(cl, 0, sizeof(*cl));
	cl->socket = default_socket;
	err[0] = '\0';
	if (argc < 1)
		argc = 1;
	words = calloc((size_t)argc, sizeof(char *));
	cl->hosts = calloc((size_t)argc, sizeof(char *));
	if (words == NULL || cl->hosts == NULL)
		r = parse_error(err, errlen, "out of memory");
	else if ((r = take_options(argc, argv, cl, words, &nwords, &result,
	    err, errlen)) == 0 &&
	    (r = match_words(nwords, words, cl, &options, err, errlen)) == 0)
		r = check_options(cl, options, err, errlen);
	free(words);
	if (r < 0) {
		ctl_cmdline_free(cl);
		return r;
	}
	return (int)result;
}

void
ctl_cmdline_free(struct ctl_cmdline *cl)
{
	size_t i;

	for (i = 0; i < cl->nhosts; i++)
		free(cl->hosts[i]);
	free(cl->hosts);
	cl->hosts = NULL;
	cl->nhosts = 0;
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
	case CTL_ACTION_METRICS: return "metrics";
	case CTL_ACTION_WATCH: return "watch";
	case CTL_ACTION_VERSION: return "version";
	case CTL_ACTION_HOLD: return "hold";
	case CTL_ACTION_RELEASE: return "release";
	case CTL_ACTION_NONE: break;
	}
	return "none";
}
