#ifndef POOLMON_UTIL_H
#define POOLMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic clock in milliseconds: deadlines never jump with the wall clock. */
int64_t now_ms(void);
/* Wall clock in milliseconds since the epoch: for records shared between
 * machines (a fleet's), never for deadlines. */
int64_t wall_ms(void);

/* Decimal integer in [min, max] with nothing after it. 0 or -EINVAL/-ERANGE. */
int parse_long(const char *s, long min, long max, long *out);

/*
 * Dovecot's tab-escaping (\001 is the escape character) as the
 * director-admin protocol uses it. Unescape works in place; it returns
 * -EINVAL on a dangling or unknown escape.
 */
int str_tabunescape(char *s);
/* Escape src into dst of size dstlen; -ENOSPC when it does not fit. */
int str_tabescape_r(const char *src, char *dst, size_t dstlen);

/* Split s in place at tabs; at most max fields. Returns the field count. */
size_t str_split_tabs(char *s, char **fields, size_t max);

/* Copy a string for a log line: control bytes and non-ASCII become '?'. */
void str_sanitize_r(const char *src, size_t srclen, char *dst, size_t dstlen);

/*
 * An IPv4 or IPv6 address in text: its family (AF_INET, AF_INET6) and
 * binary form (out: 16 bytes), or -EINVAL. The one place that knows both.
 */
int ip_parse(const char *s, int *family, void *out);
/* The address in its canonical text form ("0::1" -> "::1"); -EINVAL. */
int ip_canonical(const char *s, char *out, size_t outlen);

struct sockaddr_storage;
/*
 * "127.0.0.1:9095" or "[::1]:9095": an address literal and a port, into
 * ss. 0 or -EINVAL.
 */
int addrport_parse(const char *arg, struct sockaddr_storage *ss);
/*
 * As addrport_parse(), the port optional: "192.0.2.1", "192.0.2.1:9094",
 * "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:9094"; defport when
 * none is given. -EINVAL.
 */
int fleet_addr_parse(const char *arg, uint16_t defport,
    struct sockaddr_storage *ss);
/* Whether two fleet_addr_parse() arguments name one address and port. */
bool fleet_addr_equal(const char *a, const char *b, uint16_t defport);
/* The canonical "ADDR:PORT" ("[v6]:PORT") of an IPv4 or IPv6 address. */
int addrport_format(const struct sockaddr_storage *ss, char *out,
    size_t outlen);
/* 0.0.0.0 or ::, which name no monitor. */
bool sockaddr_is_unspecified(const struct sockaddr_storage *ss);

/*
 * Format why something failed into err and return code (a -errno): one
 * line for "return err_set(err, errlen, -ENOENT, ...)".
 */
int err_set(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* strlcpy semantics: always terminates, returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t dstlen);

/*
 * At most burst events in a window of interval_ms, the window starting at
 * its first event: what others can make the daemon log stays bounded.
 */
struct ratelimit {
	int64_t interval_ms;
	unsigned int burst;
	int64_t window_start;
	unsigned int count;		/* allowed in this window */
	unsigned int suppressed;	/* refused since the last allowed */
};

/*
 * Whether one more event may go ahead at now (monotonic ms). When it may,
 * *suppressed is how many were refused since the last one allowed; when
 * not, how many have been refused so far, this one included.
 */
bool ratelimit_allow(struct ratelimit *rl, int64_t now,
    unsigned int *suppressed);

#endif
