#ifndef POOLMOND_TLS_H
#define POOLMOND_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/*
 * The one client context, made in the daemon before any check process is
 * forked, so no child loads a CA store. TLS 1.2 and newer. With verify,
 * trust comes from cafile (PEM bundle) or the system store.
 */
SSL_CTX *tls_client_ctx_new(bool verify, const char *cafile, char *err,
    size_t errlen);

#endif
