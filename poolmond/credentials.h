/*
 * The login of the checks: a user name and a password read from the
 * credential file (-c). The password is kept away from every log line,
 * reason and command line; memory holding it is wiped when freed.
 */
#ifndef POOLMOND_CREDENTIALS_H
#define POOLMOND_CREDENTIALS_H

#include <stddef.h>

#define CREDFILE_MAX	4096	/* larger files are refused */

struct credentials {
	char *username;		/* NULL: no credentials, no login */
	char *password;
};

/*
 * Read and validate path: a regular file, not a symlink, owned by root or
 * by our effective uid, neither readable nor writable by group or others, user name on line 1 and password on line 2 (CR/LF
 * stripped, both non-empty, no NUL bytes). Returns 0, or -1 with err set
 * to a message that never quotes the file's contents.
 */
int credentials_load(const char *path, struct credentials *out, char *err,
    size_t errlen);
/*
 * Re-read path (HUP, reload). A good file replaces *cur; a bad one leaves
 * *cur as it was and the error is logged. Returns 0 or -1.
 */
int credentials_reload(const char *path, struct credentials *cur);
/* Wipe and free; *c is then "no credentials". */
void credentials_clear(struct credentials *c);
/*
 * A reply line made fit for a reason or log line: every occurrence of the
 * password replaced by "***", then sanitized like str_sanitize_r. A
 * server may echo what it was sent; this keeps the password out anyway.
 */
void credentials_redact(const struct credentials *c, const char *line,
    size_t len, char *out, size_t outlen);
/*
 * No core dump of this process or of the children it forks may hold the
 * password: RLIMIT_CORE 0 (soft and hard) and PR_SET_DUMPABLE 0, both
 * inherited across fork(). A change of uid or gid resets the dumpable
 * flag (to fs.suid_dumpable): call it again after one. 0 or -errno.
 */
int credentials_no_core_dumps(void);

#endif
