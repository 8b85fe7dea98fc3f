/*
 * The protocols poolmond checks, in one table: each one's name, the ports
 * that mean it, its check, whether and how it logs in and upgrades to TLS,
 * and its own options. The command line, --help, the check's dispatch,
 * the TLS set-up and the fuzz target read it: a protocol is named here,
 * in protocol.c and in its own check_*.c, nowhere else.
 */
#ifndef POOLMOND_PROTOCOL_H
#define POOLMOND_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mail_proto {
	PROTO_BANNER,		/* no known protocol: any banner line passes */
	PROTO_IMAP,
	PROTO_POP3,
	PROTO_LMTP,
	PROTO_SIEVE,
	PROTO_COUNT
};

/* The protocols' own options: where config and check_env keep each. */
enum proto_opt {
	POPT_LMTP_FROM,		/* NULL or "": the null sender */
	POPT_LMTP_TO,		/* NULL: the LMTP check stops after LHLO */
	POPT_COUNT
};

/* How a protocol's check logs in with the credentials (-c). */
enum proto_login {
	LOGIN_NONE,		/* never */
	LOGIN_PASSWORD,		/* the password as it is, in a command */
	LOGIN_SASL_PLAIN,	/* in a SASL PLAIN string, base64 */
};

struct conn;
struct check_target;

/* A protocol's dialogue: 0 when healthy, -1 with the failure recorded in
 * the connection's check_result. */
typedef int check_fn(struct conn *c, const struct check_target *t);

struct proto_option {
	const char *name;	/* the long option, without "--" */
	const char *arg;	/* its argument, as --help shows it */
	const char *help;	/* its line of --help */
	enum proto_opt slot;
	const char *dflt;	/* when not given; NULL: unset */
	/* NULL when arg is a good value, else what is wrong with it. */
	const char *(*invalid)(const char *arg);
};

struct protocol {
	const char *name;	/* in port specs (any case) and reasons */
	const char *tls_name;	/* in reasons, for implicit TLS */
	uint16_t port;		/* a plain port that means it; 0: none */
	uint16_t tls_port;	/* an implicit-TLS port meaning it; 0: none */
	bool by_default;	/* checked (plain) when no -p or -s is given */
	check_fn *check;
	enum proto_login login;
	/* The step the credentials go with, for messages. */
	const char *login_step;
	/* The command that upgrades a plain port to TLS before a login;
	 * NULL: the check never upgrades. */
	const char *starttls;
	const struct proto_option *options;
	size_t noptions;
};

/* The checks the table names (check.c, check_*.c). */
int check_banner(struct conn *c, const struct check_target *t);
int check_imap(struct conn *c, const struct check_target *t);
int check_pop3(struct conn *c, const struct check_target *t);
int check_lmtp(struct conn *c, const struct check_target *t);
int check_sieve(struct conn *c, const struct check_target *t);

/*
 * A protocol's entry; [PROTO_BANNER] is that of a port of no known
 * protocol ("TCP"), which no port spec names. Out of range: that one.
 */
const struct protocol *protocol_get(enum mail_proto proto);
/* "IMAP", "IMAPS" with implicit TLS; "TCP" or "TCPS" for PROTO_BANNER. */
const char *mail_proto_name(enum mail_proto proto, bool tls);
/* The protocol named by the len bytes at name, any case; -1: none. */
int protocol_by_name(const char *name, size_t len, enum mail_proto *out);
/* The protocol a port number means, plain or TLS; PROTO_BANNER: none. */
enum mail_proto protocol_by_port(uint16_t port);
/* The option that keeps its value in slot. */
const struct proto_option *protocol_option(enum proto_opt slot);

#endif
