/*
 * What poolmond must remember across restarts: the hosts it took down
 * itself (only those it brings up again) and the operator's maintenance
 * holds. Kept in a small text file written atomically.
 */
#ifndef POOLMOND_STATE_H
#define POOLMOND_STATE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "hlc.h"

#define DEFAULT_STATE_FILE	"/var/lib/poolmon/state"
#define HOLD_REASON_MAX		200
#define STATE_MAX_ENTRIES	65536
/* A fleet monitor's "ADDR:PORT" ("[v6]:PORT"). */
#define STATE_ORIGIN_MAX	(INET6_ADDRSTRLEN + 8)
/* How long a fleet keeps the record of a host no one owns any more. */
#define STATE_CLEARED_KEEP_MS	(30LL * 24 * 3600 * 1000)

enum owner {
	/* up, or nobody's business yet; in a fleet's state, a record that
	 * the host is no one's (it was brought up): see state_record() */
	OWNER_NONE,
	OWNER_POOLMOND,		/* poolmond took it down */
	OWNER_OPERATOR,		/* down by someone else: left alone */
	OWNER_HOLD,		/* maintenance hold: kept down */
};

struct hold_info {
	uid_t uid;
	time_t since;
	bool flush;
	char reason[HOLD_REASON_MAX];
};

struct state_entry {
	char ip[INET6_ADDRSTRLEN];
	enum owner owner;	/* OWNER_POOLMOND or OWNER_HOLD */
	/*
	 * OWNER_POOLMOND recorded before HOST-DOWN is sent, its OK not yet:
	 * the host is poolmond's if the director shows it down, else the
	 * command never took effect and the entry goes.
	 */
	bool pending;
	struct hold_info hold;
	/* With a fleet: when (the fleet's hybrid logical clock) and by
	 * which monitor the entry last changed; the latest change wins
	 * across the fleet. */
	struct hlc_stamp at;
	char origin[STATE_ORIGIN_MAX];
	bool from_peer;		/* merged from a peer's offer */
};

/*
 * The entries are in a balanced tree (tsearch(3)), so loading n of them
 * and each insertion cost O(log n) comparisons, and a state_find() result
 * stays valid until that entry is removed.
 */
struct state {
	const char *path;	/* NULL: nothing is persisted */
	void *root;		/* of struct state_entry, by ip */
	size_t n;
	/* Backends that offered STARTTLS/STLS: never logged in to in clear
	 * again (a missing offer may be an attacker's stripping). */
	void *tls_root;		/* of strdup'ed ips */
	size_t ntls;
	/*
	 * A fleet's state (fleet.c): a removed entry stays as an OWNER_NONE
	 * record, so that an older record of a peer cannot bring it back;
	 * every change carries its time and this monitor as origin.
	 */
	bool fleet;
	char self[STATE_ORIGIN_MAX];
	/* Stamps changes: after every stamp loaded or merged. */
	struct hlc hlc;
	/* Records the last load skipped (unreadable, or a newer kind). */
	size_t skipped;
};

const char *owner_str(enum owner owner);
/*
 * A hold reason poolmond takes (from poolmonctl, or a peer): shorter than
 * HOLD_REASON_MAX, one line, no control character but a tab. Anything
 * else, non-ASCII included, is kept word for word.
 */
bool hold_reason_valid(const char *reason);

/*
 * Load path into st. A missing file is a first start (empty state). A
 * record that cannot be read (or of a kind a newer poolmond wrote) is
 * skipped and logged with its line number, the others kept, and the file
 * as it was copied to PATH.corrupt. A file that is no state file at all
 * (its header) or cannot be read is moved aside to PATH.corrupt and
 * logged; poolmond then starts empty. Returns 0, or -errno for out of
 * memory.
 */
int state_load(struct state *st, const char *path);
/*
 * Parse a state file's contents: every record that can be read is
 * taken, the others skipped (logged, counted in st->skipped). -EINVAL
 * with why when it is no state file (header), -ENOMEM.
 */
int state_parse(struct state *st, const char *buf, size_t len, char *why,
    size_t whylen);
/*
 * Write atomically: a fresh temporary file beside path (mkstemp, never a
 * fixed name someone else may have created), fsync, rename, directory
 * fsync. -errno.
 */
int state_save(const struct state *st);
/* The file's contents, as state_save() writes them, to f. 0 or -EIO. */
int state_format(const struct state *st, FILE *f);
/* The entry of ip that owns it (never an OWNER_NONE record), or NULL. */
struct state_entry *state_find(const struct state *st, const char *ip);
/* Any record of ip, an OWNER_NONE one of a fleet included, or NULL. */
struct state_entry *state_record(const struct state *st, const char *ip);
/*
 * A peer's record of ip: taken when it is newer (at, then origin) than
 * what st has. The clock moves past at either way. 1 taken, 0 not,
 * -errno.
 */
int state_merge(struct state *st, const char *ip, enum owner owner,
    struct hlc_stamp at, const char *origin, const struct hold_info *hold);
/* Every record, in address order (twalk). */
void state_walk(const struct state *st,
    void (*fn)(const struct state_entry *e, void *arg), void *arg);
int state_set(struct state *st, const char *ip, enum owner owner,
    const struct hold_info *hold);
/* Returns true if there was an entry. */
bool state_remove(struct state *st, const char *ip);
void state_free(struct state *st);
bool state_tls_seen(const struct state *st, const char *ip);
/* 1 when newly recorded, 0 when it was, or -errno. */
int state_tls_mark(struct state *st, const char *ip);

#endif
