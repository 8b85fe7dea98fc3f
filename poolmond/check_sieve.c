/*
 * ManageSieve (RFC 5804): the greeting, capability lines, must end in OK.
 * With credentials: STARTTLS first when a plain port offers it (the server
 * then lists its capabilities again), then AUTHENTICATE "PLAIN" with the
 * SASL string as its initial response, expecting OK, then LOGOUT. A
 * server that offers no SASL PLAIN (Dovecot without TLS under
 * disable_plaintext_auth) is a configuration warning, as IMAP's
 * LOGINDISABLED is.
 *
 * A line holds atoms and strings; a string is quoted, or a literal: {N}
 * or {N+} ending the line, N bytes, then the rest of the line. What a
 * server may send is bounded: a line by the connection's buffer, the
 * capability lines by CONN_MAX_CONT_LINES, a literal by its size and the
 * literals of a line by their count; the attempt's deadline bounds time.
 */
#include "checks.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "credentials.h"
#include "util.h"

#define SIEVE_LITERAL_MAX	4096	/* bytes of one literal */
#define SIEVE_LITERALS_MAX	4	/* literals in one line */
#define SIEVE_STRING_KEPT	1024	/* bytes kept of a string */
#define SIEVE_QUOTED_MAX	1024	/* RFC 5804: longer goes as a literal */
#define SIEVE_REPLY_SHOWN	512	/* a reply as a reason shows it */
#define SIEVE_REASON_LINE	160	/* reply bytes quoted in a reason */
#define BYE_WAIT_MS		500	/* the verdict is in: a short goodbye */

/* The base64 of "\0user\0password", and its NUL. */
#define SASL_PLAIN_MAX		((CREDFILE_MAX + 2 + 2) / 3 * 4 + 1)

enum reply_kind { REPLY_OK, REPLY_NO, REPLY_BYE };

struct sieve {
	struct conn *c;
	const struct check_target *t;
	const struct credentials *creds;	/* NULL: no login */
	enum check_status bad;	/* of input the protocol does not allow */
	const char *line;	/* what is left of the line being parsed */
	size_t len;
	const char *raw;	/* that line whole, for reasons */
	size_t rawlen;
	int literals;		/* in the line being parsed */
	bool starttls;
	bool have_sasl;
	bool sasl_plain;
	/* With credentials, the SASL string that carries them: masked in
	 * every reason, as the password is, and wiped at the end. */
	char sasl[SASL_PLAIN_MAX];
	size_t sasl_len;
};

struct sieve_string {
	char s[SIEVE_STRING_KEPT];
	size_t len;		/* bytes kept: the rest is dropped */
};

struct sieve_reply {
	enum reply_kind kind;
	char shown[SIEVE_REPLY_SHOWN];	/* as it came: NO (CODE) "text" */
	size_t len;
};

static void
shown_add(struct sieve_reply *rep, const char *p, size_t n)
{
	if (n > sizeof(rep->shown) - 1 - rep->len)
		n = sizeof(rep->shown) - 1 - rep->len;
	memcpy(rep->shown + rep->len, p, n);
	rep->len += n;
}

/*
 * Fail with what the server said quoted, secrets masked: the password
 * (a server may echo it), then the SASL string that carries it.
 */
static int
sieve_fail(struct sieve *s, enum check_status status, const char *what,
    const char *text, size_t len)
{
	struct credentials sasl = { NULL, s->sasl_len > 0 ? s->sasl : NULL };
	char masked[SIEVE_REPLY_SHOWN], shown[SIEVE_REASON_LINE];

	credentials_redact(s->creds, text, len, masked, sizeof(masked));
	credentials_redact(&sasl, masked, strlen(masked), shown,
	    sizeof(shown));
	return conn_fail(s->c, status, "%s%s", what, shown);
}

/* The line being parsed is not what the protocol allows. */
static int
sieve_malformed(struct sieve *s, const char *what)
{
	return sieve_fail(s, s->bad, what, s->raw, s->rawlen);
}

/* A healthy verdict that the operator should still hear about. */
static int
sieve_warn(struct sieve *s, const char *msg)
{
	(void)conn_fail(s->c, CHECK_OK, "%s", msg);
	s->c->res->warning = true;
	return 0;
}

