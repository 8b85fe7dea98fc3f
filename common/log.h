/*
 * A small logging API in the style of OpenBSD daemons: log_warn() appends
 * strerror(errno), log_warnx() does not; fatal()/fatalx() log and exit 1.
 * Output goes to stderr, a file (reopened on HUP), syslog or the systemd
 * journal; in the journal, lines about a backend carry fields to filter
 * on (journalctl POOLMON_HOST=10.0.0.5).
 */
#ifndef POOLMON_LOG_H
#define POOLMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#define LOG_DEST_SYSLOG "syslog"
#define LOG_DEST_JOURNAL "journal"

/*
 * dest: NULL for stderr (the journal, with fields, when stderr is the
 * journal's stream: JOURNAL_STREAM), "syslog", "journal", or a file path
 * (appended). Returns -errno.
 */
int log_init(const char *ident, const char *dest, bool debug);
/* Whether lines go to the journal. */
bool log_to_journal(void);
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
/*
 * What a line is about, as journal fields (POOLMON_HOST=, POOLMON_EVENT=,
 * POOLMON_REASON=, POOLMON_PORT=); NULL members are left out. Elsewhere
 * only the message is written.
 */
struct log_fields {
	const char *host;
	const char *event;	/* down, up, flush, hold, release, spared... */
	const char *reason;
	const char *port;	/* "IMAP:143" */
};

void log_warnx_f(const struct log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_info_f(const struct log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_debug_f(const struct log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
