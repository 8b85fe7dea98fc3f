/*
 * The control socket's reply messages (control_reply.c): packing into a
 * client's output queue, the messages of backends, and the status and
 * recheck replies that are produced a part at a time as the client reads.
 * Internal to control.c and its tests.
 */
#ifndef POOLMOND_CONTROL_REPLY_H
#define POOLMOND_CONTROL_REPLY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "control.h"
#include "poolmon.pb-c.h"

struct backend;

/* Set an optional proto2 field and its presence flag. */
#define SET(m, field, v)	((m)->has_##field = 1, (m)->field = (v))

/* A Response of this protocol version answering request id. */
void ctl_response_init(Poolmon__Response *resp, uint64_t id, bool success);

/* The reply messages of a set of backends, with the storage they use. */
struct backend_set {
	Poolmon__Backend *msg;
	Poolmon__Backend **ptr;
	size_t *size;		/* packed size of each */
	Poolmon__PortCheck *checks;
	Poolmon__PortCheck **checkp;
	size_t n;
	size_t cap;
};

/* Room for cap backends of nports each. 0 or -ENOMEM. */
int backend_set_alloc(struct backend_set *set, size_t cap, size_t nports);
void backend_set_free(struct backend_set *set);
/* Empty the set for reuse, freeing what the fleet added to its messages. */
void backend_set_clear(struct backend_set *set);
/*
 * Append b (set->n < set->cap); its strings are used in place, so pack
 * before b changes. 0 or -ENOMEM (nothing appended).
 */
int backend_set_add(struct backend_set *set, const struct control_ctx *ctx,
    const struct backend *b);

/*
 * A status or recheck reply with every backend it lists, produced one part
 * at a time: the daemon holds one part per client whatever the size of the
 * pool. The backends follow in address order from the one after the last
 * sent, so a host list replaced between two parts (a scan started) neither
 * repeats nor skips a host that is in both; each part shows the state when
 * it was made.
 */
struct ctl_stream {
	bool active;
	bool recheck;			/* else a status */
	uint64_t id;
	bool first;			/* the next part is the first */
	char after[INET6_ADDRSTRLEN];	/* the last address sent, or "" */
	struct backend_set set;		/* one part's messages */
	/* A recheck's: the scan that answered it and what it asked for. */
	uint32_t scan_id;
	char **hosts;			/* sorted; NULL: every backend */
	size_t nhosts;
	char **not_found;		/* into hosts; in the first part */
	size_t nnot_found;
	char message[512];
};

/* Begin a status reply to request id. 0 or -ENOMEM. */
int ctl_stream_status(struct ctl_stream *s, const struct control_ctx *ctx,
    uint64_t id);
/*
 * Begin the reply to a recheck that the last scan (the summary's
 * scan_id) answered. The stream takes hosts (malloc'ed strings in the
 * director's form; NULL with nhosts 0 for every backend) whatever it
 * returns. 0 or -ENOMEM.
 */
int ctl_stream_recheck(struct ctl_stream *s, const struct control_ctx *ctx,
    uint64_t id, char **hosts, size_t nhosts);
/*
 * Queue the next part (at most CTL_PART_TARGET bytes) on q; the stream
 * ends with the part whose "more" is unset. 0 or -ENOMEM (the stream is
 * then ended, nothing queued).
 */
int ctl_stream_next(struct ctl_stream *s, const struct control_ctx *ctx,
    struct ctl_outq *q);
void ctl_stream_end(struct ctl_stream *s);

#endif
