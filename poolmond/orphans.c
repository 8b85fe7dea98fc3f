/*
 * Check processes no one knows (orphans.h): /proc/self/task/TID/children
 * for the daemon's children, /proc/PID/status for their state and their
 * number of seccomp filters (Seccomp_filters, Linux 5.9).
 */
#include "orphans.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"

struct look_pass {
	struct orphan_look *look;
	int own_filters;		/* the daemon's */
	const pid_t *known;
	size_t nknown;
	pid_t found[ORPHAN_SUSPECTS_MAX];
	size_t nfound;
	int reaped;
	bool ending;			/* orphans_end(): every one found goes */
};

static int
cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* A process's state and its number of seccomp filters, from path (a
 * /proc status file). -1: unreadable. */
static int
read_status(const char *path, char *state, int *filters)
{
	char line[128];
	FILE *f;

	*state = 0;
	*filters = 0;
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "State: %c", state) != 1)
			(void)sscanf(line, "Seccomp_filters: %d", filters);
	fclose(f);
	return 0;
}

/* What a child with more seccomp filters than the daemon (own) is. */
enum orphan_kind { NOT_ONE, ZOMBIE, STOPPED };

static enum orphan_kind
orphan_kind(pid_t pid, int own)
{
	char path[64], state;
	int filters;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if (read_status(path, &state, &filters) < 0 || filters <= own)
		return NOT_ONE;
	if (state == 'Z')
		return ZOMBIE;
	/* Stopped (SIGSTOP, a tracer) before it could answer: no deadline
	 * of ours holds it, and it would outlive us, stopped before it
	 * asked for the daemon's death signal. */
	return state == 'T' || state == 't' ? STOPPED : NOT_ONE;
}

static bool
was_suspect(const struct orphan_look *look, pid_t pid)
{
	size_t i;

	for (i = 0; i < look->nsuspects; i++)
		if (look->suspects[i] == pid)
			return true;
	return false;
}

/* One thread's children. */
static void
look_at_children(struct look_pass *pass, const char *tid)
{
	char path[PATH_MAX];
	enum orphan_kind kind;
	long pid;
	pid_t p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/children", tid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fscanf(f, "%ld", &pid) == 1) {
		p = (pid_t)pid;
		if (pid <= 0 || (pass->nknown > 0 && bsearch(&p, pass->known,
		    pass->nknown, sizeof(pid_t), cmp_pid) != NULL))
			continue;
		kind = orphan_kind(p, pass->own_filters);
		if (kind == NOT_ONE)
			continue;
		if (pass->ending) {
			(void)kill(p, SIGKILL);
			while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
				;
			pass->reaped++;
			continue;
		}
		if (kind == ZOMBIE && was_suspect(pass->look, p)) {
			if (waitpid(p, NULL, WNOHANG) == p) {
				log_warnx("check process %ld ended before "
				    "poolmond knew it; reaped", pid);
				pass->reaped++;
			}
			continue;
		}
		/* Killed now, it is a zombie to reap at a look to come. */
		if (kind == STOPPED && was_suspect(pass->look, p) &&
		    kill(p, SIGKILL) == 0)
			log_warnx("check process %ld stopped before poolmond "
			    "knew it; killed", pid);
		if (pass->nfound < ORPHAN_SUSPECTS_MAX)
			pass->found[pass->nfound++] = p;
	}
	fclose(f);
}

/* Every thread's children, in pass. 0 or -errno. */
static int
look_at_all(struct look_pass *pass)
{
	struct dirent *d;
	char state;
	DIR *tasks;

	if (read_status("/proc/self/status", &state, &pass->own_filters) < 0)
		return -errno;
	if ((tasks = opendir("/proc/self/task")) == NULL)
		return -errno;
	while ((d = readdir(tasks)) != NULL)
		if (d->d_name[0] != '.')
			look_at_children(pass, d->d_name);
	closedir(tasks);
	return 0;
}

int
orphans_look(struct orphan_look *look, pid_t *known, size_t n)
{
	struct look_pass pass = { .look = look, .known = known, .nknown = n };
	int r;

	/* n log n: --max-children goes to 65536. */
	if (n > 0)
		qsort(known, n, sizeof(pid_t), cmp_pid);
	if ((r = look_at_all(&pass)) < 0)
		return r;
	memcpy(look->suspects, pass.found, pass.nfound * sizeof(pid_t));
	look->nsuspects = pass.nfound;
	return pass.reaped;
}

int
orphans_end(void)
{
	struct orphan_look none = { .nsuspects = 0 };
	struct look_pass pass = { .look = &none, .ending = true };
	int r;

	if ((r = look_at_all(&pass)) < 0)
		return r;
	return pass.reaped;
}
