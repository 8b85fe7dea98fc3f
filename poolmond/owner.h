/*
 * Whose business a host's down state is. The state file (state.c) is the
 * record: a hold, or a HOST-DOWN poolmond sent itself. A host the director
 * has down without either is the operator's, and left alone.
 */
#ifndef POOLMOND_OWNER_H
#define POOLMOND_OWNER_H

#include <stdbool.h>

#include "pool.h"
#include "state.h"

/*
 * After a new HOST-LIST: each backend's owner from the record and the
 * director's state. A host poolmond took down that someone else brought
 * up is no longer poolmond's: its record goes (and the file is saved).
 * listed_ms: when the list was asked for (wall clock, ms); a fleet's
 * record newer than that stays whatever the list shows.
 */
void owner_derive_all(struct pool *p, struct state *st, bool adopt_down,
    int64_t listed_ms);
/* Write the state file; a failure is logged. 0 or -errno. */
int owner_state_save(const struct state *st);

#endif
