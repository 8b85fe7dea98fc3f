#include "ctl_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
ctl_outq_clear(struct ctl_outq *q)
{
	size_t i;

	for (i = q->head; i < q->n; i++)
		free(q->msg[i].buf);
	free(q->msg);
	memset(q, 0, sizeof(*q));
}

int
ctl_outq_push(struct ctl_outq *q, const Poolmon__Response *resp)
{
	struct ctl_msg *grown;
	size_t len = poolmon__response__get_packed_size(resp);
	uint8_t *buf;

	if (q->n == q->cap) {
		grown = reallocarray(q->msg, q->cap ? q->cap * 2 : 4,
		    sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		q->msg = grown;
		q->cap = q->cap ? q->cap * 2 : 4;
	}
	if ((buf = malloc(len > 0 ? len : 1)) == NULL)
		return -ENOMEM;
	poolmon__response__pack(resp, buf);
	q->msg[q->n++] = (struct ctl_msg){ .buf = buf, .len = len };
	return 0;
}
