/*
 * What poolmonctl prints: a reply as text for people (output_text.c), or
 * as one JSON document with stable keys, listed in poolmonctl(8), for
 * programs (output_json.c).
 */
#ifndef POOLMONCTL_OUTPUT_H
#define POOLMONCTL_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "client.h"

/* Print the result in reply, if it carries one. */
void ctl_print_reply(FILE *out, const struct ctl_reply *reply, bool json);
void ctl_print_text(FILE *out, const struct ctl_reply *reply);
void ctl_print_json(FILE *out, const struct ctl_reply *reply);
/* One watch event: a line of text, or one JSON object on one line. */
void ctl_print_event_text(FILE *out, const Poolmon__WatchEvent *e);
void ctl_print_event_json(FILE *out, const Poolmon__WatchEvent *e);

#endif
