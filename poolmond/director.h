/*
 * Client of the Dovecot director's admin socket ("director-doveadm"
 * protocol 1.x), on the event loop: nothing here waits. Every command is
 * bounded by its deadline; errors are negative errno values with a reason.
 */
#ifndef POOLMOND_DIRECTOR_H
#define POOLMOND_DIRECTOR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "router.h"

#define DIRECTOR_TAG_MAX	ROUTER_TAG_MAX
#define DIRECTOR_LINE_MAX	4096

enum director_reply {
	DIRECTOR_REPLY_OK,
	DIRECTOR_REPLY_NOTFOUND,
	DIRECTOR_REPLY_BUSY,		/* host is already being updated */
	DIRECTOR_REPLY_RING_TIMEOUT,	/* Ring sync timed out */
	DIRECTOR_REPLY_OTHER,		/* any other line: temporary failure */
};

/*
 * Parse one HOST-LIST line (modified in place; host->tag points into it).
 * 0, or -EINVAL with *why.
 */
int director_parse_host_line(char *line, struct router_host *host,
    const char **why);
enum director_reply director_classify_reply(const char *line);
/*
 * One DIRECTOR-LIST line (modified in place): true when it is the local
 * director's own line, with *synced telling whether its ring is synced
 * and *ring_state pointing at the state text ("ring synced", ...).
 */
bool director_parse_self_line(char *line, bool *synced,
    const char **ring_state);
const char *director_reply_str(enum director_reply reply);

/*
 * The asynchronous client: one connection on the event loop, a queue of
 * commands sent one at a time (a director waiting for ring sync reads no
 * more input, so pipelining would gain nothing), each finished through
 * its callback. The connection is opened when a command is queued and
 * closed when the queue is empty, and after a timeout, garbage or a reply
 * not understood, so that a late line is never taken for the next reply.
 */
struct director_client;

#define DIRECTOR_RING_MAX	ROUTER_RING_MAX

struct director_result {
	int error;		/* 0, or -errno with err saying why */
	bool unreachable;	/* error: connecting or the handshake failed */
	const char *err;
	enum director_reply reply;	/* host commands */
	const char *line;		/* host commands: the reply, printable */
	/* HOST-LIST: the callback may take it (then zero it). */
	struct router_host_list *list;
	bool synced;			/* DIRECTOR-LIST: own ring synced */
	const char *ring_state;		/* DIRECTOR-LIST: "ring synced", ... */
	/* DIRECTOR-LIST: the ring's members (itself included, the removed
	 * left out), at most DIRECTOR_RING_MAX. */
	const char *members[DIRECTOR_RING_MAX];
	size_t nmembers;
};

typedef void director_done_fn(const struct director_result *res, void *arg);

/* timeout_ms: how long each command may wait for its reply by default. */
int director_client_new(struct director_client **dcl, sd_event *event,
    const char *path, int timeout_ms);
/* Drops every queued command without calling its callback. */
void director_client_free(struct director_client *dcl);
/* Use an already connected socket (tests, fuzzing); the handshake follows. */
int director_client_attach(struct director_client *dcl, int fd);
int director_client_timeout_ms(const struct director_client *dcl);
/* Commands queued or in flight. */
size_t director_client_pending(const struct director_client *dcl);
/*
 * Queue a command. deadline is monotonic ms (now_ms()), or 0 for the
 * timeout counted from when the commands queued before it are done; past
 * it the command fails with -ETIMEDOUT. 0, or -errno (then done is never
 * called).
 */
int director_host_list_async(struct director_client *dcl, int64_t deadline,
    director_done_fn *done, void *arg);
int director_ring_state_async(struct director_client *dcl, int64_t deadline,
    director_done_fn *done, void *arg);
/* "CMD\tIP": HOST-DOWN, HOST-UP, HOST-FLUSH; never without an IP. */
int director_host_cmd_async(struct director_client *dcl, const char *cmd,
    const char *ip, int64_t deadline, director_done_fn *done, void *arg);
/* Queued commands with this arg finish without calling back. */
void director_client_forget(struct director_client *dcl, const void *arg);

#endif
