/*
 * IMAP: the greeting must be "* OK". With credentials: STARTTLS first when
 * a plain port offers it, then LOGIN with the password as a literal (any
 * byte is safe in one), expecting the tagged OK, then LOGOUT. As in poolmon
 * 0.7, a server that disables LOGIN without offering STARTTLS is a
 * configuration warning, not a failure.
 */
#include "checks.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "credentials.h"
#include "util.h"

#define LITERAL_MINUS_MAX	4096	/* RFC 7888: LITERAL- up to this */
#define IMAP_REASON_LINE	160	/* reply bytes quoted in a reason */
#define BYE_WAIT_MS		500	/* the verdict is in: a short goodbye */

/* What imap_reply() accepts besides the tagged OK. */
#define REPLY_CONT	0x1	/* a "+" continuation request */
#define REPLY_BYE	0x2	/* an untagged BYE (LOGOUT) */

enum { IMAP_TAGGED_OK, IMAP_CONTINUE };

struct imap {
	struct conn *c;
	const struct check_target *t;
	const struct credentials *creds;	/* NULL: no login */
	unsigned int tagno;
	char tag[16];
	bool have_caps;
	bool starttls;
	bool logindisabled;
	bool literal_plus;
	bool literal_minus;
};

static bool
atom_is(const char *atom, size_t len, const char *name)
{
	return len == strlen(name) && strncasecmp(atom, name, len) == 0;
}

static void
cap_note(struct imap *im, const char *atom, size_t len)
{
	if (atom_is(atom, len, "STARTTLS"))
		im->starttls = true;
	else if (atom_is(atom, len, "LOGINDISABLED"))
		im->logindisabled = true;
	else if (atom_is(atom, len, "LITERAL+"))
		im->literal_plus = true;
	else if (atom_is(atom, len, "LITERAL-"))
		im->literal_minus = true;
}

/* A capability list, up to the end or a ']' closing a response code. */
static void
caps_parse(struct imap *im, const char *s, size_t len)
{
	size_t i = 0, n;

	im->have_caps = true;
	im->starttls = im->logindisabled = false;
	im->literal_plus = im->literal_minus = false;
	while (i < len && s[i] != ']') {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		for (n = 0; i + n < len && s[i + n] != ' ' &&
		    s[i + n] != ']'; n++)
			;
		cap_note(im, s + i, n);
		i += n;
	}
}

/* "[CAPABILITY ...]" at the start of a response text, as Dovecot sends. */
static void
resp_code_caps(struct imap *im, const char *text, size_t len)
{
	static const char code[] = "[CAPABILITY ";

	if (line_starts(text, len, code, true))
		caps_parse(im, text + sizeof(code) - 1,
		    len - (sizeof(code) - 1));
}

/* Does s start with the word w (then a space or the end)? */
static bool
word_is(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);

	return line_starts(s, len, w, true) && (len == n || s[n] == ' ');
}

/* Fail with a reply line quoted (the password, if echoed, masked). */
static int
imap_fail(struct imap *im, enum check_status status, const char *what,
    const char *line, size_t len)
{
	char shown[IMAP_REASON_LINE];

	credentials_redact(im->creds, line, len, shown, sizeof(shown));
	return conn_fail(im->c, status, "%s%s", what, shown);
}

/* A healthy verdict that the operator should still hear about. */
static int
imap_warn(struct imap *im, const char *msg)
{
	(void)conn_fail(im->c, CHECK_OK, "%s", msg);
	im->c->res->warning = true;
	return 0;
}

static int
imap_untagged(struct imap *im, const char *data, size_t len, int accept,
    enum check_status status, const char *line, size_t linelen)
{
	if (word_is(data, len, "BYE")) {
		if (accept & REPLY_BYE)
			return 0;
		return imap_fail(im, status, "", line, linelen);
	}
	if (line_starts(data, len, "CAPABILITY ", true))
		caps_parse(im, data + 11, len - 11);
	else if (line_starts(data, len, "OK ", true))
		resp_code_caps(im, data + 3, len - 3);
	return 0;
}

