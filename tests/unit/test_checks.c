/*
 * The protocol checks against scripted fake servers (the script engine of
 * tests/tools/fakeserver.c, on 127.0.0.1), the credential file, and the
 * bounded PTR lookup with its cache.
 */
#define FAKESERVER_NO_MAIN
#include "../tools/fakeserver.c"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "check.h"
#include "child.h"
#include "credentials.h"
#include "log.h"
#include "net.h"
#include "pool.h"
#include "tls.h"
#include "util.h"
#include "unit.h"

#define END	NULL

static char tmpdir[] = "/tmp/poolmon-test-checks.XXXXXX";

/* ------------------------------------------------------------ harness */

struct fake {
	pid_t pid;
	uint16_t port;
};

/* One connection on 127.0.0.1 playing a NULL-terminated script. */
static void
fake_start(struct fake *f, const char *const *steps)
{
	int lfd, fd, n;

	for (n = 0; steps[n] != NULL; n++)
		;
	lfd = fs_listen("127.0.0.1", 0, SOCK_STREAM, &f->port);
	CHECK(lfd >= 0);
	f->pid = fork();
	if (f->pid == 0) {
		fd = accept(lfd, NULL, NULL);
		close(lfd);
		_exit(fd < 0 || fs_play(fd, n, (char *const *)steps) < 0 ?
		    2 : 0);
	}
	close(lfd);
}

