/*
 * Change hooks (--on-change=PROGRAM): after every action poolmond runs
 * PROGRAM, without a shell, with the event in its environment
 * (POOLMON_EVENT, POOLMON_HOST, POOLMON_TAG, POOLMON_REASON,
 * POOLMON_DRY_RUN), as the check processes' unprivileged user, killed
 * after the timeout, a few at once, its output logged. A hook that hangs
 * or fails changes nothing about the pool.
 */
#ifndef POOLMOND_HOOKS_H
#define POOLMOND_HOOKS_H

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "sandbox.h"

/* Hooks running at once; events beyond wait in a bounded queue. */
#define HOOKS_MAX_RUNNING	4
#define HOOKS_QUEUE_MAX		256

struct hooks;

/* program NULL: no hooks (hooks_run does nothing). 0 or -errno. */
int hooks_new(sd_event *event, const char *program, const struct sandbox *sb,
    int timeout_ms, struct hooks **out);
/* Kill what runs, drop what waits. NULL is fine. */
void hooks_free(struct hooks *h);
/* An event: down, up, flush, hold, release or spared. NULLs are "". */
void hooks_run(struct hooks *h, const char *event, const char *host,
    const char *tag, const char *reason, bool dry_run);

#endif
