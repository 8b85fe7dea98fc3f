/*
 * Kicking the open sessions a Dovecot proxy beside poolmond holds to one
 * backend (the Lua director's flush: rows deleted, then the sessions
 * kicked, so that users log in again and are placed anew). For each
 * --proxy=CONF, by the doveadm of that Dovecot:
 *
 *   2.3   doveadm -c CONF proxy kick -h HOST   for each host string the
 *         routing script gave for the backend (its hostnames) and its
 *         address: 2.3 matches the passdb's host string
 *   2.4   doveadm -c CONF kick -h IP            (through anvil)
 *
 * The version is asked once (dovecot --version) and again after that
 * failed. Each doveadm is a supervised child: no shell, stdin /dev/null,
 * its output read bounded, its own process group killed at the deadline.
 * A kick counts as done when every doveadm exited 0 (or "nothing found");
 * the count doveadm prints is never trusted (2.3 reports one login
 * process's count only).
 */
#ifndef POOLMOND_KICK_H
#define POOLMOND_KICK_H

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

/* Host strings a kick names, at most (a backend's rows' hostnames). */
#define KICK_HOSTS_MAX		16

struct kicker;
struct kick;

/* error: 0, or -errno with err saying which doveadm failed and how. */
typedef void kick_done_fn(int error, const char *err, void *arg);

/*
 * confs: the proxies' configuration files (copied); none: every kick is
 * done at once. timeout_ms bounds each doveadm run and the version
 * check. 0 or -errno with err.
 */
int kicker_new(sd_event *event, const char *const *confs, size_t nconfs,
    int timeout_ms, struct kicker **out, char *err, size_t errlen);
/* Kills what runs (and waits for it: a SIGKILLed child ends at once). */
void kicker_free(struct kicker *k);

/*
 * Kick the sessions to the backend at ip (hosts: its host strings, at
 * most KICK_HOSTS_MAX) on every proxy. done() comes from the loop by the
 * deadline (monotonic ms) at the latest (-ETIMEDOUT). NULL with errno.
 */
struct kick *kick_start(struct kicker *k, const char *ip,
    const char *const *hosts, size_t nhosts, int64_t deadline,
    kick_done_fn *done, void *arg);
/* done() is never called; its doveadm is killed. */
void kick_cancel(struct kick *kick);

/* Kicks under way. */
size_t kicker_pending(const struct kicker *k);
/* The proxies' configuration files given. */
size_t kicker_proxies(const struct kicker *k);
/* "2.3", "2.4", or "" while not known. */
const char *kicker_version(const struct kicker *k);

#endif
