#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int
str_tabunescape(char *s)
{
	char *in = s, *out = s;

	for (; *in != '\0'; in++) {
		if (*in != '\001') {
			*out++ = *in;
			continue;
		}
		switch (*++in) {
		case '0': *out++ = '\0'; break;
		case '1': *out++ = '\001'; break;
		case 't': *out++ = '\t'; break;
		case 'r': *out++ = '\r'; break;
		case 'n': *out++ = '\n'; break;
		default:
			*out = '\0';
			return -EINVAL;
		}
	}
	*out = '\0';
	return 0;
}

int
str_tabescape_r(const char *src, char *dst, size_t dstlen)
{
	size_t o = 0;

	for (; *src != '\0'; src++) {
		char esc = 0;

		switch (*src) {
		case '\001': esc = '1'; break;
		case '\t': esc = 't'; break;
		case '\r': esc = 'r'; break;
		case '\n': esc = 'n'; break;
		}
		if (o + (esc ? 2 : 1) >= dstlen)
			return -ENOSPC;
		if (esc) {
			dst[o++] = '\001';
			dst[o++] = esc;
		} else
			dst[o++] = *src;
	}
	if (o >= dstlen)
		return -ENOSPC;
	dst[o] = '\0';
	return 0;
}

size_t
str_split_tabs(char *s, char **fields, size_t max)
{
	size_t n = 0;

	if (max == 0)
		return 0;
	fields[n++] = s;
	for (; *s != '\0' && n < max; s++) {
		if (*s == '\t') {
			*s = '\0';
			fields[n++] = s + 1;
		}
	}
	return n;
}

void
str_sanitize_r(const char *src, size_t srclen, char *dst, size_t dstlen)
{
	size_t i;

	if (dstlen == 0)
		return;
	for (i = 0; i < srclen && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
}

size_t
str_copy(char *dst, const char *src, size_t dstlen)
{
	size_t len = strlen(src);

	if (dstlen > 0) {
		size_t n = len < dstlen - 1 ? len : dstlen - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

bool
ratelimit_allow(struct ratelimit *rl, int64_t now, unsigned int *suppressed)
{
	if (rl->count == 0 || now - rl->window_start >= rl->interval_ms) {
		rl->window_start = now;
		rl->count = 0;
	}
	if (rl->count < rl->burst) {
		rl->count++;
		*suppressed = rl->suppressed;
		rl->suppressed = 0;
		return true;
	}
	if (rl->suppressed < UINT_MAX)
		rl->suppressed++;
	*suppressed = rl->suppressed;
	return false;
}

int
ip_parse(const char *s, int *family, void *out)
{
	if (inet_pton(AF_INET, s, out) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, s, out) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

int
ip_canonical(const char *s, char *out, size_t outlen)
{
	unsigned char bin[sizeof(struct in6_addr)];
	int family;

	if (ip_parse(s, &family, bin) < 0 ||
	    inet_ntop(family, bin, out, (socklen_t)outlen) == NULL)
		return -EINVAL;
	return 0;
}

/* "127.0.0.1:9095" or "[::1]:9095": an address literal and a port. */
int
addrport_parse(const char *arg, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *colon, *start = arg;
	size_t hostlen;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (arg[0] == '[') {
		start = arg + 1;
		if ((colon = strstr(start, "]:")) == NULL)
			return -EINVAL;
		hostlen = (size_t)(colon - start);
		colon++;
	} else {
		if ((colon = strrchr(arg, ':')) == NULL)
			return -EINVAL;
		hostlen = (size_t)(colon - arg);
	}
	if (hostlen == 0 || hostlen >= sizeof(host) ||
	    parse_long(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	memcpy(host, start, hostlen);
	host[hostlen] = '\0';
	if (start == arg && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (start != arg && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

int
fleet_addr_parse(const char *arg, uint16_t defport,
    struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + 16];
	struct in6_addr a;
	int family;
	size_t len = strlen(arg);

	if (len == 0 || len >= INET6_ADDRSTRLEN + 8)
		return -EINVAL;
	/* A bare address: the default port. */
	if (ip_parse(arg, &family, &a) == 0)
		snprintf(buf, sizeof(buf), family == AF_INET6 ? "[%s]:%u" :
		    "%s:%u", arg, (unsigned int)defport);
	else if (arg[0] == '[' && arg[len - 1] == ']')
		snprintf(buf, sizeof(buf), "%s:%u", arg, (unsigned int)defport);
	else
		str_copy(buf, arg, sizeof(buf));
	return addrport_parse(buf, ss);
}

int
addrport_format(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN];
	int n;

	if (ss->ss_family == AF_INET &&
	    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) != NULL)
		n = snprintf(out, outlen, "%s:%u", host,
		    (unsigned int)ntohs(sin->sin_port));
	else if (ss->ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)) != NULL)
		n = snprintf(out, outlen, "[%s]:%u", host,
		    (unsigned int)ntohs(sin6->sin6_port));
	else
		return -EINVAL;
	return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

bool
fleet_addr_equal(const char *a, const char *b, uint16_t defport)
{
	struct sockaddr_storage x, y;
	char fx[INET6_ADDRSTRLEN + 8], fy[INET6_ADDRSTRLEN + 8];

	return fleet_addr_parse(a, defport, &x) == 0 &&
	    fleet_addr_parse(b, defport, &y) == 0 &&
	    addrport_format(&x, fx, sizeof(fx)) == 0 &&
	    addrport_format(&y, fy, sizeof(fy)) == 0 && strcmp(fx, fy) == 0;
}

bool
sockaddr_is_unspecified(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

int
err_set(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}
