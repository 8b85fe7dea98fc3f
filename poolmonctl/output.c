/*
 * The rendering a reply gets: text or JSON. A reply without parts (the
 * daemon sent nothing usable) prints nothing.
 */
#include "output.h"

void
ctl_print_reply(FILE *out, const struct ctl_reply *reply, bool json)
{
	if (reply->nparts == 0)
		return;
	if (json)
		ctl_print_json(out, reply);
	else
		ctl_print_text(out, reply);
}
