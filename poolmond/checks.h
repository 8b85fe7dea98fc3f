/* What the protocol dialogues (check_*.c, named by protocol.h's table)
 * share. Each returns 0 when healthy, -1 with the failure recorded in the
 * connection's check_result. */
#ifndef POOLMOND_CHECKS_H
#define POOLMOND_CHECKS_H

#include "check.h"
#include "net.h"
#include "protocol.h"

/*
 * Before credentials go out on a connection without TLS, whose server did
 * not offer the protocol's upgrade (its starttls command): refused with
 * --require-tls, or when the backend offered it before (an attacker on
 * the path may have stripped the offer); else allowed, and noted in the
 * result.
 */
static inline int
check_cleartext_refused(struct conn *c, const struct check_target *t)
{
	const struct protocol *p = protocol_get(t->port->proto);

	/* The step the credentials would have gone with. */
	c->step = p->login_step;
	if (t->env->require_tls)
		return conn_fail(c, CHECK_ESTARTTLS, "%s not offered: "
		    "credentials are never sent without TLS (--require-tls)",
		    p->starttls);
	if (t->tls_seen)
		return conn_fail(c, CHECK_ESTARTTLS, "%s no longer offered "
		    "(it was before): credentials not sent in clear",
		    p->starttls);
	c->res->cleartext_login = true;
	return 0;
}

#endif
