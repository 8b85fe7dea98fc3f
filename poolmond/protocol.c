/* The protocol table: what poolmond knows of each protocol it checks. */
#include "protocol.h"

#include <string.h>
#include <strings.h>

#include "util.h"

/* These go into command lines: a CR or LF would inject commands. */
static const char *
address_invalid(const char *arg)
{
	return strpbrk(arg, "\r\n<>") != NULL ? "invalid address" : NULL;
}

static const char *
nonempty_address_invalid(const char *arg)
{
	return arg[0] == '\0' ? "invalid address" : address_invalid(arg);
}

static const struct proto_option lmtp_options[] = {
	{ "lmtp-from", "ADDR", "LMTP sender address (default: empty)",
	    POPT_LMTP_FROM, "", address_invalid },
	{ "lmtp-to", "ADDR", "LMTP recipient; makes the LMTP check a "
	    "transaction", POPT_LMTP_TO, NULL, nonempty_address_invalid },
};

static const struct protocol protocols[PROTO_COUNT] = {
	[PROTO_BANNER] = {
		.name = "TCP", .tls_name = "TCPS",
		.check = check_banner,
	},
	[PROTO_IMAP] = {
		.name = "IMAP", .tls_name = "IMAPS",
		.port = 143, .tls_port = 993, .by_default = true,
		.check = check_imap,
		.login = LOGIN_PASSWORD, .login_step = "LOGIN",
		.starttls = "STARTTLS",
	},
	[PROTO_POP3] = {
		.name = "POP3", .tls_name = "POP3S",
		.port = 110, .tls_port = 995, .by_default = true,
		.check = check_pop3,
		.login = LOGIN_PASSWORD, .login_step = "USER",
		.starttls = "STLS",
	},
	[PROTO_LMTP] = {
		.name = "LMTP", .tls_name = "LMTPS",
		.port = 24,
		.check = check_lmtp,
		.options = lmtp_options, .noptions = ARRAY_SIZE(lmtp_options),
	},
	/* ManageSieve. No port means it with implicit TLS: -s SIEVE:PORT. */
	[PROTO_SIEVE] = {
		.name = "SIEVE", .tls_name = "SIEVES",
		.port = 4190,
		.check = check_sieve,
		.login = LOGIN_SASL_PLAIN, .login_step = "AUTHENTICATE",
		.starttls = "STARTTLS",
	},
};

const struct protocol *
protocol_get(enum mail_proto proto)
{
	if ((unsigned int)proto >= PROTO_COUNT)
		proto = PROTO_BANNER;
	return &protocols[proto];
}

const char *
mail_proto_name(enum mail_proto proto, bool tls)
{
	const struct protocol *p = protocol_get(proto);

	return tls ? p->tls_name : p->name;
}

int
protocol_by_name(const char *name, size_t len, enum mail_proto *out)
{
	int i;

	for (i = PROTO_BANNER + 1; i < PROTO_COUNT; i++) {
		if (strlen(protocols[i].name) == len &&
		    strncasecmp(name, protocols[i].name, len) == 0) {
			*out = (enum mail_proto)i;
			return 0;
		}
	}
	return -1;
}

enum mail_proto
protocol_by_port(uint16_t port)
{
	int i;

	for (i = PROTO_BANNER + 1; i < PROTO_COUNT; i++)
		if (port != 0 && (protocols[i].port == port ||
		    protocols[i].tls_port == port))
			return (enum mail_proto)i;
	return PROTO_BANNER;
}

const struct proto_option *
protocol_option(enum proto_opt slot)
{
	size_t j;
	int i;

	for (i = 0; i < PROTO_COUNT; i++)
		for (j = 0; j < protocols[i].noptions; j++)
			if (protocols[i].options[j].slot == slot)
				return &protocols[i].options[j];
	return NULL;
}
