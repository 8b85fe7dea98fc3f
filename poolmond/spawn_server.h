/*
 * The spawn server: a process forked from the daemon once, at start-up,
 * while the daemon is still small. It enters the check processes'
 * sandbox once (user, seccomp filter) and forks every check process on
 * the daemon's request, with CLONE_PARENT: each check process is the
 * daemon's child, which watches, kills and reaps it as before, and the
 * filter is loaded once, not per check. It never reads from a backend.
 */
#ifndef POOLMOND_SPAWN_SERVER_H
#define POOLMOND_SPAWN_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What one request may carry: a check job, or new credentials. */
#define SPAWN_DATA_MAX	8192

enum spawn_kind {
	SPAWN_FORK = 1,		/* fork a check process for data */
	SPAWN_UPDATE = 2,	/* data changes the server's copy of the daemon */
};

/* Daemon to server, one datagram (SOCK_SEQPACKET): the header, then len
 * bytes of data. */
struct spawn_request {
	uint32_t kind;
	uint32_t slot;		/* echoed in the reply */
	int64_t hard_deadline;	/* CLOCK_MONOTONIC ms: the check's budget */
	uint32_t len;
	uint32_t pad;
	unsigned char data[SPAWN_DATA_MAX];
};

#define SPAWN_REQUEST_HEADER	offsetof(struct spawn_request, data)

/* The answer to a SPAWN_FORK, one each: from the check process itself
 * (its pid, sent before its check begins, so that a server dying right
 * after the fork loses no child), or from the server when it could not
 * fork (-errno). */
struct spawn_reply {
	uint32_t slot;
	int32_t pid;		/* the check process, or -errno */
};

/* What the server runs; every function is called in the server or in a
 * check process, never in the daemon. */
struct spawn_server_conf {
	/* Once, in the server: the sandbox. _exit on failure. */
	void (*enter)(void *ctx);
	/* In a check process: the check of data, reports on report_fd;
	 * never returns. */
	void (*body)(void *ctx, const void *data, size_t len, int report_fd,
	    int64_t hard_deadline);
	/* In the server: data of a SPAWN_UPDATE. */
	void (*update)(void *ctx, const void *data, size_t len);
	void *ctx;
};

/*
 * In the daemon: fork the server, which inherits report_fd (the check
 * processes' report pipe, write end). Its socket (non-blocking) in *sock,
 * its pid in *pid. 0 or -errno.
 */
int spawn_server_start(const struct spawn_server_conf *conf, int report_fd,
    pid_t *pid, int *sock);

#endif