static int
sieve_read_line(struct sieve *s)
{
	if (conn_read_line(s->c, &s->line, &s->len) < 0)
		return -1;
	s->raw = s->line;
	s->rawlen = s->len;
	return 0;
}

/* The next line of the server's: a capability, a response... */
static int
sieve_next_line(struct sieve *s)
{
	s->literals = 0;
	return sieve_read_line(s);
}

static void
skip(struct sieve *s, size_t n)
{
	s->line += n;
	s->len -= n;
}

static bool
at_string(const struct sieve *s)
{
	return s->len > 0 && (s->line[0] == '"' || s->line[0] == '{');
}

static bool
at_char(const struct sieve *s, char ch)
{
	return s->len > 0 && s->line[0] == ch;
}

static void
string_add(struct sieve_string *str, char ch)
{
	if (str->len + 1 < sizeof(str->s))
		str->s[str->len++] = ch;
	str->s[str->len] = '\0';
}

/* "...", with \" and \\ for a quote and a backslash. */
static int
quoted(struct sieve *s, struct sieve_string *out)
{
	size_t i;
	char ch;

	for (i = 1; i < s->len; i++) {
		ch = s->line[i];
		if (ch == '"') {
			skip(s, i + 1);
			return 0;
		}
		if (ch == '\\' && i + 1 < s->len)
			ch = s->line[++i];
		string_add(out, ch);
	}
	return sieve_malformed(s, "malformed string: ");
}

/* {N} or {N+} ending the line, N bytes, then the line goes on. */
static int
literal(struct sieve *s, struct sieve_string *out)
{
	const char *data;
	size_t i, n = 0;

	for (i = 1; i < s->len && s->line[i] >= '0' && s->line[i] <= '9';
	    i++)
		if (n <= SIEVE_LITERAL_MAX)
			n = n * 10 + (size_t)(s->line[i] - '0');
	if (i == 1)
		return sieve_malformed(s, "malformed literal: ");
	if (n > SIEVE_LITERAL_MAX)
		return conn_fail(s->c, CHECK_ETOOLONG, "literal of %.*s bytes, "
		    "more than %d", (int)(i - 1 < 20 ? i - 1 : 20), s->line + 1,
		    SIEVE_LITERAL_MAX);
	if (i < s->len && s->line[i] == '+')
		i++;
	if (i + 1 != s->len || s->line[i] != '}')
		return sieve_malformed(s, "malformed literal: ");
	if (++s->literals > SIEVE_LITERALS_MAX)
		return conn_fail(s->c, CHECK_ETOOMANY, "more than %d literals "
		    "in a line", SIEVE_LITERALS_MAX);
	if (conn_read_bytes(s->c, n, &data) < 0)
		return -1;
	for (i = 0; i < n; i++)
		string_add(out, data[i]);
	return sieve_read_line(s);
}

static int
string(struct sieve *s, struct sieve_string *out)
{
	out->len = 0;
	out->s[0] = '\0';
	if (at_char(s, '"'))
		return quoted(s, out);
	return literal(s, out);
}

static bool
string_is(const struct sieve_string *str, const char *what)
{
	return str->len == strlen(what) && strncasecmp(str->s, what,
	    str->len) == 0;
}

/* Does the space-separated list hold word, in any case? */
static bool
list_has(const struct sieve_string *list, const char *word)
{
	size_t i = 0, n, wlen = strlen(word);

	while (i < list->len) {
		n = strcspn(list->s + i, " ");
		if (n == wlen && strncasecmp(list->s + i, word, n) == 0)
			return true;
		i += n + 1;
	}
	return false;
}

/* "NAME" or "NAME" "value". */
static int
capability(struct sieve *s)
{
	struct sieve_string name, value;

	value.len = 0;
	value.s[0] = '\0';
	if (string(s, &name) < 0)
		return -1;
	if (at_char(s, ' ')) {
		skip(s, 1);
		if (!at_string(s))
			return sieve_malformed(s, "malformed capability: ");
		if (string(s, &value) < 0)
			return -1;
	}
	if (s->len != 0)
		return sieve_malformed(s, "malformed capability: ");
	if (string_is(&name, "STARTTLS"))
		s->starttls = true;
	else if (string_is(&name, "SASL")) {
		s->have_sasl = true;
		s->sasl_plain = list_has(&value, "PLAIN");
	}
	return 0;
}

