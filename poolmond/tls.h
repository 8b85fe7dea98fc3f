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
/*
 * One TLS handshake within the daemon, against itself, so OpenSSL's lazily
 * filled algorithm and decoder caches are filled once, before forking, and
 * shared by every check process instead of rebuilt in each.
 */
void tls_warm_up(SSL_CTX *client_ctx);

#endif
