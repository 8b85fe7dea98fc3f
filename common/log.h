/*
 * A small logging API in the style of OpenBSD daemons: log_warn() appends
 * strerror(errno), log_warnx() does not; fatal()/fatalx() log and exit 1.
 * Output goes to stderr, a file (reopened on HUP) or syslog.
 */
#ifndef POOLMON_LOG_H
#define POOLMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#define LOG_DEST_SYSLOG "syslog"

/* dest: NULL for stderr, "syslog", or a file path (appended). Returns -errno. */
int log_init(const char *ident, const char *dest, bool debug);
int log_reopen(void);
void log_set_debug(bool debug);
bool log_get_debug(void);
/* The descriptor log lines go to, or -1 (syslog): kept open across a fork. */
int log_fd(void);
void log_close(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