/* "(CODE ...)", strings in it parsed as such; shown as it came. */
static int
response_code(struct sieve *s, struct sieve_reply *rep)
{
	struct sieve_string str;

	shown_add(rep, " (", 2);
	skip(s, 1);
	while (!at_char(s, ')')) {
		if (s->len == 0)
			return sieve_malformed(s, "malformed reply: ");
		if (!at_string(s)) {
			shown_add(rep, s->line, 1);
			skip(s, 1);
			continue;
		}
		if (string(s, &str) < 0)
			return -1;
		shown_add(rep, "\"", 1);
		shown_add(rep, str.s, str.len);
		shown_add(rep, "\"", 1);
	}
	skip(s, 1);
	shown_add(rep, ")", 1);
	return 0;
}

/* OK, NO or BYE, then a response code and a string, each optional. */
static int
reply(struct sieve *s, struct sieve_reply *rep)
{
	static const char *const kinds[] = { "OK", "NO", "BYE" };
	struct sieve_string text;
	size_t n, i;

	rep->len = 0;
	for (n = 0; n < s->len && s->line[n] != ' ' && s->line[n] != '(';
	    n++)
		;
	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (n == strlen(kinds[i]) &&
		    strncasecmp(s->line, kinds[i], n) == 0)
			break;
	if (i == ARRAY_SIZE(kinds))
		return sieve_malformed(s, "malformed reply: ");
	rep->kind = (enum reply_kind)i;
	shown_add(rep, kinds[i], n);
	skip(s, n);
	if (at_char(s, ' '))
		skip(s, 1);
	if (at_char(s, '(') && response_code(s, rep) < 0)
		return -1;
	if (at_char(s, ' '))
		skip(s, 1);
	if (at_string(s)) {
		if (string(s, &text) < 0)
			return -1;
		shown_add(rep, " \"", 2);
		shown_add(rep, text.s, text.len);
		shown_add(rep, "\"", 1);
	}
	if (s->len != 0)
		return sieve_malformed(s, "malformed reply: ");
	return 0;
}

/*
 * The capability lines, then OK (else end_status and the reply): the
 * greeting, and again after STARTTLS. What is learnt replaces what was.
 */
static int
sieve_capabilities(struct sieve *s, enum check_status end_status)
{
	struct sieve_reply rep;
	int n;

	s->starttls = s->have_sasl = s->sasl_plain = false;
	for (n = 0; n <= CONN_MAX_CONT_LINES; n++) {
		if (sieve_next_line(s) < 0)
			return -1;
		if (at_string(s)) {
			if (capability(s) < 0)
				return -1;
			continue;
		}
		if (reply(s, &rep) < 0)
			return -1;
		if (rep.kind != REPLY_OK)
			return sieve_fail(s, end_status, "", rep.shown,
			    rep.len);
		return 0;
	}
	return conn_fail(s->c, CHECK_ETOOMANY, "more than %d capability lines",
	    CONN_MAX_CONT_LINES);
}

/* The response to a command: OK, else status and the reply. */
static int
sieve_response(struct sieve *s, enum check_status status)
{
	struct sieve_reply rep;

	if (sieve_next_line(s) < 0)
		return -1;
	/* A string alone is a SASL challenge: PLAIN's initial response
	 * leaves none to ask, and no other command has one. */
	if (at_string(s))
		return sieve_fail(s, CHECK_EREPLY, "unexpected challenge: ",
		    s->raw, s->rawlen);
	if (reply(s, &rep) < 0)
		return -1;
	if (rep.kind != REPLY_OK)
		return sieve_fail(s, status, "", rep.shown, rep.len);
	return 0;
}

/* STARTTLS, the handshake (verified as for implicit TLS), fresh caps. */
static int
sieve_starttls(struct sieve *s)
{
	const struct check_env *env = s->t->env;

	s->c->step = "STARTTLS";
	if (conn_write(s->c, "STARTTLS\r\n", 10) < 0 ||
	    sieve_response(s, CHECK_ESTARTTLS) < 0)
		return -1;
	if (conn_start_tls(s->c, env->ssl_ctx, s->t->verify_name,
	    env->ssl_verify) < 0)
		return -1;
	/* RFC 5804: the server lists its capabilities again, and those
	 * learnt before TLS are void. */
	return sieve_capabilities(s, CHECK_ESTARTTLS);
}