/* 0 when the fake saw everything its script expected. */
static int
fake_end(struct fake *f)
{
	int status = 0;

	while (waitpid(f->pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static void
env_init(struct check_env *env, int timeout_ms)
{
	memset(env, 0, sizeof(*env));
	env->timeout_ms = timeout_ms;
	env->proto_opts[POPT_LMTP_FROM] = "";
}

static void
env_login(struct check_env *env, const char *user, const char *pass)
{
	env->creds.username = (char *)user;
	env->creds.password = (char *)pass;
}

/* One attempt against a fake, the target's tls_seen as given; returns the
 * fake's verdict on our side. */
static int
run_seen(const struct check_env *env, enum mail_proto proto,
    struct check_result *res, const char *const *steps, bool tls_seen)
{
	struct fake f = { 0, 0 };
	struct portspec p;
	struct check_target t = { .env = env, .ip = "127.0.0.1",
	    .verify_name = "127.0.0.1", .tls_seen = tls_seen };

	fake_start(&f, steps);
	p = (struct portspec){ f.port, proto, false };
	t.port = &p;
	memset(res, 0, sizeof(*res));
	check_port_once(&t, res);
	return fake_end(&f);
}

static int
run(const struct check_env *env, enum mail_proto proto,
    struct check_result *res, const char *const *steps)
{
	return run_seen(env, proto, res, steps, false);
}

#define EXPECT_RESULT(res, st, why) do {				\
	CHECK((res).status == (st));					\
	CHECK_STR((res).reason, (why));					\
} while (0)

/* ------------------------------------------------------------ IMAP */

static void
test_imap_banner(void)
{
	static const char *const ok[] = { "line:* OK ready",
	    "expect:P1 LOGOUT", "line:* BYE Logging out",
	    "line:P1 OK Logout completed.", END };
	static const char *const bye[] = { "line:* BYE Too busy", END };
	static const char *const junk[] = { "line:* OKAY", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	CHECK(run(&env, PROTO_IMAP, &res, ok) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(!res.warning);
	CHECK(run(&env, PROTO_IMAP, &res, bye) == 0);
	EXPECT_RESULT(res, CHECK_EBANNER, "banner: * BYE Too busy");
	CHECK(run(&env, PROTO_IMAP, &res, junk) == 0);
	EXPECT_RESULT(res, CHECK_EBANNER, "banner: * OKAY");
}

static void
test_imap_split_greeting(void)
{
	static const char *const split[] = { "send:* O", "sleep:100",
	    "send:K rea", "sleep:100", "send:dy\\r", "sleep:50", "send:\\n",
	    "expect:P1 LOGOUT", END };
	static const char *const slow[] = { "send:* O", "sleep:200",
	    "send:K rea", "sleep:300", "line:dy", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	CHECK(run(&env, PROTO_IMAP, &res, split) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	/* The deadline covers the whole greeting, not each packet. */
	env_init(&env, 400);
	run(&env, PROTO_IMAP, &res, slow);
	EXPECT_RESULT(res, CHECK_ETIMEOUT, "banner: timed out after 1 s");
}

static void
test_imap_never_answers(void)
{
	static const char *const hang[] = { "hang", END };
	struct check_env env;
	struct check_result res;
	int64_t t0 = now_ms();

	env_init(&env, 300);
	run(&env, PROTO_IMAP, &res, hang);
	EXPECT_RESULT(res, CHECK_ETIMEOUT, "banner: timed out after 1 s");
	CHECK(now_ms() - t0 < 2000);
}

static void
test_imap_hostile_bytes(void)
{
	static const char *const huge[] = { "send:* OK ",
	    "repeat:10000:A", "send:\\r\\n", END };
	static const char *const nul_first[] = { "send:\\0\\0* OK\\xff\\r\\n",
	    END };
	static const char *const nul_data[] = {
	    "send:* OK hi\\0there \\xff\\xfe\\r\\n", "expect:P1 LOGOUT", END };
	static const char *const lf_only[] = { "send:* OK lf\\n",
	    "expect:P1 LOGOUT", "send:P1 OK\\n", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	run(&env, PROTO_IMAP, &res, huge);
	EXPECT_RESULT(res, CHECK_ETOOLONG,
	    "banner: reply line longer than 8192 bytes");
	CHECK(run(&env, PROTO_IMAP, &res, nul_first) == 0);
	EXPECT_RESULT(res, CHECK_EBANNER, "banner: ??* OK?");
	/* NUL and non-UTF-8 bytes after a good status are just data. */
	CHECK(run(&env, PROTO_IMAP, &res, nul_data) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(run(&env, PROTO_IMAP, &res, lf_only) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
}

/* No LITERAL+: the password waits for the server's "+". */
static void
test_imap_login_sync_literal(void)
{
	static const char *const s[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready",
	    "expect:P1 LOGIN \"we\\\\\\\\ird\\\\\"user\" {10}",
	    "line:+ OK", "expect:p@ss {w}\"d",
	    "line:* CAPABILITY IMAP4rev1 IDLE",
	    "line:P1 OK [CAPABILITY IMAP4rev1] Logged in",
	    "expect:P2 LOGOUT", "line:* BYE Logging out", "line:P2 OK", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "we\\ird\"user", "p@ss {w}\"d");
	CHECK(run(&env, PROTO_IMAP, &res, s) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
}

static void
test_imap_login_literal_plus(void)
{
	/* Caps from CAPABILITY when the banner has none; 8-bit user name
	 * goes as a literal too. */
	static const char *const s[] = { "line:* OK ready",
	    "expect:P1 CAPABILITY",
	    "line:* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN",
	    "line:P1 OK done", "expect:P2 LOGIN {5+}", "expect:j\xc3\xb6rg {6+}",
	    "expect:secret", "line:P2 OK Logged in", "expect:P3 LOGOUT", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "j\xc3\xb6rg", "secret");
	CHECK(run(&env, PROTO_IMAP, &res, s) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
}

static void
test_imap_login_refused(void)
{
	static const char *const no[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 LITERAL+] ready",
	    "expect:P1 LOGIN \"user\" {6+}", "expect:secret",
	    "line:P1 NO [AUTHENTICATIONFAILED] Authentication failed.", END };
	static const char *const bad[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 LITERAL+] ready", "read", "read",
	    "line:P1 BAD Error in IMAP command", END };
	static const char *const tag[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 LITERAL+] ready", "read", "read",
	    "line:* OK still here", "line:X9 OK Logged in", END };
	static const char *const bye[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 LITERAL+] ready", "read", "read",
	    "line:* BYE Server shutting down.", END };
	static const char *const literal_no[] = {
	    "line:* OK [CAPABILITY IMAP4rev1] ready", "read",
	    "line:P1 NO Literal too large", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	CHECK(run(&env, PROTO_IMAP, &res, no) == 0);
	EXPECT_RESULT(res, CHECK_ELOGIN,
	    "LOGIN: NO [AUTHENTICATIONFAILED] Authentication failed.");
	run(&env, PROTO_IMAP, &res, bad);
	EXPECT_RESULT(res, CHECK_ELOGIN, "LOGIN: BAD Error in IMAP command");
	run(&env, PROTO_IMAP, &res, tag);
	EXPECT_RESULT(res, CHECK_EREPLY,
	    "LOGIN: reply for another tag: X9 OK Logged in");
	run(&env, PROTO_IMAP, &res, bye);
	EXPECT_RESULT(res, CHECK_ELOGIN, "LOGIN: * BYE Server shutting down.");
	run(&env, PROTO_IMAP, &res, literal_no);
	EXPECT_RESULT(res, CHECK_ELOGIN, "LOGIN: NO Literal too large");
}

static void
test_imap_untagged_flood(void)
{
	static const char *const s[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 LITERAL+] ready", "read", "read",
	    "repeat:300:* OK noise\\r\\n", "line:P1 OK", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	run(&env, PROTO_IMAP, &res, s);
	EXPECT_RESULT(res, CHECK_ETOOMANY, "LOGIN: more than 200 untagged lines");
}

/* A server echoing the password must not get it into a reason. */
static void
test_imap_password_redacted(void)
{
	static const char *const s[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 LITERAL+] ready", "read", "read",
	    "line:P1 NO wrong password 'Xy7-secret' for user", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "Xy7-secret");
	run(&env, PROTO_IMAP, &res, s);
	EXPECT_RESULT(res, CHECK_ELOGIN,
	    "LOGIN: NO wrong password '***' for user");
	CHECK(strstr(res.reason, "Xy7") == NULL);
}

/* poolmon 0.7: LOGINDISABLED without STARTTLS is a warning, healthy. */
static void
test_imap_logindisabled(void)
{
	static const char *const s[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready",
	    "expect:P1 LOGOUT", "line:P1 OK", END };
	static const char *const tls_offered[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready",
	    "expect:P1 LOGOUT", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	CHECK(run(&env, PROTO_IMAP, &res, s) == 0);
	CHECK(res.status == CHECK_OK && res.warning);
	CHECK(strstr(res.reason, "LOGIN: server announces LOGINDISABLED "
	    "without STARTTLS") == res.reason);
	CHECK(strstr(res.reason, "check login_trusted_networks") != NULL);
	/* Without credentials too, as 0.7 warned on the banner alone. */
	env_init(&env, 2000);
	CHECK(run(&env, PROTO_IMAP, &res, s) == 0);
	CHECK(res.status == CHECK_OK && res.warning);
	CHECK(strstr(res.reason, "check login_trusted_networks") != NULL);
	/* With STARTTLS offered, nothing to warn about when not logging in. */
	CHECK(run(&env, PROTO_IMAP, &res, tls_offered) == 0);
	CHECK(res.status == CHECK_OK && !res.warning);
}

static void
test_imap_starttls_failures(void)
{
	static const char *const refused[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready",
	    "expect:P1 STARTTLS", "line:P1 NO TLS not available", END };
	/* Plaintext after the OK would be read as if it came over TLS. */
	static const char *const injected[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
	    "expect:P1 STARTTLS", "send:P1 OK Begin\\r\\n* OK injected\\r\\n",
	    "hang", END };
	static const char *const not_tls[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
	    "expect:P1 STARTTLS", "line:P1 OK Begin TLS negotiation now.",
	    "sleep:50", "line:this is not TLS at all", "hang", END };
	/* Capabilities from CAPABILITY when the greeting has none. */
	static const char *const asked[] = { "line:* OK hi",
	    "expect:P1 CAPABILITY", "line:* CAPABILITY IMAP4rev1 STARTTLS",
	    "line:P1 OK", "expect:P2 STARTTLS", "line:P2 BAD not now", END };
	struct check_env env;
	struct check_result res;
	char err[128];

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	env.ssl_ctx = tls_client_ctx_new(false, NULL, err, sizeof(err));
	CHECK(env.ssl_ctx != NULL);
	CHECK(run(&env, PROTO_IMAP, &res, refused) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS, "STARTTLS: NO TLS not available");
	CHECK(run(&env, PROTO_IMAP, &res, asked) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS, "STARTTLS: BAD not now");
	run(&env, PROTO_IMAP, &res, injected);
	EXPECT_RESULT(res, CHECK_ETLS,
	    "TLS: plaintext data after the TLS request");
	run(&env, PROTO_IMAP, &res, not_tls);
	CHECK(res.status == CHECK_ETLS);
	CHECK(strncmp(res.reason, "TLS: ", 5) == 0);
	SSL_CTX_free(env.ssl_ctx);
}

/*
 * An on-path attacker strips STARTTLS: with --require-tls, or once the
 * backend has offered it, the password is never sent (the fake sees EOF,
 * no LOGIN); otherwise 0.7's cleartext login, noted in the result.
 */
static void
test_imap_starttls_stripped(void)
{
	static const char *const stripped[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready", "eof", END };
	static const char *const clear[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 LITERAL+] ready",
	    "expect:P1 LOGIN", "expect:secret", "line:P1 OK Logged in",
	    "expect:P2 LOGOUT", END };
	static const char *const offered[] = {
	    "line:* OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
	    "expect:P1 STARTTLS", "line:P1 NO not now", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	env.require_tls = true;
	CHECK(run_seen(&env, PROTO_IMAP, &res, stripped, false) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS, "LOGIN: STARTTLS not offered: "
	    "credentials are never sent without TLS (--require-tls)");
	CHECK(!res.cleartext_login);
	env.require_tls = false;
	CHECK(run_seen(&env, PROTO_IMAP, &res, stripped, true) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS, "LOGIN: STARTTLS no longer "
	    "offered (it was before): credentials not sent in clear");
	CHECK(run_seen(&env, PROTO_IMAP, &res, clear, false) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(res.cleartext_login && !res.tls_offered);
	/* The offer is reported, whatever comes of it. */
	CHECK(run_seen(&env, PROTO_IMAP, &res, offered, false) == 0);
	CHECK(res.status == CHECK_ESTARTTLS && res.tls_offered);
	CHECK(!res.cleartext_login);
}

static void
test_pop3_stls_stripped(void)
{
	static const char *const stripped[] = { "line:+OK ready",
	    "expect:CAPA", "line:+OK", "line:USER", "line:.", "eof", END };
	static const char *const clear[] = { "line:+OK ready",
	    "expect:CAPA", "line:+OK", "line:USER", "line:.",
	    "expect:USER user", "line:+OK", "expect:PASS secret",
	    "line:+OK in", "expect:QUIT", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	env.require_tls = true;
	CHECK(run_seen(&env, PROTO_POP3, &res, stripped, false) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS, "USER: STLS not offered: "
	    "credentials are never sent without TLS (--require-tls)");
	env.require_tls = false;
	CHECK(run_seen(&env, PROTO_POP3, &res, stripped, true) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS, "USER: STLS no longer offered "
	    "(it was before): credentials not sent in clear");
	CHECK(run_seen(&env, PROTO_POP3, &res, clear, false) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(res.cleartext_login);
}

/* ------------------------------------------------------------ POP3 */

static void
test_pop3_banner(void)
{
	static const char *const ok[] = { "line:+OK Dovecot ready.",
	    "expect:QUIT", "line:+OK Logging out", END };
	static const char *const err[] = { "line:-ERR go away", END };
	static const char *const nul[] = { "send:+\\0OK\\r\\n", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	CHECK(run(&env, PROTO_POP3, &res, ok) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	run(&env, PROTO_POP3, &res, err);
	EXPECT_RESULT(res, CHECK_EBANNER, "banner: -ERR go away");
	run(&env, PROTO_POP3, &res, nul);
	EXPECT_RESULT(res, CHECK_EBANNER, "banner: +?OK");
}

static void
test_pop3_login(void)
{
	static const char *const ok[] = { "line:+OK ready", "expect:CAPA",
	    "line:+OK", "line:USER", "line:..dot-stuffed", "line:SASL PLAIN",
	    "line:.", "expect:USER user", "line:+OK",
	    "expect:PASS pass word", "line:+OK Logged in.", "expect:QUIT",
	    "line:+OK Logging out.", END };
	static const char *const wrong[] = { "line:+OK ready", "expect:CAPA",
	    "line:-ERR no CAPA here", "expect:USER user", "line:+OK",
	    "expect:PASS pass word",
	    "line:-ERR [AUTH] Authentication failed.", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "pass word");
	CHECK(run(&env, PROTO_POP3, &res, ok) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(run(&env, PROTO_POP3, &res, wrong) == 0);
	EXPECT_RESULT(res, CHECK_ELOGIN,
	    "PASS: -ERR [AUTH] Authentication failed.");
}

static void
test_pop3_plaintext_disallowed(void)
{
	/* PASS must not follow: the script expects QUIT right away. */
	static const char *const s[] = { "line:+OK ready", "expect:CAPA",
	    "line:+OK", "line:SASL PLAIN", "line:.", "expect:USER user",
	    "line:-ERR [AUTH] Plaintext authentication disallowed on "
	    "non-secure (SSL/TLS) connections.", "expect:QUIT", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	CHECK(run(&env, PROTO_POP3, &res, s) == 0);
	CHECK(res.status == CHECK_OK && res.warning);
	CHECK(strstr(res.reason, "USER: ") == res.reason);
	CHECK(strstr(res.reason, "check login_trusted_networks") != NULL);
}

static void
test_pop3_hostile(void)
{
	static const char *const capa_flood[] = { "line:+OK ready",
	    "expect:CAPA", "line:+OK", "repeat:300:X-CAP\\r\\n", END };
	static const char *const stls_refused[] = { "line:+OK ready",
	    "expect:CAPA", "line:+OK", "line:STLS", "line:.", "expect:STLS",
	    "line:-ERR TLS support isn't enabled.", END };
	static const char *const garbage[] = { "line:+OK ready",
	    "expect:CAPA", "line:-ERR", "expect:USER", "line:hello?", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	run(&env, PROTO_POP3, &res, capa_flood);
	EXPECT_RESULT(res, CHECK_ETOOMANY, "CAPA: more than 200 CAPA lines");
	CHECK(run(&env, PROTO_POP3, &res, stls_refused) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS,
	    "STLS: -ERR TLS support isn't enabled.");
	CHECK(run(&env, PROTO_POP3, &res, garbage) == 0);
	EXPECT_RESULT(res, CHECK_EREPLY, "USER: hello?");
}

/* ------------------------------------------------------------ LMTP */

static void
test_lmtp_banner(void)
{
	static const char *const multi[] = { "line:220-first line",
	    "line:220-second line", "line:220 ready", "expect:LHLO ",
	    "line:250-backend.test", "line:250-PIPELINING",
	    "line:250 ENHANCEDSTATUSCODES", "expect:QUIT", "line:221 2.0.0 Bye",
	    END };
	static const char *const endless[] = { "repeat:300:220-more\\r\\n",
	    END };
	static const char *const refused[] = { "line:554 5.3.2 no service",
	    END };
	static const char *const junk[] = { "line:hello", END };
	static const char *const mixed[] = { "line:220-a", "line:250 b", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	CHECK(run(&env, PROTO_LMTP, &res, multi) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	run(&env, PROTO_LMTP, &res, endless);
	EXPECT_RESULT(res, CHECK_ETOOMANY, "banner: more than 200 reply lines");
	run(&env, PROTO_LMTP, &res, refused);
	EXPECT_RESULT(res, CHECK_EBANNER, "banner: 554 5.3.2 no service");
	run(&env, PROTO_LMTP, &res, junk);
	EXPECT_RESULT(res, CHECK_EREPLY, "banner: malformed reply: hello");
	run(&env, PROTO_LMTP, &res, mixed);
	EXPECT_RESULT(res, CHECK_EREPLY,
	    "banner: reply code changed within a reply: 250 b");
}

static void
test_lmtp_transaction(void)
{
	/* RSET right after RCPT: never DATA. */
	static const char *const ok[] = { "line:220 ready", "expect:LHLO",
	    "line:250 ok", "expect:MAIL FROM:<>", "line:250 2.1.0 OK",
	    "expect:RCPT TO:<x@test>", "line:250 2.1.5 OK", "expect:RSET",
	    "line:250 2.0.0 OK", "expect:QUIT", "line:221 Bye", END };
	static const char *const rcpt[] = { "line:220 ready", "expect:LHLO",
	    "line:250 ok", "expect:MAIL FROM:<pm@test>", "line:250 OK",
	    "expect:RCPT TO:<x@test>",
	    "line:550 5.1.1 <x@test> User doesn't exist: x@test", END };
	static const char *const mail[] = { "line:220 ready", "expect:LHLO",
	    "line:250 ok", "expect:MAIL", "line:451 4.3.0 Temporary failure",
	    END };
	static const char *const lhlo[] = { "line:220 ready", "expect:LHLO",
	    "line:500 5.5.1 Unknown command", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env.proto_opts[POPT_LMTP_TO] = "x@test";
	CHECK(run(&env, PROTO_LMTP, &res, ok) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	env.proto_opts[POPT_LMTP_FROM] = "pm@test";
	CHECK(run(&env, PROTO_LMTP, &res, rcpt) == 0);
	EXPECT_RESULT(res, CHECK_ELMTP,
	    "RCPT: 550 5.1.1 <x@test> User doesn't exist: x@test");
	CHECK(run(&env, PROTO_LMTP, &res, mail) == 0);
	EXPECT_RESULT(res, CHECK_ELMTP, "MAIL: 451 4.3.0 Temporary failure");
	CHECK(run(&env, PROTO_LMTP, &res, lhlo) == 0);
	EXPECT_RESULT(res, CHECK_ELMTP, "LHLO: 500 5.5.1 Unknown command");
}

/* ------------------------------------------------------------ SIEVE */

/* Dovecot's greeting, in its words. */
#define SIEVE_CAPS(sasl)						\
	"line:\"IMPLEMENTATION\" \"Dovecot Pigeonhole\"",		\
	"line:\"SIEVE\" \"fileinto reject envelope vacation\"",		\
	"line:\"NOTIFY\" \"mailto\"", "line:\"SASL\" \"" sasl "\"",	\
	"line:\"VERSION\" \"1.0\""

static void
test_sieve_greeting(void)
{
	static const char *const ok[] = { SIEVE_CAPS("PLAIN LOGIN"),
	    "line:OK \"Dovecot ready.\"", "expect:LOGOUT",
	    "line:OK \"Logout completed.\"", END };
	/* Literals (a server's own and a client's form), CRLF and NUL in
	 * them, a response code with a string, LF alone, any case. */
	static const char *const literals[] = {
	    "send:\"IMPLEMENTATION\" {11}\\r\\nDove\\r\\ncot\\0X\\r\\n",
	    "send:{4+}\\r\\nSASL \"PLAIN\"\\n", "line:\"STARTTLS\"",
	    "send:ok (SASL {3}\\r\\nx)y) {5}\\r\\nready\\r\\n", "expect:LOGOUT",
	    END };
	static const char *const no[] = {
	    "line:NO \"Service unavailable\"", END };
	static const char *const bye[] = { SIEVE_CAPS("PLAIN"),
	    "line:BYE (TRYLATER) \"Too busy\"", END };
	static const char *const imap[] = { "line:* OK IMAP ready", END };
	static const char *const junk_cap[] = {
	    "line:\"SIEVE\" fileinto", END };
	static const char *const junk_after[] = { "line:OK \"hi\" there",
	    END };
	static const char *const split[] = { "send:\"SASL\" {5", "sleep:50",
	    "send:}\\r\\nPL", "sleep:50", "send:AIN\\r\\nO", "sleep:50",
	    "send:K\\r\\n", "expect:LOGOUT", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	CHECK(run(&env, PROTO_SIEVE, &res, ok) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(!res.warning && !res.tls_offered);
	CHECK(run(&env, PROTO_SIEVE, &res, literals) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(run(&env, PROTO_SIEVE, &res, split) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(run(&env, PROTO_SIEVE, &res, no) == 0);
	EXPECT_RESULT(res, CHECK_EBANNER, "banner: NO \"Service unavailable\"");
	CHECK(run(&env, PROTO_SIEVE, &res, bye) == 0);
	EXPECT_RESULT(res, CHECK_EBANNER,
	    "banner: BYE (TRYLATER) \"Too busy\"");
	CHECK(run(&env, PROTO_SIEVE, &res, imap) == 0);
	EXPECT_RESULT(res, CHECK_EBANNER,
	    "banner: malformed reply: * OK IMAP ready");
	CHECK(run(&env, PROTO_SIEVE, &res, junk_cap) == 0);
	EXPECT_RESULT(res, CHECK_EBANNER,
	    "banner: malformed capability: \"SIEVE\" fileinto");
	CHECK(run(&env, PROTO_SIEVE, &res, junk_after) == 0);
	EXPECT_RESULT(res, CHECK_EBANNER,
	    "banner: malformed reply: OK \"hi\" there");
}

/* What a hostile server may send is bounded: lines, literals, time. */
static void
test_sieve_hostile(void)
{
	static const char *const none[] = { "hang", END };
	static const char *const endless[] = {
	    "repeat:300:\"X-CAP\" \"more\"\\r\\n", END };
	static const char *const huge[] = {
	    "line:\"SIEVE\" {99999999}", "repeat:2000:xxxxxxxxxx", END };
	static const char *const absurd[] = {
	    "line:\"SIEVE\" {99999999999999999999999999999999}", END };
	static const char *const bad[] = { "line:\"SIEVE\" {12abc}", END };
	static const char *const not_last[] = { "line:{3} \"x\"", END };
	static const char *const empty[] = { "line:\"SIEVE\" {}", END };
	static const char *const unsent[] = { "line:\"SIEVE\" {100}",
	    "send:abc", "hang", END };
	static const char *const cut[] = { "line:\"SIEVE\" {100}",
	    "send:abc", END };
	static const char *const many[] = {
	    "send:OK (X {1}\\r\\na {1}\\r\\nb {1}\\r\\nc {1}\\r\\nd {1}\\r\\ne)\\r\\n",
	    END };
	static const char *const open_quote[] = { "line:\"SIEVE\" \"fi",
	    END };
	static const char *const open_code[] = { "line:NO (TRYLATER", END };
	static const char *const long_line[] = { "send:OK \"",
	    "repeat:1000:xxxxxxxxxx", "send:\"\\r\\n", END };
	static const struct {
		const char *const *script;
		enum check_status status;
		const char *reason;
	} cases[] = {
		{ none, CHECK_ETIMEOUT, "banner: timed out after 1 s" },
		{ endless, CHECK_ETOOMANY,
		    "banner: more than 200 capability lines" },
		{ huge, CHECK_ETOOLONG,
		    "banner: literal of 99999999 bytes, more than 4096" },
		{ absurd, CHECK_ETOOLONG, "banner: literal of "
		    "99999999999999999999 bytes, more than 4096" },
		{ bad, CHECK_EBANNER,
		    "banner: malformed literal: \"SIEVE\" {12abc}" },
		{ not_last, CHECK_EBANNER,
		    "banner: malformed literal: {3} \"x\"" },
		{ empty, CHECK_EBANNER,
		    "banner: malformed literal: \"SIEVE\" {}" },
		{ unsent, CHECK_ETIMEOUT, "banner: timed out after 1 s" },
		{ cut, CHECK_ECLOSED, "banner: connection closed" },
		{ many, CHECK_ETOOMANY, "banner: more than 4 literals in a line" },
		{ open_quote, CHECK_EBANNER,
		    "banner: malformed string: \"SIEVE\" \"fi" },
		{ open_code, CHECK_EBANNER,
		    "banner: malformed reply: NO (TRYLATER" },
		{ long_line, CHECK_ETOOLONG,
		    "banner: reply line longer than 8192 bytes" },
	};
	struct check_env env;
	struct check_result res;
	size_t i;

	env_init(&env, 1000);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run(&env, PROTO_SIEVE, &res, cases[i].script);
		EXPECT_RESULT(res, cases[i].status, cases[i].reason);
	}
}

static void
test_sieve_login(void)
{
	static const char *const ok[] = { SIEVE_CAPS("PLAIN LOGIN"),
	    "line:OK \"ready\"",
	    "expect:AUTHENTICATE \"PLAIN\" \"AHVzZXIAc2VjcmV0\"",
	    "line:OK \"Logged in.\"", "expect:LOGOUT", "line:OK", END };
	static const char *const wrong[] = { SIEVE_CAPS("PLAIN"),
	    "line:OK \"ready\"", "expect:AUTHENTICATE \"PLAIN\"",
	    "line:NO \"Authentication failed.\"", END };
	static const char *const code[] = { SIEVE_CAPS("PLAIN"),
	    "line:OK \"ready\"", "read",
	    "send:NO (AUTH-TOO-WEAK) {14}\\r\\nUse\\r\\nSTARTTLS.\\r\\n", END };
	static const char *const bye[] = { SIEVE_CAPS("PLAIN"),
	    "line:OK \"ready\"", "read", "line:BYE \"Shutting down\"", END };
	static const char *const challenge[] = { SIEVE_CAPS("PLAIN"),
	    "line:OK \"ready\"", "read", "line:\"\"", END };
	/* No PLAIN: nothing is sent but LOGOUT. */
	static const char *const no_plain[] = { SIEVE_CAPS(""),
	    "line:OK \"ready\"", "expect:LOGOUT", END };
	static const char *const sasl_literal[] = {
	    "send:{4}\\r\\nsasl {12}\\r\\nLOGIN PLAIN \\r\\n", "line:OK",
	    "expect:AUTHENTICATE \"PLAIN\"", "line:OK", "expect:LOGOUT",
	    END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	CHECK(run(&env, PROTO_SIEVE, &res, ok) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	CHECK(res.cleartext_login && !res.tls_offered);
	CHECK(run(&env, PROTO_SIEVE, &res, wrong) == 0);
	EXPECT_RESULT(res, CHECK_ELOGIN,
	    "AUTHENTICATE: NO \"Authentication failed.\"");
	CHECK(run(&env, PROTO_SIEVE, &res, code) == 0);
	EXPECT_RESULT(res, CHECK_ELOGIN,
	    "AUTHENTICATE: NO (AUTH-TOO-WEAK) \"Use??STARTTLS.\"");
	CHECK(run(&env, PROTO_SIEVE, &res, bye) == 0);
	EXPECT_RESULT(res, CHECK_ELOGIN,
	    "AUTHENTICATE: BYE \"Shutting down\"");
	CHECK(run(&env, PROTO_SIEVE, &res, challenge) == 0);
	EXPECT_RESULT(res, CHECK_EREPLY,
	    "AUTHENTICATE: unexpected challenge: \"\"");
	CHECK(run(&env, PROTO_SIEVE, &res, no_plain) == 0);
	CHECK(res.status == CHECK_OK && res.warning);
	CHECK_STR(res.reason, "AUTHENTICATE: server offers no SASL PLAIN "
	    "without TLS, login not checked; check login_trusted_networks");
	CHECK(run(&env, PROTO_SIEVE, &res, sasl_literal) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
}

/* A password too long for a quoted string goes as a literal. */
static void
test_sieve_login_literal(void)
{
	static char pass[2001], b64[2700], want[2710];
	static const char *s[] = { "line:\"SASL\" \"PLAIN\"", "line:OK",
	    "expect:AUTHENTICATE \"PLAIN\" {2676+}", want, "line:OK",
	    "expect:LOGOUT", END };
	unsigned char plain[2010];
	struct check_env env;
	struct check_result res;

	memset(pass, 'p', sizeof(pass) - 1);
	memcpy(plain, "\0user\0", 6);
	memcpy(plain + 6, pass, 2000);
	CHECK(EVP_EncodeBlock((unsigned char *)b64, plain, 2006) == 2676);
	snprintf(want, sizeof(want), "expect:%s", b64);
	env_init(&env, 2000);
	env_login(&env, "user", pass);
	CHECK(run(&env, PROTO_SIEVE, &res, s) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
}

/* A server echoing the password, or the SASL string carrying it, does
 * not get either into a reason. */
static void
test_sieve_secrets_masked(void)
{
	static const char *const s[] = { "line:\"SASL\" \"PLAIN\"",
	    "line:OK", "read",
	    "line:NO \"bad AHVzZXIAWHk3LXNlY3JldA== for Xy7-secret\"", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "Xy7-secret");
	CHECK(run(&env, PROTO_SIEVE, &res, s) == 0);
	EXPECT_RESULT(res, CHECK_ELOGIN,
	    "AUTHENTICATE: NO \"bad *** for ***\"");
}

static void
test_sieve_starttls(void)
{
	static const char *const refused[] = {
	    SIEVE_CAPS(""), "line:\"STARTTLS\"", "line:OK",
	    "expect:STARTTLS", "line:NO \"TLS not available\"", END };
	static const char *const injected[] = { "line:\"STARTTLS\"",
	    "line:OK", "expect:STARTTLS", "send:OK\\r\\n\"SASL\" \"PLAIN\"\\r\\n",
	    "hang", END };
	static const char *const stripped[] = { SIEVE_CAPS("PLAIN"),
	    "line:OK", "eof", END };
	struct check_env env;
	struct check_result res;
	char err[128];

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	env.ssl_ctx = tls_client_ctx_new(false, NULL, err, sizeof(err));
	CHECK(env.ssl_ctx != NULL);
	CHECK(run(&env, PROTO_SIEVE, &res, refused) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS,
	    "STARTTLS: NO \"TLS not available\"");
	CHECK(res.tls_offered && !res.cleartext_login);
	run(&env, PROTO_SIEVE, &res, injected);
	EXPECT_RESULT(res, CHECK_ETLS,
	    "TLS: plaintext data after the TLS request");
	/* Stripped: never AUTHENTICATE in clear (the fake sees EOF). */
	env.require_tls = true;
	CHECK(run_seen(&env, PROTO_SIEVE, &res, stripped, false) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS, "AUTHENTICATE: STARTTLS not "
	    "offered: credentials are never sent without TLS (--require-tls)");
	env.require_tls = false;
	CHECK(run_seen(&env, PROTO_SIEVE, &res, stripped, true) == 0);
	EXPECT_RESULT(res, CHECK_ESTARTTLS, "AUTHENTICATE: STARTTLS no "
	    "longer offered (it was before): credentials not sent in clear");
	CHECK(!res.cleartext_login);
	SSL_CTX_free(env.ssl_ctx);
}

/* Ports of no known protocol: any line in time passes. */
static void
test_other_port(void)
{
	static const char *const any[] = { "send:\\x01\\x02 whatever\\n", END };
	static const char *const none[] = { "hang", END };
	struct check_env env;
	struct check_result res;

	env_init(&env, 300);
	CHECK(run(&env, PROTO_BANNER, &res, any) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");
	run(&env, PROTO_BANNER, &res, none);
	EXPECT_RESULT(res, CHECK_ETIMEOUT, "banner: timed out after 1 s");
}

/*
 * One check process (child_run) of three ports, the third never
 * answering within its 600 ms; reads of the report pipe as they came,
 * each a string of port numbers ("012": one read of three reports).
 * Returns when the pipe closes; *ms: when the first read came.
 */
static void
child_reports(int64_t hard_in_ms, char *reads, size_t len, int64_t *ms)
{
	static const char *const any[] = { "send:hello\n", END };
	static const char *const none[] = { "hang", END };
	struct check_report rep[8];
	struct check_env env;
	struct portspec ports[3];
	struct fake f[3];
	struct check_job job = { .env = &env, .ports = ports, .nports = 3,
	    .ip = "127.0.0.1", .scan_id = 7, .backend = 4 };
	unsigned int seen = 0;
	int64_t t0 = now_ms();
	int i, p[2], status;
	size_t used = 0, k, got;
	ssize_t n;
	pid_t pid;

	env_init(&env, 600);
	for (i = 0; i < 3; i++) {
		fake_start(&f[i], i < 2 ? any : none);
		ports[i] = (struct portspec){ f[i].port, PROTO_BANNER, false };
	}
	CHECK(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		child_run(&job, p[1], now_ms() + hard_in_ms);
	}
	close(p[1]);
	*ms = -1;
	while ((n = read(p[0], rep, sizeof(rep))) > 0) {
		if (*ms < 0)
			*ms = now_ms() - t0;
		CHECK((size_t)n % sizeof(rep[0]) == 0);
		got = (size_t)n / sizeof(rep[0]);
		for (k = 0; k < got; k++) {
			CHECK(rep[k].magic == CHECK_REPORT_MAGIC);
			CHECK(rep[k].scan_id == 7 && rep[k].backend == 4);
			CHECK(rep[k].port < 3);
			CHECK(!(seen & (1u << rep[k].port)));
			seen |= 1u << rep[k].port;
			CHECK(rep[k].result.status == (rep[k].port < 2 ?
			    CHECK_OK : CHECK_ETIMEOUT));
			if (used + 2 < len)
				reads[used++] = (char)('0' + rep[k].port);
		}
		reads[used++] = '|';
	}
	reads[used] = '\0';
	close(p[0]);
	CHECK(seen == 7u);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0);
	for (i = 0; i < 3; i++)
		(void)fake_end(&f[i]);
}

/*
 * A check process's reports, each port's once with its own result: all
 * in one write when the last port ends (the quick ports' wait for the
 * hanging one's, so the daemon is woken once); those ready at the hard
 * deadline written then, if a port outlasts it.
 */
static void
test_child_reports(void)
{
	char reads[16];
	int64_t ms;

	child_reports(5000, reads, sizeof(reads), &ms);
	CHECK(strlen(reads) == 4 && reads[3] == '|');
	CHECK(strchr(reads, '0') && strchr(reads, '1') && reads[2] == '2');
	CHECK(ms >= 600);
	/* The hard deadline at 300 ms, before the third port's timeout. */
	child_reports(300, reads, sizeof(reads), &ms);
	CHECK(strlen(reads) == 5 && reads[2] == '|' && reads[3] == '2');
	CHECK(ms >= 300 && ms < 600);
}

/* A connection over a socketpair whose other end said data and closed. */
static void
conn_fed(struct conn *c, struct check_result *res, const char *data,
    size_t len, size_t max_read)
{
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	CHECK(write(sv[1], data, len) == (ssize_t)len);
	close(sv[1]);
	memset(res, 0, sizeof(*res));
	conn_attach(c, sv[0], 1000, res);
	c->max_read = max_read;
}

/* conn_read_bytes(): exactly n bytes whatever they hold, between lines,
 * arriving in pieces; at most a buffer's worth; EOF before them fails. */
static void
test_conn_read_bytes(void)
{
	static const char fed[] = "one\r\n01\r\n4\n6789tail\r\n";
	static char big[3 + CONN_LINE_MAX + 2];
	struct check_result res;
	struct conn c;
	const char *p;
	size_t len;

	conn_fed(&c, &res, fed, sizeof(fed) - 1, 4);
	CHECK(conn_read_line(&c, &p, &len) == 0 && len == 3);
	CHECK(conn_read_bytes(&c, 10, &p) == 0);
	CHECK(memcmp(p, "01\r\n4\n6789", 10) == 0);
	CHECK(conn_read_line(&c, &p, &len) == 0);
	CHECK_STR(p, "tail");
	CHECK(conn_read_bytes(&c, 1, &p) < 0);
	EXPECT_RESULT(res, CHECK_ECLOSED, "connect: connection closed");
	conn_close(&c);

	memcpy(big, "x\r\n", 3);
	memset(big + 3, 'y', CONN_LINE_MAX);
	memcpy(big + 3 + CONN_LINE_MAX, "\r\n", 2);
	conn_fed(&c, &res, big, sizeof(big), 1000);
	CHECK(conn_read_line(&c, &p, &len) == 0 && len == 1);
	CHECK(conn_read_bytes(&c, CONN_LINE_MAX + 1, &p) < 0);
	EXPECT_RESULT(res, CHECK_ETOOLONG,
	    "connect: 8193 bytes at once, more than 8192");
	CHECK(conn_read_bytes(&c, CONN_LINE_MAX, &p) == 0);
	CHECK(p[0] == 'y' && p[CONN_LINE_MAX - 1] == 'y');
	CHECK(conn_read_line(&c, &p, &len) == 0 && len == 0);
	conn_close(&c);
}

/* A SOCK_SEQPACKET pair keeps each send a record of its own: what one
 * recv returns is exactly what one send sent. */
static int
seqpacket_conn(struct conn *c, struct check_result *res)
{
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) == 0);
	memset(res, 0, sizeof(*res));
	conn_attach(c, sv[0], 1000, res);
	return sv[1];
}

static ssize_t
recv_record(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* conn_cork(): the parts go out as one send at conn_uncork(), or before
 * a read (a literal waiting for "+"); after a failure, or at the close,
 * none of what was gathered. */
static void
test_conn_cork(void)
{
	struct check_result res;
	struct conn c;
	const char *line;
	size_t len;
	char got[64];
	int peer;

	peer = seqpacket_conn(&c, &res);
	conn_cork(&c);
	CHECK(conn_write(&c, "P1 LOGIN ", 9) == 0);
	CHECK(conn_write(&c, "\"user\"", 6) == 0);
	CHECK(recv_record(peer, got, sizeof(got)) < 0 && errno == EAGAIN);
	CHECK(conn_printf(&c, " {%d}\r\n", 6) == 0);
	CHECK(send(peer, "+ OK\r\n", 6, 0) == 6);
	CHECK(conn_read_line(&c, &line, &len) == 0);
	CHECK_STR(line, "+ OK");
	CHECK(recv_record(peer, got, sizeof(got)) == 21);
	CHECK_STR(got, "P1 LOGIN \"user\" {6}\r\n");
	CHECK(conn_write(&c, "secret", 6) == 0);
	CHECK(conn_write(&c, "\r\n", 2) == 0);
	CHECK(conn_uncork(&c) == 0);
	CHECK(recv_record(peer, got, sizeof(got)) == 8);
	CHECK_STR(got, "secret\r\n");
	/* Uncorked: each write its own send again. */
	CHECK(conn_write(&c, "a", 1) == 0 && conn_write(&c, "b", 1) == 0);
	CHECK(recv_record(peer, got, sizeof(got)) == 1);
	CHECK(recv_record(peer, got, sizeof(got)) == 1);
	CHECK_STR(got, "b");
	/* A failure drops what was gathered, and the cork. */
	conn_cork(&c);
	CHECK(conn_write(&c, "P2 LOGIN ", 9) == 0);
	CHECK(conn_fail(&c, CHECK_EINTERNAL, "command too long") < 0);
	CHECK(conn_write(&c, "P3 LOGOUT\r\n", 11) == 0);
	CHECK(recv_record(peer, got, sizeof(got)) == 11);
	CHECK_STR(got, "P3 LOGOUT\r\n");
	/* Closing sends nothing that was gathered. */
	conn_cork(&c);
	CHECK(conn_write(&c, "never", 5) == 0);
	conn_close(&c);
	CHECK(recv_record(peer, got, sizeof(got)) == 0);	/* EOF */
	close(peer);
}

/*
 * A check's dialogue over a SOCK_SEQPACKET pair against a peer playing
 * "send:TEXT" and "recv:TEXT" steps: a recv step takes one record, which
 * must be TEXT whole, so each is what one send of the check carried.
 */
static void
run_records(const struct check_target *t, int (*dialogue)(struct conn *,
    const struct check_target *), struct check_result *res,
    const char *const *steps)
{
	struct conn c;
	char got[256];
	int peer, status, i;
	pid_t pid;

	peer = seqpacket_conn(&c, res);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct pollfd pfd = { peer, POLLIN, 0 };

		close(c.fd);
		for (i = 0; steps[i] != NULL; i++) {
			const char *arg = steps[i] + 5;

			if (strncmp(steps[i], "send:", 5) == 0 &&
			    send(peer, arg, strlen(arg), 0) < 0)
				_exit(2);
			if (strncmp(steps[i], "recv:", 5) == 0 &&
			    (poll(&pfd, 1, 2000) != 1 ||
			    recv_record(peer, got, sizeof(got)) < 0 ||
			    strcmp(got, arg) != 0)) {
				fprintf(stderr, "step %d: got '%s'\n", i, got);
				_exit(2);
			}
		}
		_exit(0);
	}
	close(peer);
	CHECK(dialogue(&c, t) == 0);
	conn_close(&c);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* IMAP LOGIN written in parts (tag, user, literal, password) reaches the
 * server as one send, not one a part. */
static void
test_imap_login_one_send(void)
{
	static const char *const s[] = {
	    "send:* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready\r\n",
	    "recv:P1 LOGIN \"user\" {6+}\r\nsecret\r\n",
	    "send:P1 OK Logged in\r\n", "recv:P2 LOGOUT\r\n",
	    "send:* BYE bye\r\nP2 OK\r\n", END };
	struct check_env env;
	struct portspec p = { 143, PROTO_IMAP, false };
	struct check_target t = { .env = &env, .ip = "127.0.0.1",
	    .verify_name = "127.0.0.1", .port = &p };
	struct check_result res;

	env_init(&env, 2000);
	env_login(&env, "user", "secret");
	run_records(&t, check_imap, &res, s);
	EXPECT_RESULT(res, CHECK_OK, "");
}

/* LMTP's goodbye after a transaction: RSET and QUIT in one send. */
static void
test_lmtp_goodbye_one_send(void)
{
	static const char *const s[] = { "send:220 ready\r\n",
	    "recv:LHLO poolmond\r\n", "send:250 ok\r\n",
	    "recv:MAIL FROM:<>\r\n", "send:250 2.1.0 OK\r\n",
	    "recv:RCPT TO:<x@test>\r\n", "send:250 2.1.5 OK\r\n",
	    "recv:RSET\r\nQUIT\r\n", "send:250 2.0.0 OK\r\n221 Bye\r\n", END };
	static const char *const plain[] = { "send:220 ready\r\n",
	    "recv:LHLO poolmond\r\n", "send:250 ok\r\n", "recv:QUIT\r\n",
	    "send:221 Bye\r\n", END };
	struct check_env env;
	struct portspec p = { 24, PROTO_LMTP, false };
	struct check_target t = { .env = &env, .ip = "127.0.0.1",
	    .verify_name = "127.0.0.1", .port = &p };
	struct check_result res;

	env_init(&env, 2000);
	run_records(&t, check_lmtp, &res, plain);
	EXPECT_RESULT(res, CHECK_OK, "");
	env.proto_opts[POPT_LMTP_TO] = "x@test";
	run_records(&t, check_lmtp, &res, s);
	EXPECT_RESULT(res, CHECK_OK, "");
}

/* Out of descriptors here is poolmond's fault, not the backend's. */
static void
test_out_of_descriptors(void)
{
	static const struct portspec port = { .port = 9, .proto = PROTO_IMAP };
	struct check_env env;
	struct check_target t = { .env = &env, .ip = "127.0.0.1",
	    .verify_name = "127.0.0.1", .port = &port };
	struct check_result res;
	struct rlimit old, low;
	int fd;

	env_init(&env, 500);
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	/* The lowest free descriptor is the last one allowed. */
	fd = open("/dev/null", O_RDONLY);
	CHECK(fd >= 0);
	low = old;
	low.rlim_cur = (rlim_t)fd;
	close(fd);
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	fd = open("/dev/null", O_RDONLY);	/* takes the last one */
	check_port_once(&t, &res);
	if (fd >= 0)
		close(fd);
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK(res.status == CHECK_ELOCAL);
	CHECK(check_status_is_local(res.status));
	CHECK(strstr(res.reason, "Too many open files") != NULL);
	CHECK(!check_status_is_local(CHECK_ECONNECT));
	CHECK(!check_status_is_local(CHECK_EKILLED));
}

/* --source-address: connects from it; one this machine does not have,
 * or of the other family, fails the check as poolmond's, not the
 * backend's, naming the option. */
static void
test_source_address(void)
{
	static const char *const any[] = { "line:hello", END };
	static const struct portspec port = { .port = 9, .proto = PROTO_IMAP };
	struct check_env env;
	struct check_target t = { .env = &env, .ip = "127.0.0.1",
	    .verify_name = "127.0.0.1", .port = &port };
	struct check_result res;

	env_init(&env, 500);
	env.source_address = "127.0.0.1";
	CHECK(run(&env, PROTO_BANNER, &res, any) == 0);
	EXPECT_RESULT(res, CHECK_OK, "");

	env.source_address = "198.51.100.7";	/* RFC 5737: not here */
	memset(&res, 0, sizeof(res));
	check_port_once(&t, &res);
	EXPECT_RESULT(res, CHECK_ELOCAL, "connect: bind to --source-address "
	    "198.51.100.7: Cannot assign requested address");
	CHECK(check_status_is_local(res.status));

	env.source_address = "::1";
	memset(&res, 0, sizeof(res));
	check_port_once(&t, &res);
	EXPECT_RESULT(res, CHECK_ELOCAL, "connect: --source-address ::1: "
	    "not of the backend's address family");

	CHECK(conn_source_usable("127.0.0.1") == 0);
	CHECK(conn_source_usable("198.51.100.7") == -EADDRNOTAVAIL);
	CHECK(conn_source_usable("not an address") == -EINVAL);
}

/* A server silent after its greeting: the goodbye does not use the
 * whole timeout, and the verdict stays "ok". */
static void
test_goodbye_bounded(void)
{
	static const char *const imap[] = { "line:* OK hi", "hang", END };
	static const char *const pop3[] = { "line:+OK hi", "hang", END };
	static const char *const lmtp[] = { "line:220 hi", "expect:LHLO",
	    "line:250 ok", "hang", END };
	static const char *const sieve[] = { "line:OK \"hi\"", "hang", END };
	static const struct {
		enum mail_proto proto;
		const char *const *script;
	} cases[] = {
		{ PROTO_IMAP, imap }, { PROTO_POP3, pop3 },
		{ PROTO_LMTP, lmtp }, { PROTO_SIEVE, sieve },
	};
	struct check_env env;
	struct check_result res;
	size_t i;

	env_init(&env, 4000);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		run(&env, cases[i].proto, &res, cases[i].script);
		EXPECT_RESULT(res, CHECK_OK, "");
		CHECK(res.latency_ms >= 400 && res.latency_ms < 1500);
	}
}

/* ------------------------------------------------------------ credentials */

static const char *
credfile(const char *content, size_t len, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/cred", tmpdir);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, content, len) == (ssize_t)len);
	close(fd);
	chmod(path, mode);
	return path;
}

#define CRED(s, mode) credfile((s), sizeof(s) - 1, (mode))

static void
test_credentials_load(void)
{
	struct credentials c;
	char err[256];

	CHECK(credentials_load(CRED("user\r\npass word\r\n", 0600), &c, err,
	    sizeof(err)) == 0);
	CHECK_STR(c.username, "user");
	CHECK_STR(c.password, "pass word");
	credentials_clear(&c);
	CHECK(c.username == NULL && c.password == NULL);
	CHECK(credentials_load(CRED("u\n{p}\"\\\xff", 0400), &c, err,
	    sizeof(err)) == 0);
	CHECK_STR(c.password, "{p}\"\\\xff");
	credentials_clear(&c);
}

static void
test_credentials_refused(void)
{
	static const mode_t bad_modes[] = { 0644, 0640, 0604, 0620, 0602,
	    0666 };
	struct credentials c;
	char err[256], path[300];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_modes); i++) {
		CHECK(credentials_load(CRED("user\nTopSecret\n", bad_modes[i]),
		    &c, err, sizeof(err)) < 0);
		CHECK(strstr(err, "lets group or others read or write it") !=
		    NULL);
		CHECK(strstr(err, "TopSecret") == NULL);
		CHECK(c.username == NULL);
	}
	CHECK(credentials_load(CRED("user\nTopSecret\n", 0644), &c, err,
	    sizeof(err)) < 0);
	CHECK_STR(err, "mode 0644 lets group or others read or write it; "
	    "run chmod 600 on it");
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	CHECK(credentials_load(path, &c, err, sizeof(err)) < 0);
	CHECK_STR(err, "No such file or directory");
	CHECK(credentials_load(tmpdir, &c, err, sizeof(err)) < 0);
	CHECK_STR(err, "not a regular file");
	CHECK(credentials_load(CRED("useronly\n", 0600), &c, err,
	    sizeof(err)) < 0);
	CHECK_STR(err, "needs a user name on line 1 and a password on line 2");
	CHECK(credentials_load(CRED("user\n\r\n", 0600), &c, err,
	    sizeof(err)) < 0);
	CHECK(credentials_load(CRED("\npass\n", 0600), &c, err,
	    sizeof(err)) < 0);
	CHECK(credentials_load(CRED("", 0600), &c, err, sizeof(err)) < 0);
	CHECK(credentials_load(CRED("user\npa\0ss\n", 0600), &c, err,
	    sizeof(err)) < 0);
	CHECK_STR(err, "contains a NUL byte");
	/* A CR inside a line would split a POP3 or LMTP command. */
	CHECK(credentials_load(CRED("us\rer\npass\n", 0600), &c, err,
	    sizeof(err)) < 0);
	CHECK(credentials_load(CRED("user\nZq\rX9\r\n", 0600), &c, err,
	    sizeof(err)) < 0);
	CHECK(strstr(err, "carriage return") != NULL);
	CHECK(strstr(err, "Zq") == NULL && strstr(err, "X9") == NULL);
}

static void
test_credentials_too_large(void)
{
	static char big[CREDFILE_MAX + 10];
	struct credentials c;
	char err[256];

	memset(big, 'x', sizeof(big));
	big[4] = '\n';
	CHECK(credentials_load(credfile(big, sizeof(big), 0600), &c, err,
	    sizeof(err)) < 0);
	CHECK_STR(err, "larger than 4096 bytes");
}

static bool
file_has(const char *path, const char *needle)
{
	char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, needle) != NULL;
}

/* A bad file at reload keeps the credentials in use, and says why. */
static void
test_credentials_reload(void)
{
	struct credentials cur;
	char err[256], logpath[300];

	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	CHECK(log_init("test_checks", logpath, true) == 0);
	CHECK(credentials_load(CRED("old\nOldSecret\n", 0600), &cur, err,
	    sizeof(err)) == 0);
	CHECK(credentials_reload(CRED("new\nNewSecret\n", 0644), &cur) < 0);
	CHECK_STR(cur.username, "old");
	CHECK_STR(cur.password, "OldSecret");
	CHECK(credentials_reload(CRED("new-only-one-line", 0600), &cur) < 0);
	CHECK_STR(cur.password, "OldSecret");
	CHECK(credentials_reload(CRED("new\nNewSecret\n", 0600), &cur) == 0);
	CHECK_STR(cur.username, "new");
	CHECK_STR(cur.password, "NewSecret");
	credentials_clear(&cur);
	log_close();
	CHECK(file_has(logpath, "keeping the credentials in use"));
	CHECK(file_has(logpath, "mode 0644"));
	CHECK(file_has(logpath, "reloaded (user new)"));
	CHECK(!file_has(logpath, "Secret"));
	unlink(logpath);
}

static void
test_credentials_redact(void)
{
	struct credentials c = { (char *)"u", (char *)"pw" };
	char out[64];

	credentials_redact(&c, "NO pw!pwpw\001x", 12, out, sizeof(out));
	CHECK_STR(out, "NO ***!******?x");
	credentials_redact(NULL, "NO pw", 5, out, sizeof(out));
	CHECK_STR(out, "NO pw");
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_imap_banner);
	RUN(test_out_of_descriptors);
	RUN(test_source_address);
	RUN(test_imap_starttls_stripped);
	RUN(test_pop3_stls_stripped);
	RUN(test_imap_split_greeting);
	RUN(test_imap_never_answers);
	RUN(test_imap_hostile_bytes);
	RUN(test_imap_login_sync_literal);
	RUN(test_imap_login_literal_plus);
	RUN(test_imap_login_refused);
	RUN(test_imap_untagged_flood);
	RUN(test_imap_password_redacted);
	RUN(test_imap_logindisabled);
	RUN(test_imap_starttls_failures);
	RUN(test_pop3_banner);
	RUN(test_pop3_login);
	RUN(test_pop3_plaintext_disallowed);
	RUN(test_pop3_hostile);
	RUN(test_lmtp_banner);
	RUN(test_lmtp_transaction);
	RUN(test_sieve_greeting);
	RUN(test_sieve_hostile);
	RUN(test_sieve_login);
	RUN(test_sieve_login_literal);
	RUN(test_sieve_secrets_masked);
	RUN(test_sieve_starttls);
	RUN(test_other_port);
	RUN(test_child_reports);
	RUN(test_conn_read_bytes);
	RUN(test_conn_cork);
	RUN(test_imap_login_one_send);
	RUN(test_lmtp_goodbye_one_send);
	RUN(test_goodbye_bounded);
	RUN(test_credentials_load);
	RUN(test_credentials_refused);
	RUN(test_credentials_too_large);
	RUN(test_credentials_reload);
	RUN(test_credentials_redact);
	unlink(credfile("", 0, 0600));
	rmdir(tmpdir);
	return UNIT_EXIT();
}
