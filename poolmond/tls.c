#include "tls.h"

#include <stdio.h>

#include <openssl/err.h>

static void
openssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s: %s", what, r != NULL ? r : "failed");
	ERR_clear_error();
}

SSL_CTX *
tls_client_ctx_new(bool verify, const char *cafile, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		openssl_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Checks are one-shot connections: no session cache to keep. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	if (verify) {
		int ok = cafile != NULL ?
		    SSL_CTX_load_verify_locations(ctx, cafile, NULL) :
		    SSL_CTX_set_default_verify_paths(ctx);

		if (ok != 1) {
			openssl_err(err, errlen, cafile != NULL ? cafile :
			    "system CA store");
			SSL_CTX_free(ctx);
			return NULL;
		}
	}
	return ctx;
}
