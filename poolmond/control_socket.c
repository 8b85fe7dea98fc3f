#include "control_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define CTL_BACKLOG		16

static int
resolve_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group *gr;
	long v;

	if ((gr = getgrnam(name)) != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (parse_long(name, 0, INT32_MAX, &v) == 0) {
		*gid = (gid_t)v;
		return 0;
	}
	return err_set(err, errlen, -ENOENT, "--control-group '%s': no such "
	    "group", name);
}

/* Why the directory could not be opened, O_NOFOLLOW | O_DIRECTORY. */
static int
socket_dir_error(const char *dir, int e, char *err, size_t errlen)
{
	struct stat st;

	/* A symlink opened so fails with ENOTDIR (or ELOOP). */
	if ((e == ENOTDIR || e == ELOOP) && lstat(dir, &st) == 0 &&
	    S_ISLNK(st.st_mode))
		return err_set(err, errlen, -ELOOP, "control socket directory "
		    "%s: is a symbolic link; give the directory itself", dir);
	if (e == ENOTDIR)
		return err_set(err, errlen, -ENOTDIR, "control socket "
		    "directory %s: not a directory", dir);
	return err_set(err, errlen, -e, "control socket directory %s: %s",
	    dir, strerror(e));
}

/*
 * Created 0750 with the control group, whose members must reach it. Never
 * changed through a symlink: it is opened O_NOFOLLOW and changed through
 * that descriptor, so a symlink swapped in after mkdir() gains nothing;
 * a symlink in its place is refused.
 */
static int
make_socket_dir(const char *path, gid_t gid, char *err, size_t errlen)
{
	char dir[PATH_MAX], *slash;
	bool created;
	int fd, e;

	str_copy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	created = mkdir(dir, 0750) == 0;
	if (!created && errno != EEXIST)
		return socket_dir_error(dir, errno, err, errlen);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return socket_dir_error(dir, errno, err, errlen);
	if (created && (fchown(fd, (uid_t)-1, gid) < 0 ||
	    fchmod(fd, 0750) < 0)) {
		e = errno;
		close(fd);
		return socket_dir_error(dir, e, err, errlen);
	}
	close(fd);
	if (created)
		log_info("created control socket directory %s", dir);
	return 0;
}

static void
fill_sockaddr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	str_copy(sun->sun_path, path, sizeof(sun->sun_path));
}

/*
 * A socket file that another process still accepts on is left alone;
 * one nobody listens on (a crashed instance's) is removed.
 */
static int
clear_stale_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, r, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		e = errno;
		return err_set(err, errlen, -e, "control socket %s: %s", path,
		    strerror(e));
	}
	if (!S_ISSOCK(st.st_mode))
		return err_set(err, errlen, -EEXIST, "control socket %s: "
		    "exists and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		e = errno;
		return err_set(err, errlen, -e, "socket: %s", strerror(e));
	}
	fill_sockaddr(&sun, path);
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	close(fd);
	if (r == 0 || e == EAGAIN || e == EINPROGRESS || e == EPROTOTYPE)
		return err_set(err, errlen, -EADDRINUSE, "control socket %s is "
		    "in use: another poolmond is running with it", path);
	if (e != ECONNREFUSED)
		return err_set(err, errlen, -e, "control socket %s: %s", path,
		    strerror(e));
	if (unlink(path) < 0 && errno != ENOENT) {
		e = errno;
		return err_set(err, errlen, -e, "stale control socket %s: %s",
		    path, strerror(e));
	}
	log_info("removed stale control socket %s", path);
	return 0;
}

static int
bind_socket(struct ctl_socket *ctl, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int r, e;

	ctl->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (ctl->fd < 0) {
		e = errno;
		return err_set(err, errlen, -e, "socket: %s", strerror(e));
	}
	fill_sockaddr(&sun, ctl->path);
	/* Created 0660 at once: never a moment others may connect. */
	old = umask(0117);
	r = bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	umask(old);
	if (r < 0)
		return err_set(err, errlen, -e, "control socket %s: %s",
		    ctl->path, strerror(e));
	/* The file bind() made, not whatever a symlink swapped in names. */
	if (fchownat(AT_FDCWD, ctl->path, (uid_t)-1, ctl->gid,
	    AT_SYMLINK_NOFOLLOW) < 0 || listen(ctl->fd, CTL_BACKLOG) < 0 ||
	    lstat(ctl->path, &st) < 0) {
		e = errno;
		unlink(ctl->path);
		return err_set(err, errlen, -e, "control socket %s: %s",
		    ctl->path, strerror(e));
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	return 0;
}

int
ctl_socket_open(struct ctl_socket *s, const char *path, const char *group,
    char *err, size_t errlen)
{
	int r;

	s->fd = -1;
	if (strlen(path) >= sizeof(s->path))
		return err_set(err, errlen, -ENAMETOOLONG, "control socket "
		    "%s: path too long", path);
	str_copy(s->path, path, sizeof(s->path));
	if ((r = resolve_group(group, &s->gid, err, errlen)) < 0)
		return r;
	if ((r = make_socket_dir(path, s->gid, err, errlen)) < 0)
		return r;
	if ((r = clear_stale_socket(path, err, errlen)) < 0)
		return r;
	return bind_socket(s, err, errlen);
}

void
ctl_socket_close(struct ctl_socket *s)
{
	struct stat st;

	if (s->fd < 0)
		return;
	close(s->fd);
	s->fd = -1;
	/* Only our own file: a new instance may have replaced it. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
}
