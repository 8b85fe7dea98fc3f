#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* CODE_FILE= and CODE_LINE= would name this file, not the caller. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

/* One logger per process: every module logs through it. */
static struct {
	const char *ident;
	char *path;		/* NULL: stderr or syslog */
	bool use_syslog;
	bool use_journal;
	bool debug;
	int fd;
} logger = { "poolmon", NULL, false, false, false, STDERR_FILENO };

/*
 * stderr is the journal's stream when JOURNAL_STREAM names its device and
 * inode (systemd.exec(5)); a stderr redirected elsewhere keeps the plain
 * lines.
 */
static bool
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

bool
log_to_journal(void)
{
	return logger.use_journal;
}

static int
open_logfile(const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	    0640);
	return fd < 0 ? -errno : fd;
}

int
log_init(const char *ident, const char *dest, bool debug)
{
	int fd;

	logger.ident = ident;
	logger.debug = debug;
	if (dest == NULL) {
		logger.fd = STDERR_FILENO;
		logger.use_journal = stderr_is_journal();
		return 0;
	}
	if (strcmp(dest, LOG_DEST_JOURNAL) == 0) {
		/* stderr stays the fallback when the journal cannot be had. */
		logger.fd = STDERR_FILENO;
		logger.use_journal = true;
		return 0;
	}
	if (strcmp(dest, LOG_DEST_SYSLOG) == 0) {
		logger.use_syslog = true;
		logger.fd = -1;
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		return 0;
	}
	if ((fd = open_logfile(dest)) < 0)
		return fd;
	/* Initialised again: the old file is done with. */
	if (logger.path != NULL && logger.fd > STDERR_FILENO)
		close(logger.fd);
	free(logger.path);
	if ((logger.path = strdup(dest)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	logger.fd = fd;
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (logger.path == NULL)
		return 0;
	if ((fd = open_logfile(logger.path)) < 0)
		return fd;
	/* dup2 keeps the descriptor number, so stderr redirections survive. */
	if (dup2(fd, logger.fd) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	return 0;
}

void
log_set_debug(bool debug)
{
	logger.debug = debug;
}

bool
log_get_debug(void)
{
	return logger.debug;
}

int
log_fd(void)
{
	return logger.fd;
}

void
log_close(void)
{
	if (logger.use_syslog)
		closelog();
	else if (logger.path != NULL && logger.fd > STDERR_FILENO)
		close(logger.fd);
	free(logger.path);
	logger.path = NULL;
}

/* KEY=value, for the journal; false when it does not fit. */
static bool
journal_field(struct iovec *iov, char *buf, size_t len, const char *key,
    const char *value)
{
	int n = snprintf(buf, len, "%s=%s", key, value);

	if (n < 0 || (size_t)n >= len)
		return false;
	iov->iov_base = buf;
	iov->iov_len = (size_t)n;
	return true;
}

/* 0, or -errno when the journal could not be reached. */
static int
journal_send(int pri, const char *msg, const struct log_fields *f)
{
	static const char *const keys[] = { "POOLMON_HOST", "POOLMON_EVENT",
	    "POOLMON_REASON", "POOLMON_PORT" };
	const char *values[4] = { NULL };
	char bufs[7][2400];
	struct iovec iov[7];
	char prio[2] = { (char)('0' + pri), '\0' };
	size_t i, n = 0;

	if (f != NULL) {
		values[0] = f->host;
		values[1] = f->event;
		values[2] = f->reason;
		values[3] = f->port;
	}
	n += journal_field(&iov[n], bufs[n], sizeof(bufs[n]), "MESSAGE", msg);
	n += journal_field(&iov[n], bufs[n], sizeof(bufs[n]), "PRIORITY",
	    prio);
	n += journal_field(&iov[n], bufs[n], sizeof(bufs[n]),
	    "SYSLOG_IDENTIFIER", logger.ident);
	for (i = 0; i < 4; i++)
		if (values[i] != NULL && values[i][0] != '\0')
			n += journal_field(&iov[n], bufs[n], sizeof(bufs[n]),
			    keys[i], values[i]);
	return sd_journal_sendv(iov, (int)n);
}

static void
vlog(int pri, const struct log_fields *f, const char *fmt, va_list ap,
    const char *suffix)
{
	static const char *const level[] = {
		[LOG_ERR] = "error", [LOG_WARNING] = "warning",
		[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
	};
	char msg[2048], stamp[32];
	struct tm tm;
	time_t now;
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix != NULL && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", suffix);
	if (logger.use_syslog) {
		syslog(pri, "%s", msg);
		return;
	}
	if (logger.use_journal && journal_send(pri, msg, f) >= 0)
		return;
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	/* One write(2) per line keeps lines whole when children share the fd. */
	char line[2300];
	n = snprintf(line, sizeof(line), "%s %s[%ld]: %s: %s\n", stamp,
	    logger.ident, (long)getpid(), level[pri], msg);
	if (n > (int)sizeof(line) - 1) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (logger.fd >= 0)
		(void)!write(logger.fd, line, (size_t)n);
}

#define LOG_BODY(pri, suffix) LOG_BODY_F(pri, NULL, suffix)
#define LOG_BODY_F(pri, f, suffix) do {		\
	va_list ap;				\
	va_start(ap, fmt);			\
	vlog((pri), (f), fmt, ap, (suffix));	\
	va_end(ap);				\
} while (0)

void
log_warn(const char *fmt, ...)
{
	const char *err = strerror(errno);

	LOG_BODY(LOG_WARNING, err);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, NULL);
}

void
log_debug(const char *fmt, ...)
{
	if (!logger.debug)
		return;
	LOG_BODY(LOG_DEBUG, NULL);
}

void
log_warnx_f(const struct log_fields *f, const char *fmt, ...)
{
	LOG_BODY_F(LOG_WARNING, f, NULL);
}

void
log_info_f(const struct log_fields *f, const char *fmt, ...)
{
	LOG_BODY_F(LOG_INFO, f, NULL);
}

void
log_debug_f(const struct log_fields *f, const char *fmt, ...)
{
	if (!logger.debug)
		return;
	LOG_BODY_F(LOG_DEBUG, f, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char *err = strerror(errno);

	LOG_BODY(LOG_ERR, err);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_ERR, NULL);
	exit(1);
}
