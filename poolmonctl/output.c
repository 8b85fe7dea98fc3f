/*
 * The rendering a reply gets: text or JSON. A reply without parts (the
 * daemon sent nothing usable) prints nothing.
 */
#include "output.h"

/* metrics: the parts' texts as they are, --json or not. */
static void
print_metrics(FILE *out, const struct ctl_reply *reply)
{
	size_t i;

	for (i = 0; i < reply->nparts; i++)
		if (reply->parts[i]->result_case ==
		    POOLMON__RESPONSE__RESULT_METRICS)
			fwrite(reply->parts[i]->metrics->text.data, 1,
			    reply->parts[i]->metrics->text.len, out);
}

void
ctl_print_reply(FILE *out, const struct ctl_reply *reply, bool json)
{
	if (reply->nparts == 0)
		return;
	if (reply->parts[0]->result_case == POOLMON__RESPONSE__RESULT_METRICS)
		print_metrics(out, reply);
	else if (json)
		ctl_print_json(out, reply);
	else
		ctl_print_text(out, reply);
}
