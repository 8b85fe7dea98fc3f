/* The daemon's memory of one backend: port results and failure reasons. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pool.h"

int
backend_init_ports(struct backend *b, size_t nports)
{
	b->ports = calloc(nports > 0 ? nports : 1, sizeof(*b->ports));
	return b->ports == NULL ? -ENOMEM : 0;
}

void
backend_free(struct backend *b, size_t nports)
{
	size_t i;

	if (b->ports != NULL)
		for (i = 0; i < nports; i++)
			free(b->ports[i].reason);
	free(b->ports);
	free(b->reason);
	b->ports = NULL;
	b->reason = NULL;
}

int
port_state_set(struct port_state *ps, const struct check_result *res)
{
	char *reason = NULL;

	if (res->reason[0] != '\0' &&
	    (reason = strndup(res->reason, CHECK_REASON_MAX - 1)) == NULL)
		return -ENOMEM;
	free(ps->reason);
	ps->status = (uint8_t)res->status;
	ps->warning = res->warning;
	ps->tries = res->tries;
	ps->latency_ms = res->latency_ms;
	ps->reason = reason;
	if (res->status != CHECK_OK && !check_status_is_local(res->status))
		ps->failures++;
	return 0;
}

int
backend_set_reason(struct backend *b, const char *reason)
{
	char *copy = NULL;

	if (reason != NULL && (copy = strdup(reason)) == NULL)
		return -ENOMEM;
	free(b->reason);
	b->reason = copy;
	return 0;
}

/* "PROTO:PORT connect: ... (4 tries); PROTO:PORT ..." of the ports that did
 * not pass and, when only_local, only those poolmond could not check. */
static void
ports_reason(const struct backend *b, const struct portspec *ports,
    size_t nports, bool only_local, char *reason, size_t len)
{
	size_t i, off = 0;

	reason[0] = '\0';
	for (i = 0; i < nports && off < len; i++) {
		const struct port_state *res = &b->ports[i];
		const struct portspec *p = &ports[i];
		int n;

		if (res->status == CHECK_OK || (only_local &&
		    !check_status_is_local(res->status)))
			continue;
		n = snprintf(reason + off, len - off, "%s%s:%u %s",
		    off > 0 ? "; " : "", mail_proto_name(p->proto, p->tls),
		    p->port, res->reason != NULL ? res->reason :
		    check_status_str(res->status));
		if (n < 0)
			break;
		off += (size_t)n;
		if (res->tries > 1 && off < len) {
			n = snprintf(reason + off, len - off, " (%u tries)",
			    res->tries);
			if (n > 0)
				off += (size_t)n;
		}
	}
}

void
backend_judge(struct backend *b, const struct portspec *ports,
    size_t nports)
{
	char reason[BACKEND_REASON_MAX];
	bool failed = false, local = false;
	size_t i;

	for (i = 0; i < nports; i++) {
		enum check_status st = b->ports[i].status;

		if (st == CHECK_OK)
			continue;
		if (check_status_is_local(st))
			local = true;
		else
			failed = true;
	}
	/* A port the backend failed outweighs one poolmond could not check. */
	b->health = failed ? HEALTH_FAILED : local ? HEALTH_UNKNOWN :
	    HEALTH_OK;
	if (b->health == HEALTH_OK)
		return;
	ports_reason(b, ports, nports, !failed, reason, sizeof(reason));
	if (backend_set_reason(b, reason) < 0)
		log_warnx("%s: out of memory for its failure reason", b->dh.ip);
}
