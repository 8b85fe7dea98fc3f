/*
 * The fleet's messages (proto/fleet.proto) as C structs: an Offer parsed
 * and checked, or built from them. Everything a peer sends is bounded
 * here: a message that breaks a bound is refused whole, never trimmed
 * into a different meaning.
 */
#ifndef POOLMOND_FLEET_MSG_H
#define POOLMOND_FLEET_MSG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hlc.h"
#include "state.h"

/* "[v6 address]:65535" */
#define FLEET_ADDR_MAX		(INET6_ADDRSTRLEN + 8)
/* Verdicts and records an offer may carry: a pool's worth. */
#define FLEET_ITEMS_MAX		STATE_MAX_ENTRIES
#define FLEET_REASON_MAX	512

enum fleet_verdict {
	FLEET_VERDICT_UNKNOWN,	/* neither yet, or not checked */
	FLEET_VERDICT_OK,
	FLEET_VERDICT_FAILED,
};

struct fleet_verdict_msg {
	char host[INET6_ADDRSTRLEN];	/* canonical */
	enum fleet_verdict verdict;
	char *reason;			/* malloc'ed; NULL: none */
	time_t at;			/* 0: unknown */
};

enum fleet_record_kind {
	FLEET_RECORD_CLEARED,
	FLEET_RECORD_OWNED,
	FLEET_RECORD_HOLD,
};

struct fleet_record_msg {
	char host[INET6_ADDRSTRLEN];	/* canonical */
	enum fleet_record_kind kind;
	struct hlc_stamp at;
	char origin[FLEET_ADDR_MAX];	/* "" when not given */
	struct hold_info hold;		/* of a hold */
};

struct fleet_offer {
	char monitor[FLEET_ADDR_MAX];	/* canonical ADDR:PORT */
	int64_t sent_at_ms;
	unsigned int interval_s;	/* 0: not given */
	uint64_t scans;
	bool can_act;
	bool dry_run;
	struct fleet_verdict_msg *verdicts;
	size_t nverdicts;
	struct fleet_record_msg *records;
	size_t nrecords;
};

/*
 * Parse one message. 0, or -EINVAL (-EPROTONOSUPPORT for another
 * version, -ENOMEM) with why set; the offer is then empty. Free with
 * fleet_offer_free() either way.
 */
int fleet_offer_parse(const uint8_t *buf, size_t len,
    struct fleet_offer *offer, char *why, size_t whylen);
/* Pack an offer: malloc'ed bytes. 0 or -ENOMEM. */
int fleet_offer_pack(const struct fleet_offer *offer, uint8_t **buf,
    size_t *len);
void fleet_offer_free(struct fleet_offer *offer);

#endif
