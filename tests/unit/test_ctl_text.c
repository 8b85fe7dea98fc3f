/*
 * poolmonctl's text output: what a director or a backend sent never
 * reaches the terminal raw. A tag, a reason, a hold reason or a daemon's
 * message with control characters shows them as \xHH.
 */
#include <stdlib.h>

#include "../../poolmonctl/output.h"
#include "unit.h"

static char *buf;
static size_t buflen;

static const char *
render(const Poolmon__Response *r)
{
	Poolmon__Response *parts[] = { (Poolmon__Response *)r };
	struct ctl_reply reply = { parts, 1 };
	FILE *f;

	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &buflen);
	ctl_print_reply(f, &reply, false);
	fclose(f);
	return buf;
}

/* No C0 control but the line ends, no DEL, no C1 in UTF-8. */
static int
raw_controls(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	int n = 0;

	for (; *u != '\0'; u++)
		if ((*u < 0x20 && *u != '\n') || *u == 0x7f ||
		    (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f))
			n++;
	return n;
}

static Poolmon__PortCheck pc;
static Poolmon__PortCheck *checks[] = { &pc };
static Poolmon__Backend be;
static Poolmon__Backend *backends[] = { &be };

/* A held backend whose director tag, reasons and hold reason are hostile. */
static void
build_backend(void)
{
	poolmon__port_check__init(&pc);
	pc.port = 143;
	pc.protocol = (char *)"IMAP";
	pc.has_checked = pc.checked = 1;
	pc.has_ok = 1;
	pc.status = (char *)"bad banner";
	pc.reason = (char *)"banner: * OK \033]0;owned\007";
	pc.tries = 1;
	poolmon__backend__init(&be);
	be.address = (char *)"127.0.6.1";
	be.tag = (char *)"evil\033[2J";
	be.has_health = 1;
	be.health = POOLMON__HEALTH__HEALTH_FAILED;
	be.reason = (char *)"IMAP:143 banner: \033[31mred\177 \xc2\x9b" "1m";
	be.last_check = 1700000000;
	be.owner = (char *)"hold";
	be.hold_reason = (char *)"swap\rdisk";
	be.n_checks = 1;
	be.checks = checks;
}

static void
test_status_row(void)
{
	Poolmon__StatusReply st = POOLMON__STATUS_REPLY__INIT;
	Poolmon__Response r = POOLMON__RESPONSE__INIT;
	const char *out;

	build_backend();
	st.n_backends = 1;
	st.backends = backends;
	r.success = 1;
	r.result_case = POOLMON__RESPONSE__RESULT_STATUS;
	r.status = &st;
	out = render(&r);
	CHECK(raw_controls(out) == 0);
	CHECK(strstr(out, "evil\\x1b[2J") != NULL);
	CHECK(strstr(out, "banner: \\x1b[31mred\\x7f \\xc2\\x9b1m") != NULL);
	CHECK(strstr(out, "held: swap\\x0ddisk (uid 0 since never)") != NULL);
	/* The escaped tag sets the column's width: the header lines up. */
	CHECK(strstr(out, "  TAG          DIRECTOR") != NULL);
	CHECK(strstr(out, "  evil\\x1b[2J  down") != NULL);
	/* UTF-8 text is left alone. */
	be.tag = (char *)"caf\xc3\xa9";
	CHECK(strstr(render(&r), "caf\xc3\xa9 ") != NULL);
}

static void
test_show(void)
{
	Poolmon__ShowReply sr = POOLMON__SHOW_REPLY__INIT;
	Poolmon__Response r = POOLMON__RESPONSE__INIT;
	const char *out;

	build_backend();
	sr.backend = &be;
	r.success = 1;
	r.result_case = POOLMON__RESPONSE__RESULT_SHOW;
	r.show = &sr;
	out = render(&r);
	CHECK(raw_controls(out) == 0);
	CHECK(strstr(out, "  tag:            evil\\x1b[2J\n") != NULL);
	CHECK(strstr(out, "  last failure:   IMAP:143 banner: \\x1b[31m")
	    != NULL);
	CHECK(strstr(out, "banner: * OK \\x1b]0;owned\\x07\n") != NULL);
	CHECK(strstr(out, "held: swap\\x0ddisk") != NULL);
}

/* A daemon's note after a hold or a release, and a reload message. */
static void
test_messages(void)
{
	Poolmon__ReleaseReply rr = POOLMON__RELEASE_REPLY__INIT;
	Poolmon__Response r = POOLMON__RESPONSE__INIT;

	build_backend();
	rr.backend = &be;
	r.success = 1;
	r.message = (char *)"released\033[A";
	r.result_case = POOLMON__RESPONSE__RESULT_RELEASE;
	r.release = &rr;
	CHECK_STR(render(&r), "127.0.6.1: released\\x1b[A\n");
	r.result_case = POOLMON__RESPONSE__RESULT_RELOAD;
	CHECK_STR(render(&r), "released\\x1b[A\n");
}

int
main(void)
{
	RUN(test_status_row);
	RUN(test_show);
	RUN(test_messages);
	free(buf);
	return UNIT_EXIT();
}
