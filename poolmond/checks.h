/* The protocol dialogues. Each returns 0 when healthy, -1 with the failure
 * recorded in the connection's check_result. */
#ifndef POOLMOND_CHECKS_H
#define POOLMOND_CHECKS_H

#include <string.h>

#include "check.h"
#include "net.h"

int check_banner(struct conn *c, const struct check_target *t);
int check_imap(struct conn *c, const struct check_target *t);
int check_pop3(struct conn *c, const struct check_target *t);
int check_lmtp(struct conn *c, const struct check_target *t);
/*
 * Before credentials go out on a connection without TLS, whose server did
 * not offer upgrade (STARTTLS or STLS): refused with --require-tls, or
 * when the backend offered it before (an attacker on the path may have
 * stripped the offer); else allowed, and noted in the result.
 */
static inline int
check_cleartext_refused(struct conn *c, const struct check_target *t,
    const char *upgrade)
{
	/* The step the credentials would have gone with. */
	c->step = strcmp(upgrade, "STLS") == 0 ? "USER" : "LOGIN";
	if (t->env->require_tls)
		return conn_fail(c, CHECK_ESTARTTLS, "%s not offered: "
		    "credentials are never sent without TLS (--require-tls)",
		    upgrade);
	if (t->tls_seen)
		return conn_fail(c, CHECK_ESTARTTLS, "%s no longer offered "
		    "(it was before): credentials not sent in clear", upgrade);
	c->res->cleartext_login = true;
	return 0;
}

#endif
