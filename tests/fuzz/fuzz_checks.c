/*
 * The check of every protocol of the table (protocol.h), and the banner
 * check, fed a server's byte stream. The first input byte picks the
 * protocol (bits 0, 1 and 3) and whether the check logs in and has its
 * protocol's options set (bit 2), the second the largest read, so
 * greetings and replies arrive split at every point; the rest is what the
 * server says.
 */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "checks.h"
#include "log.h"
#include "net.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SSL_CTX *
tls_ctx(void)
{
	static SSL_CTX *ctx;

	if (ctx == NULL) {
		ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char user[] = "fuzzuser", pass[] = "s3cret\"{pw}";
	/* base64 of "\0fuzzuser\0s3cret\"{pw}": SASL PLAIN's string */
	static const char sasl[] = "AGZ1enp1c2VyAHMzY3JldCJ7cHd9";
	struct check_env env = { .timeout_ms = 200 };
	struct portspec port = { .port = 143 };
	struct check_target t = { .env = &env, .ip = "127.0.0.1",
	    .verify_name = "127.0.0.1", .port = &port };
	const struct protocol *proto;
	struct check_result res;
	struct conn c;
	int sv[2], i;

	static bool logging;

	if (size < 2 || size > 64 * 1024)
		return 0;
	if (!logging)
		logging = log_init("fuzz", "/dev/null", false) == 0;
	port.proto = (enum mail_proto)(((data[0] & 3) | (data[0] & 8) >> 1) %
	    PROTO_COUNT);
	proto = protocol_get(port.proto);
	if (data[0] & 4) {
		env.creds.username = user;
		env.creds.password = pass;
		for (i = 0; i < POPT_COUNT; i++)
			env.proto_opts[i] = "fuzz@example.org";
	}
	env.ssl_ctx = tls_ctx();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	if (write(sv[1], data + 2, size - 2) != (ssize_t)(size - 2)) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	memset(&res, 0, sizeof(res));
	conn_attach(&c, sv[0], env.timeout_ms, &res);
	c.max_read = data[1] == 0 ? 0 : data[1];
	(void)proto->check(&c, &t);
	/* A reason is always a terminated, printable string. */
	if (strnlen(res.reason, sizeof(res.reason)) == sizeof(res.reason))
		__builtin_trap();
	/* Where the password is sent (a protocol that logs in), it never
	 * reaches a reason, even when the server echoes it back, nor, where
	 * it goes in one, does the SASL PLAIN string that carries it. */
	if (env.creds.password != NULL && proto->login != LOGIN_NONE &&
	    strstr(res.reason, pass) != NULL)
		__builtin_trap();
	if (env.creds.password != NULL && proto->login == LOGIN_SASL_PLAIN &&
	    strstr(res.reason, sasl) != NULL)
		__builtin_trap();
	conn_close(&c);
	close(sv[1]);
	return 0;
}
