/*
 * What makes a PTR name one to verify a backend's certificate against
 * (the name context of poolmon 0.7): a plausible DNS name, and one that
 * resolves forward to the backend's own address. Whoever answers DNS for
 * the address's reverse zone chooses its PTR name; only the forward zone's
 * owner can make that name point back (forward-confirmed reverse DNS).
 * The lookups themselves are the daemon's resolver's (resolver.h).
 */
#ifndef POOLMOND_PTR_H
#define POOLMOND_PTR_H

#include <stdbool.h>
#include <stddef.h>

#define PTR_NAME_MAX		256	/* a DNS name and its NUL */
#define PTR_ADDR_MAX		16	/* an IPv6 address */

struct hostent;

/*
 * Copy a PTR answer into name without the root's trailing dot, which
 * certificates do not carry. false when it is no plausible DNS name.
 */
bool ptr_name_take(char *name, size_t len, const char *answer);
/*
 * Whether a forward answer (A or AAAA) for the PTR name holds addr, the
 * backend's address of family (AF_INET or AF_INET6).
 */
bool ptr_forward_confirms(const struct hostent *h, int family,
    const unsigned char *addr);

#endif
