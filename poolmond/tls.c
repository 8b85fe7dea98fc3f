#include "tls.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

static void
openssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s: %s", what, r != NULL ? r : "failed");
	ERR_clear_error();
}

/*
 * Trust anchors, parsed once here so no check process reads them: the PEM
 * bundle given, else the system bundle as one file, else OpenSSL's default
 * paths (a hashed directory is looked up per verification).
 */
static int
load_trust(SSL_CTX *ctx, const char *cafile)
{
	const char *bundle = X509_get_default_cert_file();

	if (cafile != NULL)
		return SSL_CTX_load_verify_locations(ctx, cafile, NULL);
	if (bundle != NULL && access(bundle, R_OK) == 0 &&
	    SSL_CTX_load_verify_locations(ctx, bundle, NULL) == 1)
		return 1;
	ERR_clear_error();
	return SSL_CTX_set_default_verify_paths(ctx);
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
	/* Read what the socket holds, not a record's header then its body:
	 * half the read() calls. SSL_read() answers WANT_READ only once its
	 * buffer is spent, so no poll() waits on data already read. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	if (verify && load_trust(ctx, cafile) != 1) {
		openssl_err(err, errlen, cafile != NULL ? cafile :
		    "system CA store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	tls_warm_up(ctx);
	return ctx;
}

/* A throw-away self-signed certificate for the warm-up's server side. */
static X509 *
warm_up_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();

	if (x == NULL)
		return NULL;
	if (X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"poolmond", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Drive both ends of an in-process handshake to completion. */
static void
handshake_pair(SSL *client, SSL *server)
{
	int i, c = 0, s = 0;

	for (i = 0; i < 100 && (c != 1 || s != 1); i++) {
		if (c != 1) {
			c = SSL_do_handshake(client);
			if (c != 1 && SSL_get_error(client, c) !=
			    SSL_ERROR_WANT_READ)
				break;
		}
		if (s != 1) {
			s = SSL_do_handshake(server);
			if (s != 1 && SSL_get_error(server, s) !=
			    SSL_ERROR_WANT_READ)
				break;
		}
	}
}

void
tls_warm_up(SSL_CTX *client_ctx)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = key != NULL ? warm_up_cert(key) : NULL;
	SSL_CTX *server_ctx = SSL_CTX_new(TLS_server_method());
	SSL *client = NULL, *server = NULL;
	int sv[2] = { -1, -1 };

	if (cert == NULL || server_ctx == NULL ||
	    SSL_CTX_use_certificate(server_ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(server_ctx, key) != 1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) < 0)
		goto out;
	client = SSL_new(client_ctx);
	server = SSL_new(server_ctx);
	if (client == NULL || server == NULL ||
	    SSL_set_fd(client, sv[0]) != 1 || SSL_set_fd(server, sv[1]) != 1)
		goto out;
	/* The self-signed peer would fail verification: the point is to run
	 * the handshake's code once, so its algorithm and decoder caches are
	 * filled before the check processes are forked, not in each. */
	SSL_set_verify(client, SSL_VERIFY_NONE, NULL);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);
	handshake_pair(client, server);
out:
	SSL_free(client);
	SSL_free(server);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	SSL_CTX_free(server_ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	ERR_clear_error();
}
