/*
 * The credential file: load, validate, reload. poolmon 0.7 only warned
 * about a file others could read; poolmond refuses it at start-up, and on
 * a reload keeps the credentials in use rather than die or run without.
 */
#include "credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define CRED_BAD_MODE	(S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)
#define REDACT_MAX	512	/* of a reply line, for a reason */

static int __attribute__((format(printf, 3, 4)))
cred_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The file's bytes into buf (size CREDFILE_MAX + 1), after the checks. */
static ssize_t
read_credfile(const char *path, char *buf, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n, total = 0;
	int fd, saved;

	/*
	 * No symlink: whoever may change one could point it at a file of
	 * their own. Non-blocking, so a FIFO cannot hang us (it is then
	 * refused as not a regular file).
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW |
	    O_NONBLOCK);
	if (fd < 0 && errno == ELOOP)
		return cred_err(err, errlen, "is a symbolic link; give the "
		    "file itself");
	if (fd < 0)
		return cred_err(err, errlen, "%s", strerror(errno));
	/* fstat of the open file: what we check is what we read. */
	if (fstat(fd, &st) < 0) {
		saved = errno;
		close(fd);
		return cred_err(err, errlen, "%s", strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cred_err(err, errlen, "not a regular file");
	}
	/* Anyone else who owns it may chmod it, or rewrite it. */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		close(fd);
		return cred_err(err, errlen, "owned by uid %lu, neither root "
		    "nor poolmond's user (uid %lu); run chown root on it",
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
	}
	if (st.st_mode & CRED_BAD_MODE) {
		close(fd);
		return cred_err(err, errlen, "mode %04o lets group or others "
		    "read or write it; run chmod 600 on it",
		    (unsigned int)(st.st_mode & 07777));
	}
	for (;;) {
		n = read(fd, buf + total, (size_t)(CREDFILE_MAX + 1 - total));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
		if (total > CREDFILE_MAX)
			break;
	}
	saved = errno;
	close(fd);
	if (n < 0)
		return cred_err(err, errlen, "%s", strerror(saved));
	if (total > CREDFILE_MAX)
		return cred_err(err, errlen, "larger than %d bytes",
		    CREDFILE_MAX);
	return total;
}

/* Line at *pos without its CR/LF; advances *pos past the line end. */
static char *
next_line(char *buf, size_t len, size_t *pos, size_t *linelen)
{
	char *line = buf + *pos, *nl;
	size_t n;

	if (*pos >= len) {
		*linelen = 0;
		return line;
	}
	nl = memchr(line, '\n', len - *pos);
	n = nl != NULL ? (size_t)(nl - line) : len - *pos;
	*pos += n + (nl != NULL ? 1 : 0);
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	*linelen = n;
	return line;
}

static int
parse_credfile(char *buf, size_t len, struct credentials *out, char *err,
    size_t errlen)
{
	size_t pos = 0, ulen, plen;
	char *user, *pass;

	if (memchr(buf, '\0', len) != NULL)
		return cred_err(err, errlen, "contains a NUL byte");
	user = next_line(buf, len, &pos, &ulen);
	pass = next_line(buf, len, &pos, &plen);
	if (ulen == 0 || plen == 0)
		return cred_err(err, errlen, "needs a user name on line 1 and "
		    "a password on line 2");
	/* A CR inside a line would end a command line early and inject the
	 * rest as another command. */
	if (memchr(user, '\r', ulen) != NULL || memchr(pass, '\r', plen) != NULL)
		return cred_err(err, errlen, "has a carriage return inside the "
		    "user name or password");
	out->username = strndup(user, ulen);
	out->password = strndup(pass, plen);
	if (out->username == NULL || out->password == NULL) {
		credentials_clear(out);
		return cred_err(err, errlen, "out of memory");
	}
	return 0;
}

int
credentials_load(const char *path, struct credentials *out, char *err,
    size_t errlen)
{
	char buf[CREDFILE_MAX + 1];
	ssize_t n;
	int r;

	memset(out, 0, sizeof(*out));
	n = read_credfile(path, buf, err, errlen);
	if (n < 0)
		return -1;
	r = parse_credfile(buf, (size_t)n, out, err, errlen);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

int
credentials_reload(const char *path, struct credentials *cur)
{
	struct credentials fresh;
	char err[256];

	if (credentials_load(path, &fresh, err, sizeof(err)) < 0) {
		log_warnx("credential file %s: %s; keeping the credentials in "
		    "use%s", path, err, cur->username != NULL ? "" :
		    " (none)");
		return -1;
	}
	credentials_clear(cur);
	*cur = fresh;
	log_info("credential file %s reloaded (user %s)", path,
	    cur->username);
	return 0;
}

void
credentials_clear(struct credentials *c)
{
	if (c->password != NULL) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->username);
	c->username = c->password = NULL;
}

void
credentials_redact(const struct credentials *c, const char *line,
    size_t len, char *out, size_t outlen)
{
	char buf[REDACT_MAX];
	const char *pw = c != NULL ? c->password : NULL;
	size_t plen = pw != NULL ? strlen(pw) : 0, i = 0, o = 0;

	while (i < len && o + 1 < sizeof(buf)) {
		if (plen > 0 && len - i >= plen &&
		    memcmp(line + i, pw, plen) == 0) {
			o += str_copy(buf + o, "***", sizeof(buf) - o);
			if (o >= sizeof(buf))
				o = sizeof(buf) - 1;
			i += plen;
		} else
			buf[o++] = line[i++];
	}
	str_sanitize_r(buf, o, out, outlen);
	explicit_bzero(buf, sizeof(buf));
}

int
credentials_no_core_dumps(void)
{
	const struct rlimit none = { 0, 0 };

	/* The hard limit too: no process of ours may raise it again. */
	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return -errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