static int
imap_tagged(struct imap *im, const char *rest, size_t len,
    enum check_status status)
{
	if (word_is(rest, len, "OK")) {
		if (len > 3)
			resp_code_caps(im, rest + 3, len - 3);
		return IMAP_TAGGED_OK;
	}
	if (word_is(rest, len, "NO") || word_is(rest, len, "BAD"))
		return imap_fail(im, status, "", rest, len);
	return imap_fail(im, CHECK_EREPLY, "unexpected reply: ", rest, len);
}

/*
 * Read up to the tagged reply of the current command, skipping untagged
 * lines (noting capabilities). NO, BAD and BYE fail with status and the
 * reply as the reason; a reply for another tag fails too.
 */
static int
imap_reply(struct imap *im, int accept, enum check_status status)
{
	struct conn *c = im->c;
	size_t len, taglen = strlen(im->tag);
	const char *line;
	int n;

	for (n = 0; n <= CONN_MAX_CONT_LINES; n++) {
		if (conn_read_line(c, &line, &len) < 0)
			return -1;
		if (line_starts(line, len, "* ", false)) {
			if (imap_untagged(im, line + 2, len - 2, accept,
			    status, line, len) < 0)
				return -1;
			continue;
		}
		if (line_starts(line, len, "+", false)) {
			if (accept & REPLY_CONT)
				return IMAP_CONTINUE;
			return imap_fail(im, CHECK_EREPLY,
			    "unexpected continuation: ", line, len);
		}
		if (len > taglen && memcmp(line, im->tag, taglen) == 0 &&
		    line[taglen] == ' ')
			return imap_tagged(im, line + taglen + 1,
			    len - taglen - 1, status);
		return imap_fail(im, CHECK_EREPLY, "reply for another tag: ",
		    line, len);
	}
	return conn_fail(c, CHECK_ETOOMANY, "more than %d untagged lines",
	    CONN_MAX_CONT_LINES);
}

/* Start a command: a fresh tag, then the text; no CRLF when more follows. */
static int __attribute__((format(printf, 3, 4)))
imap_cmd(struct imap *im, bool more, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	snprintf(im->tag, sizeof(im->tag), "P%u", ++im->tagno);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return conn_printf(im->c, "%s %s%s", im->tag, text,
	    more ? "" : "\r\n");
}

/* The rest of a command: a literal; {N} waits for the server's "+". */
static int
imap_literal(struct imap *im, const char *s, size_t len,
    enum check_status status)
{
	bool nonsync = im->literal_plus ||
	    (im->literal_minus && len <= LITERAL_MINUS_MAX);
	int r;

	if (conn_printf(im->c, "{%zu%s}\r\n", len, nonsync ? "+" : "") < 0)
		return -1;
	if (!nonsync) {
		if ((r = imap_reply(im, REPLY_CONT, status)) < 0)
			return -1;
		if (r != IMAP_CONTINUE)
			return conn_fail(im->c, CHECK_EREPLY, "command "
			    "completed before its literal was sent");
	}
	return conn_write(im->c, s, len);
}

/* A quoted string when the user name is plain ASCII, else a literal. */
static int
imap_astring(struct imap *im, const char *s, enum check_status status)
{
	char quoted[2 * CREDFILE_MAX + 3];
	size_t i, o = 0, len = strlen(s);

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return imap_literal(im, s, len, status);
	quoted[o++] = '"';
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			quoted[o++] = '\\';
		quoted[o++] = s[i];
	}
	quoted[o++] = '"';
	return conn_write(im->c, quoted, o);
}

static int
imap_banner(struct imap *im)
{
	struct conn *c = im->c;
	const char *line;
	size_t len;

	c->step = "banner";
	if (conn_read_line(c, &line, &len) < 0)
		return -1;
	if (!line_starts(line, len, "* OK", true) ||
	    (len > 4 && line[4] != ' '))
		return imap_fail(im, CHECK_EBANNER, "", line, len);
	if (len > 5)
		resp_code_caps(im, line + 5, len - 5);
	return 0;
}

