/* The check of one port: its protocol's check (protocol.h's table),
 * retries, status strings. */
#include "check.h"

#include <string.h>

#include "checks.h"
#include "fiber.h"
#include "net.h"
#include "protocol.h"
#include "util.h"

static const char *const status_str[CHECK_STATUS_COUNT] = {
	[CHECK_OK] = "ok",
	[CHECK_ECONNECT] = "connect failed",
	[CHECK_ETIMEOUT] = "timeout",
	[CHECK_ECLOSED] = "connection closed",
	[CHECK_EIO] = "I/O error",
	[CHECK_ETOOLONG] = "line too long",
	[CHECK_ETOOMANY] = "too many lines",
	[CHECK_EBANNER] = "bad banner",
	[CHECK_ETLS] = "TLS failed",
	[CHECK_ESTARTTLS] = "STARTTLS failed",
	[CHECK_ELOGIN] = "login failed",
	[CHECK_ELMTP] = "LMTP refused",
	[CHECK_EREPLY] = "unexpected reply",
	[CHECK_EKILLED] = "killed at deadline",
	[CHECK_ECHILD] = "check process failed",
	[CHECK_EINTERNAL] = "internal error",
	[CHECK_ELOCAL] = "local resources",
};

const char *
check_status_str(enum check_status status)
{
	if ((unsigned int)status >= CHECK_STATUS_COUNT)
		return "unknown";
	return status_str[status];
}

bool
check_status_is_local(enum check_status status)
{
	return status == CHECK_ECHILD || status == CHECK_EINTERNAL ||
	    status == CHECK_ELOCAL;
}

/* Any banner line within the timeout passes (ports of no known protocol). */
int
check_banner(struct conn *c, const struct check_target *t)
{
	const char *line;
	size_t len;

	(void)t;
	c->step = "banner";
	return conn_read_line(c, &line, &len);
}

void
check_port_once(const struct check_target *t, struct check_result *res)
{
	const struct portspec *p = t->port;
	struct conn c;
	int64_t start = now_ms();
	int r;

	res->status = CHECK_OK;
	res->warning = false;
	res->tls_offered = false;
	res->cleartext_login = false;
	res->reason[0] = '\0';
	r = conn_open(&c, t->fiber, t->env->source_address, t->ip, p->port,
	    t->env->timeout_ms, res);
	if (r == 0 && p->tls)
		r = conn_start_tls(&c, t->env->ssl_ctx, t->verify_name,
		    t->env->ssl_verify);
	if (r == 0)
		r = protocol_get(p->proto)->check(&c, t);
	conn_close(&c);
	if (r < 0 && res->status == CHECK_OK)
		res->status = CHECK_EINTERNAL;	/* a check forgot its reason */
	res->latency_ms = (uint32_t)(now_ms() - start);
}

void
check_port(const struct check_target *t, struct check_result *res,
    int64_t hard_deadline)
{
	const struct check_env *env = t->env;
	int attempt;

	for (attempt = 0; attempt <= env->retries; attempt++) {
		if (attempt > 0) {
			/* No pause after a timeout: that attempt has waited
			 * long enough, and a hanging host is then failed
			 * within (retries + 1) x timeout. */
			int64_t pause = res->status == CHECK_ETIMEOUT ? 0 :
			    env->retry_delay_ms;

			/* A retry that cannot finish before the deadline is
			 * pointless: report the last failure instead. */
			if (now_ms() + pause + env->timeout_ms > hard_deadline)
				break;
			fiber_sleep_until(t->fiber, now_ms() + pause);
		}
		check_port_once(t, res);
		res->tries = (uint16_t)(attempt + 1);
		if (res->status == CHECK_OK)
			return;
	}
}
