/*
 * A control client's output: packed Responses waiting to be written, in
 * order. What replies are made into (control_reply.c) and what the client
 * transport writes from (control.c).
 */
#ifndef POOLMOND_CTL_QUEUE_H
#define POOLMOND_CTL_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "poolmon.pb-c.h"

struct ctl_msg {
	uint8_t *buf;
	size_t len;
};

struct ctl_outq {
	struct ctl_msg *msg;
	size_t n;		/* queued */
	size_t head;		/* written */
	size_t cap;
};

void ctl_outq_clear(struct ctl_outq *q);
/* Pack resp onto the end of q. 0 or -ENOMEM. */
int ctl_outq_push(struct ctl_outq *q, const Poolmon__Response *resp);

#endif
