/*
 * Director actions after a scan (poolmon 0.7 semantics): a failed backend
 * that the director has up gets HOST-DOWN and, once that is OK, HOST-FLUSH;
 * a healthy backend that is down gets HOST-UP. Anything but OK is logged
 * and retried at the next scan.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "poolmond.h"
#include "util.h"

struct action_ctx {
	struct poolmond *d;
	struct director_conn dc;
	bool connected;
	bool failed;		/* director unusable for the rest of the scan */
};

void
backend_failure_reason(const struct poolmond *d, struct backend *b)
{
	size_t i, off = 0;

	b->reason[0] = '\0';
	for (i = 0; i < d->cfg.nports && off < sizeof(b->reason); i++) {
		const struct check_result *res = &b->ports[i];
		const struct portspec *p = &d->cfg.ports[i];
		int n;

		if (res->status == CHECK_OK)
			continue;
		n = snprintf(b->reason + off, sizeof(b->reason) - off,
		    "%s%s:%u %s", off > 0 ? "; " : "",
		    mail_proto_name(p->proto, p->tls), p->port, res->reason);
		if (n < 0)
			break;
		off += (size_t)n;
		if (res->tries > 1 && off < sizeof(b->reason)) {
			n = snprintf(b->reason + off, sizeof(b->reason) - off,
			    " (%u tries)", res->tries);
			if (n > 0)
				off += (size_t)n;
		}
	}
}

/* Send one host command; true only for OK. Logs every other outcome. */
static bool
host_cmd(struct action_ctx *ctx, const char *cmd, const char *ip)
{
	enum director_reply reply;
	char line[160];
	int r;

	if (ctx->failed)
		return false;
	if (!ctx->connected) {
		if (director_connect(&ctx->dc, ctx->d->cfg.director_socket) < 0) {
			log_warnx("%s %s not sent: director unreachable: %s; "
			    "retrying at the next scan", cmd, ip, ctx->dc.err);
			ctx->failed = true;
			return false;
		}
		ctx->connected = true;
	}
	r = director_host_cmd(&ctx->dc, cmd, ip, &reply, line, sizeof(line));
	if (r < 0) {
		/* EOF, timeout or garbage: this connection is done. */
		log_warnx("%s %s: %s; retrying at the next scan", cmd, ip,
		    ctx->dc.err);
		director_close(&ctx->dc);
		ctx->connected = false;
		return false;
	}
	if (reply == DIRECTOR_REPLY_OK)
		return true;
	if (reply == DIRECTOR_REPLY_OTHER)
		log_warnx("%s %s: director replied '%s'; retrying at the "
		    "next scan", cmd, ip, line);
	else
		log_warnx("%s %s: %s; retrying at the next scan", cmd, ip,
		    director_reply_str(reply));
	return false;
}

static void
take_down(struct action_ctx *ctx, struct backend *b)
{
	if (ctx->d->cfg.dry_run) {
		log_info("dry-run: would mark %s down: %s", b->dh.ip,
		    b->reason);
		return;
	}
	/* Set before HOST-DOWN: a reply lost to a ring-sync timeout may
	 * still have been applied, and then the flush is owed. */
	b->flush_pending = true;
	if (!host_cmd(ctx, "HOST-DOWN", b->dh.ip))
		return;
	log_info("%s down: %s", b->dh.ip, b->reason);
	b->dh.up = false;
	if (host_cmd(ctx, "HOST-FLUSH", b->dh.ip)) {
		b->flush_pending = false;
		log_info("%s flushed", b->dh.ip);
	}
}

static void
retry_flush(struct action_ctx *ctx, struct backend *b)
{
	if (ctx->d->cfg.dry_run)
		return;
	if (host_cmd(ctx, "HOST-FLUSH", b->dh.ip)) {
		b->flush_pending = false;
		log_info("%s flushed", b->dh.ip);
	}
}

static void
bring_up(struct action_ctx *ctx, struct backend *b)
{
	if (ctx->d->cfg.dry_run) {
		log_info("dry-run: would mark %s up: all %zu checks passed",
		    b->dh.ip, ctx->d->cfg.nports);
		return;
	}
	if (!host_cmd(ctx, "HOST-UP", b->dh.ip))
		return;
	log_info("%s up: all %zu checks passed", b->dh.ip,
	    ctx->d->cfg.nports);
	b->dh.up = true;
}

void
actions_apply(struct poolmond *d)
{
	struct action_ctx ctx = { .d = d };
	size_t i;

	director_conn_init(&ctx.dc, d->cfg.timeout_s * 1000);
	for (i = 0; i < d->nbackends; i++) {
		struct backend *b = &d->backends[i];

		if (!b->in_scan)
			continue;
		if (b->health == HEALTH_FAILED && b->dh.up)
			take_down(&ctx, b);
		else if (b->health == HEALTH_FAILED && b->flush_pending)
			retry_flush(&ctx, b);
		else if (b->health == HEALTH_OK && !b->dh.up)
			bring_up(&ctx, b);
		if (b->health == HEALTH_OK)
			b->flush_pending = false;
	}
	director_close(&ctx.dc);
}