static int
imap_capability(struct imap *im)
{
	im->c->step = "CAPABILITY";
	im->have_caps = false;
	if (imap_cmd(im, false, "CAPABILITY") < 0 ||
	    imap_reply(im, 0, CHECK_EREPLY) < 0)
		return -1;
	if (!im->have_caps)
		return conn_fail(im->c, CHECK_EREPLY, "no capability list");
	return 0;
}

/* STARTTLS, the handshake (verified as for implicit TLS), fresh caps. */
static int
imap_starttls(struct imap *im)
{
	const struct check_env *env = im->t->env;

	im->c->step = "STARTTLS";
	if (imap_cmd(im, false, "STARTTLS") < 0 ||
	    imap_reply(im, 0, CHECK_ESTARTTLS) < 0)
		return -1;
	if (conn_start_tls(im->c, env->ssl_ctx, im->t->verify_name,
	    env->ssl_verify) < 0)
		return -1;
	/* RFC 3501: capabilities learnt before TLS are void. */
	return imap_capability(im);
}

static int
imap_login(struct imap *im)
{
	const struct credentials *cr = im->creds;

	im->c->step = "LOGIN";
	conn_cork(im->c);
	if (imap_cmd(im, true, "LOGIN ") < 0 ||
	    imap_astring(im, cr->username, CHECK_ELOGIN) < 0 ||
	    conn_write(im->c, " ", 1) < 0 ||
	    imap_literal(im, cr->password, strlen(cr->password),
	    CHECK_ELOGIN) < 0 ||
	    conn_write(im->c, "\r\n", 2) < 0 ||
	    conn_uncork(im->c) < 0)
		return -1;
	return imap_reply(im, 0, CHECK_ELOGIN) < 0 ? -1 : 0;
}

/* Polite; its outcome does not change the verdict already reached. */
static void
imap_logout(struct imap *im)
{
	struct check_result saved = *im->c->res;
	const char *step = im->c->step;

	im->c->step = "LOGOUT";
	if (im->c->deadline > now_ms() + BYE_WAIT_MS)
		im->c->deadline = now_ms() + BYE_WAIT_MS;
	if (imap_cmd(im, false, "LOGOUT") == 0)
		(void)imap_reply(im, REPLY_BYE, CHECK_EREPLY);
	*im->c->res = saved;
	im->c->step = step;
}

/* With credentials: upgrade when offered, then log in if allowed. */
static int
imap_authenticate(struct imap *im)
{
	if (!im->have_caps && imap_capability(im) < 0)
		return -1;
	if (im->c->ssl == NULL && im->starttls) {
		im->c->res->tls_offered = true;
		if (imap_starttls(im) < 0)
			return -1;
	}
	if (im->c->ssl == NULL && check_cleartext_refused(im->c, im->t) < 0)
		return -1;
	im->c->step = "LOGIN";
	if (im->logindisabled && im->c->ssl == NULL)
		return imap_warn(im, "server announces LOGINDISABLED without "
		    "STARTTLS, login not checked; check "
		    "login_trusted_networks");
	if (im->logindisabled)
		return imap_warn(im, "server announces LOGINDISABLED even "
		    "over TLS, login not checked");
	return imap_login(im);
}

int
check_imap(struct conn *c, const struct check_target *t)
{
	struct imap im = { .c = c, .t = t };
	int r;

	if (t->env->creds.username != NULL)
		im.creds = &t->env->creds;
	if (imap_banner(&im) < 0)
		return -1;
	if (im.creds != NULL)
		r = imap_authenticate(&im);
	else if (im.logindisabled && !im.starttls && c->ssl == NULL)
		r = imap_warn(&im, "LOGINDISABLED without STARTTLS; check "
		    "login_trusted_networks");
	else
		r = 0;
	if (r == 0)
		imap_logout(&im);
	return r;
}
