/*
 * POP3: the greeting must be "+OK". With credentials: STLS when a plain
 * port lists it in CAPA (poolmon 0.7 never upgraded), then USER and PASS,
 * then QUIT. As in 0.7, "-ERR Plaintext authentication disallowed" is a
 * configuration warning, not a failure.
 */
#include "checks.h"

#include <string.h>
#include <strings.h>

#include "credentials.h"
#include "util.h"

#define POP3_REASON_LINE	160	/* reply bytes quoted in a reason */
#define BYE_WAIT_MS		500	/* the verdict is in: a short goodbye */

struct pop3 {
	struct conn *c;
	const struct check_target *t;
	const struct credentials *creds;	/* NULL: no login */
	bool stls;
};

static int
pop3_fail(struct pop3 *p, enum check_status status, const char *line,
    size_t len)
{
	char shown[POP3_REASON_LINE];

	credentials_redact(p->creds, line, len, shown, sizeof(shown));
	return conn_fail(p->c, status, "%s", shown);
}

static bool
is_status(const char *line, size_t len, const char *status)
{
	size_t n = strlen(status);

	return line_starts(line, len, status, true) &&
	    (len == n || line[n] == ' ');
}

/*
 * One status line: 1 for +OK, 0 for -ERR (kept in *line for the caller),
 * -1 with the failure recorded for anything else.
 */
static int
pop3_status(struct pop3 *p, const char **line, size_t *len)
{
	if (conn_read_line(p->c, line, len) < 0)
		return -1;
	if (is_status(*line, *len, "+OK"))
		return 1;
	if (is_status(*line, *len, "-ERR"))
		return 0;
	return pop3_fail(p, CHECK_EREPLY, *line, *len);
}

/* A command whose argument may be long (a user name, the password). */
static int
pop3_send(struct pop3 *p, const char *cmd, const char *arg)
{
	char buf[CREDFILE_MAX + 16];
	size_t clen = strlen(cmd), alen = strlen(arg);
	int r;

	if (clen + alen + 3 > sizeof(buf))
		return conn_fail(p->c, CHECK_EINTERNAL, "argument too long");
	memcpy(buf, cmd, clen);
	buf[clen] = ' ';
	memcpy(buf + clen + 1, arg, alen);
	memcpy(buf + clen + 1 + alen, "\r\n", 2);
	r = conn_write(p->c, buf, clen + alen + 3);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

/* "Plaintext authentication disallowed", after any response code. */
static bool
plaintext_disallowed(const char *line, size_t len)
{
	static const char what[] = "plaintext authentication disallowed";
	size_t n = sizeof(what) - 1, i;

	for (i = 0; i + n <= len; i++)
		if (strncasecmp(line + i, what, n) == 0)
			return true;
	return false;
}

static int
pop3_banner(struct pop3 *p)
{
	const char *line;
	size_t len;

	p->c->step = "banner";
	if (conn_read_line(p->c, &line, &len) < 0)
		return -1;
	if (!is_status(line, len, "+OK"))
		return pop3_fail(p, CHECK_EBANNER, line, len);
	return 0;
}

/* CAPA's list, up to the "." line; a server without CAPA has no STLS. */
static int
pop3_capa(struct pop3 *p)
{
	const char *line;
	size_t len;
	int n, r;

	p->c->step = "CAPA";
	if (conn_write(p->c, "CAPA\r\n", 6) < 0 ||
	    (r = pop3_status(p, &line, &len)) < 0)
		return -1;
	if (r == 0)
		return 0;
	for (n = 0; n <= CONN_MAX_CONT_LINES; n++) {
		if (conn_read_line(p->c, &line, &len) < 0)
			return -1;
		if (len == 1 && line[0] == '.')
			return 0;
		if (is_status(line, len, "STLS"))
			p->stls = true;
	}
	return conn_fail(p->c, CHECK_ETOOMANY, "more than %d CAPA lines",
	    CONN_MAX_CONT_LINES);
}

static int
pop3_stls(struct pop3 *p)
{
	const struct check_env *env = p->t->env;
	const char *line;
	size_t len;
	int r;

	p->c->step = "STLS";
	if (conn_write(p->c, "STLS\r\n", 6) < 0 ||
	    (r = pop3_status(p, &line, &len)) < 0)
		return -1;
	if (r == 0)
		return pop3_fail(p, CHECK_ESTARTTLS, line, len);
	return conn_start_tls(p->c, env->ssl_ctx, p->t->verify_name,
	    env->ssl_verify);
}

static int
pop3_warn_plaintext(struct pop3 *p)
{
	(void)conn_fail(p->c, CHECK_OK, "server disallows plaintext "
	    "authentication, login not checked; check "
	    "login_trusted_networks");
	p->c->res->warning = true;
	return 0;
}

/* USER then PASS, each answered by +OK; -ERR fails with its text. */
static int
pop3_login(struct pop3 *p)
{
	static const char *const cmds[] = { "USER", "PASS" };
	const char *line;
	size_t len, i;
	int r;

	for (i = 0; i < 2; i++) {
		p->c->step = cmds[i];
		if (pop3_send(p, cmds[i], i == 0 ? p->creds->username :
		    p->creds->password) < 0 ||
		    (r = pop3_status(p, &line, &len)) < 0)
			return -1;
		if (r == 1)
			continue;
		if (plaintext_disallowed(line, len) && p->c->ssl == NULL)
			return pop3_warn_plaintext(p);
		return pop3_fail(p, CHECK_ELOGIN, line, len);
	}
	return 0;
}

/* Polite; its outcome does not change the verdict already reached. */
static void
pop3_quit(struct pop3 *p)
{
	struct check_result saved = *p->c->res;
	const char *step = p->c->step, *line;
	size_t len;

	p->c->step = "QUIT";
	if (p->c->deadline > now_ms() + BYE_WAIT_MS)
		p->c->deadline = now_ms() + BYE_WAIT_MS;
	if (conn_write(p->c, "QUIT\r\n", 6) == 0)
		(void)pop3_status(p, &line, &len);
	*p->c->res = saved;
	p->c->step = step;
}

int
check_pop3(struct conn *c, const struct check_target *t)
{
	struct pop3 p = { .c = c, .t = t };

	if (t->env->creds.username != NULL)
		p.creds = &t->env->creds;
	if (pop3_banner(&p) < 0)
		return -1;
	if (p.creds != NULL) {
		if (c->ssl == NULL && pop3_capa(&p) < 0)
			return -1;
		if (c->ssl == NULL && p.stls) {
			c->res->tls_offered = true;
			if (pop3_stls(&p) < 0)
				return -1;
		}
		if (c->ssl == NULL && check_cleartext_refused(c, t) < 0)
			return -1;
		if (pop3_login(&p) < 0)
			return -1;
	}
	pop3_quit(&p);
	return 0;
}
