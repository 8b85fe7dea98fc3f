#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* One logger per process: every module logs through it. */
static struct {
	const char *ident;
	char *path;		/* NULL: stderr or syslog */
	bool use_syslog;
	bool debug;
	int fd;
} logger = { "poolmon", NULL, false, false, STDERR_FILENO };

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

static void
vlog(int pri, const char *fmt, va_list ap, const char *suffix)
{
	static const char *const level[] = {
		[LOG_ERR] = "error", [LOG_WARNING] = "warning",
		[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
	};
	char msg[2048], stamp[32];
	struct tm tm;
	time_t now;
	int n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (logger.use_syslog) {
		if (suffix != NULL)
			syslog(pri, "%s: %s", msg, suffix);
		else
			syslog(pri, "%s", msg);
		return;
	}
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	/* One write(2) per line keeps lines whole when children share the fd. */
	char line[2300];
	n = snprintf(line, sizeof(line), "%s %s[%ld]: %s: %s%s%s\n", stamp,
	    logger.ident, (long)getpid(), level[pri], msg,
	    suffix != NULL ? ": " : "", suffix != NULL ? suffix : "");
	if (n > (int)sizeof(line) - 1) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (logger.fd >= 0)
		(void)!write(logger.fd, line, (size_t)n);
}

#define LOG_BODY(pri, suffix) do {		\
	va_list ap;				\
	va_start(ap, fmt);			\
	vlog((pri), fmt, ap, (suffix));		\
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