/* The SASL PLAIN string: "\0user\0password" in base64. */
static int
sasl_plain_encode(struct sieve *s)
{
	const struct credentials *cr = s->creds;
	size_t ulen = strlen(cr->username), plen = strlen(cr->password);
	unsigned char plain[CREDFILE_MAX + 2];

	if (ulen + plen + 2 > sizeof(plain))
		return conn_fail(s->c, CHECK_EINTERNAL, "credentials too long");
	plain[0] = '\0';
	memcpy(plain + 1, cr->username, ulen);
	plain[1 + ulen] = '\0';
	memcpy(plain + 2 + ulen, cr->password, plen);
	s->sasl_len = (size_t)EVP_EncodeBlock((unsigned char *)s->sasl, plain,
	    (int)(ulen + plen + 2));
	explicit_bzero(plain, sizeof(plain));
	return 0;
}

/* AUTHENTICATE "PLAIN" with the SASL string as its initial response,
 * quoted or, if longer than a quoted string may be, as a literal. */
static int
sieve_authenticate(struct sieve *s)
{
	bool lit = s->sasl_len > SIEVE_QUOTED_MAX;
	char head[64];

	if (lit)
		snprintf(head, sizeof(head), "AUTHENTICATE \"PLAIN\" "
		    "{%zu+}\r\n", s->sasl_len);
	else
		snprintf(head, sizeof(head), "AUTHENTICATE \"PLAIN\" \"");
	conn_cork(s->c);
	if (conn_write(s->c, head, strlen(head)) < 0 ||
	    conn_write(s->c, s->sasl, s->sasl_len) < 0 ||
	    conn_write(s->c, lit ? "\r\n" : "\"\r\n", lit ? 2 : 3) < 0 ||
	    conn_uncork(s->c) < 0)
		return -1;
	return sieve_response(s, CHECK_ELOGIN);
}

/* With credentials: upgrade when offered, then log in if PLAIN is. */
static int
sieve_login(struct sieve *s)
{
	struct conn *c = s->c;

	if (c->ssl == NULL && s->starttls) {
		c->res->tls_offered = true;
		if (sieve_starttls(s) < 0)
			return -1;
	}
	if (c->ssl == NULL && check_cleartext_refused(c, s->t) < 0)
		return -1;
	c->step = "AUTHENTICATE";
	if (s->have_sasl && !s->sasl_plain && c->ssl == NULL)
		return sieve_warn(s, "server offers no SASL PLAIN without "
		    "TLS, login not checked; check login_trusted_networks");
	if (s->have_sasl && !s->sasl_plain)
		return sieve_warn(s, "server offers no SASL PLAIN even over "
		    "TLS, login not checked");
	return sieve_authenticate(s);
}

/* Polite; its outcome does not change the verdict already reached. */
static void
sieve_logout(struct sieve *s)
{
	struct check_result saved = *s->c->res;
	const char *step = s->c->step;

	s->c->step = "LOGOUT";
	if (s->c->deadline > now_ms() + BYE_WAIT_MS)
		s->c->deadline = now_ms() + BYE_WAIT_MS;
	if (conn_write(s->c, "LOGOUT\r\n", 8) == 0)
		(void)sieve_response(s, CHECK_EREPLY);
	*s->c->res = saved;
	s->c->step = step;
}

int
check_sieve(struct conn *c, const struct check_target *t)
{
	struct sieve s = { .c = c, .t = t, .bad = CHECK_EBANNER };
	int r;

	if (t->env->creds.username != NULL)
		s.creds = &t->env->creds;
	c->step = "banner";
	if (s.creds != NULL && sasl_plain_encode(&s) < 0)
		return -1;
	r = sieve_capabilities(&s, CHECK_EBANNER);
	s.bad = CHECK_EREPLY;
	if (r == 0 && s.creds != NULL)
		r = sieve_login(&s);
	if (r == 0)
		sieve_logout(&s);
	explicit_bzero(s.sasl, sizeof(s.sasl));
	return r;
}
