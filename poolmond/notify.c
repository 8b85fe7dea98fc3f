/*
 * sd_notify(3) messages for Type=notify. With NotifyAccess=main systemd
 * only hears the main process: a daemon that forks has its parent announce
 * the new MAINPID before the parent exits.
 */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"

#define STATUS_MAX	512

static void
send_notify(const char *msg)
{
	int r = sd_notify(0, msg);

	if (r < 0)
		log_debug("sd_notify: %s", strerror(-r));
}

/* The one-line state systemctl status shows. */
static void
format_status(const struct pool *pool, const struct daemon_summary *s,
    char *buf, size_t len)
{
	const char *dry = s->dry_run ? ", dry-run" : "";
	struct pool_counts c;
	char unknown[80] = "";

	pool_count(pool, &c);
	if (c.unknown > 0)
		snprintf(unknown, sizeof(unknown), ", %zu not checked (poolmond's "
		    "fault)", c.unknown);
	if (!s->director_reachable)
		snprintf(buf, len, "director unreachable: %s; %zu backends, "
		    "%zu down%s%s", s->director_error != NULL ?
		    s->director_error : "", pool->n, c.failed, unknown, dry);
	else if (s->scans_completed == 0)
		snprintf(buf, len, "first scan running%s", dry);
	else
		snprintf(buf, len, "%zu backends, %zu down%s, scan %lld ms%s",
		    pool->n, c.failed, unknown, (long long)s->last_scan_ms,
		    dry);
}

void
notify_ready(const struct pool *pool, const struct daemon_summary *s)
{
	char status[STATUS_MAX], msg[STATUS_MAX + 32];

	format_status(pool, s, status, sizeof(status));
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	send_notify(msg);
}

void
notify_status(const struct pool *pool, const struct daemon_summary *s)
{
	char status[STATUS_MAX], msg[STATUS_MAX + 32];

	format_status(pool, s, status, sizeof(status));
	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	send_notify(msg);
}

void
notify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	/* systemd (254+) matches the reload by this timestamp. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
	    (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	send_notify(msg);
}

void
notify_stopping(void)
{
	send_notify("STOPPING=1");
}

void
notify_mainpid(pid_t pid)
{
	char msg[64];

	/* READY=1 too: the daemon's own READY=1 came from a process systemd
	 * did not yet know as the main one. */
	snprintf(msg, sizeof(msg), "MAINPID=%ld\nREADY=1", (long)pid);
	send_notify(msg);
}

int
notify_watchdog_start(sd_event *event)
{
	int r = sd_event_set_watchdog(event, 1);

	if (r > 0)
		log_debug("systemd watchdog enabled");
	return r < 0 ? r : 0;
}
