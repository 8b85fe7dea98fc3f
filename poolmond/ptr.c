/* PTR names: plausible, and confirmed by a forward lookup. */
#include "ptr.h"

#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

static size_t
addr_len(int family)
{
	return family == AF_INET ? sizeof(struct in_addr) :
	    family == AF_INET6 ? sizeof(struct in6_addr) : 0;
}

/* Only a plausible DNS name is worth verifying a certificate against. */
static bool
valid_dns_name(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len < PTR_NAME_MAX && name[0] != '.' &&
	    name[0] != '-' && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == len;
}

bool
ptr_name_take(char *name, size_t len, const char *answer)
{
	size_t n;

	if (answer == NULL || str_copy(name, answer, len) >= len) {
		if (len > 0)
			name[0] = '\0';
		return false;
	}
	/* A trailing dot names the root; certificates do not. */
	n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		name[n - 1] = '\0';
	if (!valid_dns_name(name)) {
		name[0] = '\0';
		return false;
	}
	return true;
}

bool
ptr_forward_confirms(const struct hostent *h, int family,
    const unsigned char *addr)
{
	size_t len = addr_len(family);
	char **a;

	if (h == NULL || len == 0 || h->h_addrtype != family ||
	    (size_t)h->h_length != len || h->h_addr_list == NULL)
		return false;
	for (a = h->h_addr_list; *a != NULL; a++)
		if (memcmp(*a, addr, len) == 0)
			return true;
	return false;
}
