/*
 * LMTP: a 2xx greeting (multi-line allowed), LHLO answered with 250. With
 * --lmtp-to, a transaction up to the recipient: MAIL FROM and RCPT TO, each
 * expecting 2xx, then RSET and QUIT together. Never DATA: no mail is
 * delivered.
 */
#include "checks.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define LMTP_REASON_LINE	160	/* reply bytes quoted in a reason */
#define BYE_WAIT_MS		500	/* the verdict is in: a short goodbye */

struct lmtp_reply {
	int code;
	const char *last;	/* the final line, for reasons */
	size_t lastlen;
};

static bool
is_code(const char *line, size_t len)
{
	return len >= 3 && line[0] >= '1' && line[0] <= '5' &&
	    line[1] >= '0' && line[1] <= '9' &&
	    line[2] >= '0' && line[2] <= '9' &&
	    (len == 3 || line[3] == ' ' || line[3] == '-');
}

static int
lmtp_fail(struct conn *c, enum check_status status, const char *what,
    const char *line, size_t len)
{
	char shown[LMTP_REASON_LINE];

	str_sanitize_r(line, len, shown, sizeof(shown));
	return conn_fail(c, status, "%s%s", what, shown);
}

/*
 * An SMTP-style reply: "NNN-text" lines, then "NNN text". Every line
 * must carry the same code; at most CONN_MAX_CONT_LINES of them.
 */
static int
read_reply(struct conn *c, struct lmtp_reply *rep)
{
	const char *line;
	size_t len;
	int n;

	rep->code = 0;
	for (n = 0; n <= CONN_MAX_CONT_LINES; n++) {
		if (conn_read_line(c, &line, &len) < 0)
			return -1;
		if (!is_code(line, len))
			return lmtp_fail(c, CHECK_EREPLY, "malformed reply: ",
			    line, len);
		if (n > 0 && (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0') != rep->code)
			return lmtp_fail(c, CHECK_EREPLY, "reply code changed "
			    "within a reply: ", line, len);
		rep->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (len == 3 || line[3] == ' ') {
			rep->last = line;
			rep->lastlen = len;
			return 0;
		}
	}
	return conn_fail(c, CHECK_ETOOMANY, "more than %d reply lines",
	    CONN_MAX_CONT_LINES);
}

/* Send a command (step names it) and require a 2xx reply. */
static int
lmtp_cmd(struct conn *c, const char *step, const char *cmd, const char *arg,
    enum check_status status)
{
	struct lmtp_reply rep;

	c->step = step;
	if (conn_printf(c, "%s%s\r\n", cmd, arg) < 0 ||
	    read_reply(c, &rep) < 0)
		return -1;
	if (rep.code / 100 != 2)
		return lmtp_fail(c, status, "", rep.last, rep.lastlen);
	return 0;
}

/*
 * Polite: RSET after a transaction, then QUIT, in one send (LMTP servers
 * pipeline, RFC 2033); their replies do not change the verdict reached.
 */
static void
lmtp_goodbye(struct conn *c, bool rset)
{
	struct check_result saved = *c->res;
	struct lmtp_reply rep;

	c->step = "QUIT";
	if (c->deadline > now_ms() + BYE_WAIT_MS)
		c->deadline = now_ms() + BYE_WAIT_MS;
	if (conn_printf(c, "%sQUIT\r\n", rset ? "RSET\r\n" : "") == 0 &&
	    (!rset || read_reply(c, &rep) == 0))
		(void)read_reply(c, &rep);
	*c->res = saved;
}

int
check_lmtp(struct conn *c, const struct check_target *t)
{
	const char *from = t->env->proto_opts[POPT_LMTP_FROM];
	const char *to = t->env->proto_opts[POPT_LMTP_TO];
	struct lmtp_reply rep;
	char addr[1024];

	c->step = "banner";
	if (read_reply(c, &rep) < 0)
		return -1;
	if (rep.code / 100 != 2)
		return lmtp_fail(c, CHECK_EBANNER, "", rep.last, rep.lastlen);
	if (lmtp_cmd(c, "LHLO", "LHLO ", "poolmond", CHECK_ELMTP) < 0)
		return -1;
	if (to != NULL) {
		snprintf(addr, sizeof(addr), "<%s>", from != NULL ? from : "");
		if (lmtp_cmd(c, "MAIL", "MAIL FROM:", addr, CHECK_ELMTP) < 0)
			return -1;
		snprintf(addr, sizeof(addr), "<%s>", to);
		if (lmtp_cmd(c, "RCPT", "RCPT TO:", addr, CHECK_ELMTP) < 0)
			return -1;
	}
	lmtp_goodbye(c, to != NULL);
	return 0;
}
