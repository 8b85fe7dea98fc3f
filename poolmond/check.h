/*
 * Health checks of one backend port. Every check ends in one completion
 * path: a struct check_result with a precise status from enum check_status
 * (its strings are listed in poolmond(8) under DIAGNOSTICS) and a reason
 * "STEP: detail" naming the protocol step that failed.
 */
#ifndef POOLMOND_CHECK_H
#define POOLMOND_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config.h"
#include "credentials.h"

#define CHECK_REASON_MAX	240

enum check_status {
	CHECK_OK,
	CHECK_ECONNECT,		/* TCP connect failed */
	CHECK_ETIMEOUT,		/* the attempt's deadline passed */
	CHECK_ECLOSED,		/* the peer closed the connection */
	CHECK_EIO,		/* read or write error */
	CHECK_ETOOLONG,		/* a reply line exceeded the line cap */
	CHECK_ETOOMANY,		/* too many continuation lines */
	CHECK_EBANNER,		/* greeting is not what the protocol says */
	CHECK_ETLS,		/* TLS handshake or certificate failed */
	CHECK_ESTARTTLS,	/* STARTTLS/STLS refused */
	CHECK_ELOGIN,		/* login refused */
	CHECK_ELMTP,		/* LMTP LHLO/MAIL/RCPT refused */
	CHECK_EREPLY,		/* reply not understood */
	CHECK_EKILLED,		/* check process killed at its hard deadline */
	CHECK_ECHILD,		/* check process failed (fork, crash) */
	CHECK_EINTERNAL,
	CHECK_ELOCAL,		/* out of descriptors, memory or ports here */
	CHECK_STATUS_COUNT
};

/* What every check needs; prepared by the parent before forking. */
struct check_env {
	int timeout_ms;		/* one attempt, connect to last reply */
	int retries;
	int retry_delay_ms;
	SSL_CTX *ssl_ctx;	/* NULL when no check can use TLS */
	bool ssl_verify;
	const char *ssl_name;	/* name to verify; NULL: PTR name or address */
	struct credentials creds;	/* creds.username NULL: no login */
	bool require_tls;	/* never send credentials without TLS */
	const char *proto_opts[POPT_COUNT];	/* protocol.h's options */
	const char *source_address;	/* bind before connect; NULL: none */
};

struct fiber;

struct check_target {
	const struct check_env *env;
	struct fiber *fiber;		/* NULL: waits block the thread */
	const char *ip;
	const char *verify_name;	/* name for TLS verification/SNI */
	const struct portspec *port;
	/* The backend offered STARTTLS/STLS before: a missing offer now is
	 * an attacker's stripping, not a reason to log in in clear. */
	bool tls_seen;
};

struct check_result {
	enum check_status status;
	bool warning;		/* passed, but reason holds a config warning */
	bool tls_offered;	/* STARTTLS or STLS was offered */
	bool cleartext_login;	/* credentials were sent without TLS */
	uint16_t tries;
	uint32_t latency_ms;	/* of the last attempt */
	char reason[CHECK_REASON_MAX];
};

const char *check_status_str(enum check_status status);
/*
 * Whether a status says nothing about the backend: poolmond could not
 * make the check (its process failed, a resource ran out, a bug).
 */
bool check_status_is_local(enum check_status status);

/* One attempt of one port. */
void check_port_once(const struct check_target *t, struct check_result *res);
/* Attempts with retries, as configured; the last attempt's result. */
void check_port(const struct check_target *t, struct check_result *res,
    int64_t hard_deadline);

#endif
