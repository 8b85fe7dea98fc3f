/*
 * Client of the Dovecot director's admin socket ("director-doveadm"
 * protocol 1.x). Every read and write is bounded by the connection's
 * deadline; errors are negative errno values with a reason in err.
 */
#ifndef POOLMOND_DIRECTOR_H
#define POOLMOND_DIRECTOR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define DIRECTOR_TAG_MAX	128
#define DIRECTOR_LINE_MAX	4096
#define DIRECTOR_MAX_HOSTS	65536

struct director_host {
	char ip[INET6_ADDRSTRLEN];
	bool up;			/* in the ip's padding */
	unsigned int vhost_count;
	unsigned int user_count;
	/* Not owned: the host list's tags, a parsed line, or a literal. */
	const char *tag;
	time_t last_updown_change;
};

/*
 * A HOST-LIST reply. Its hosts' tags point into tags, which holds each
 * distinct tag once: thousands of hosts share a handful of tags.
 */
struct director_host_list {
	struct director_host *hosts;
	size_t n;
	char *tags;
};

enum director_reply {
	DIRECTOR_REPLY_OK,
	DIRECTOR_REPLY_NOTFOUND,
	DIRECTOR_REPLY_BUSY,		/* host is already being updated */
	DIRECTOR_REPLY_RING_TIMEOUT,	/* Ring sync timed out */
	DIRECTOR_REPLY_OTHER,		/* any other line: temporary failure */
};

struct director_conn {
	int fd;
	int timeout_ms;		/* for each command, from sending to reply */
	int64_t deadline;
	size_t len;		/* bytes buffered in buf */
	char buf[DIRECTOR_LINE_MAX];
	char err[256];		/* why the last call failed */
};

/*
 * Parse one HOST-LIST line (modified in place; host->tag points into it).
 * 0, or -EINVAL with *why.
 */
int director_parse_host_line(char *line, struct director_host *host,
    const char **why);
enum director_reply director_classify_reply(const char *line);
/*
 * One DIRECTOR-LIST line (modified in place): true when it is the local
 * director's own line, with *synced telling whether its ring is synced
 * and *ring_state pointing at the state text ("ring synced", ...).
 */
bool director_parse_self_line(char *line, bool *synced,
    const char **ring_state);
/* Ask DIRECTOR-LIST whether the local ring is synced. 0 or -errno. */
int director_ring_synced(struct director_conn *dc, bool *synced,
    char *state, size_t statelen);
const char *director_reply_str(enum director_reply reply);

void director_conn_init(struct director_conn *dc, int timeout_ms);
/* Connect and handshake. -errno; dc->err says why. */
int director_connect(struct director_conn *dc, const char *path);
void director_close(struct director_conn *dc);
/* Use an already connected socket (tests, fuzzing), then handshake. */
void director_conn_attach(struct director_conn *dc, int fd);
int director_handshake(struct director_conn *dc);

/* HOST-LIST into list; 0 or -errno (-EPROTO for garbage). */
int director_host_list(struct director_conn *dc,
    struct director_host_list *list);
void director_host_list_free(struct director_host_list *list);
/* Send "CMD\tIP" and classify the one-line reply; the line goes to reply. */
int director_host_cmd(struct director_conn *dc, const char *cmd,
    const char *ip, enum director_reply *result, char *reply,
    size_t replylen);
/* Send a command and collect lines until the empty line (DIRECTOR-LIST). */
int director_list_cmd(struct director_conn *dc, const char *cmd,
    int (*line_cb)(char *line, void *ctx), void *ctx);

#endif
