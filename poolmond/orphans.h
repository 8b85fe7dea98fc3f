/*
 * Check processes no one knows: a check process killed as it was forked
 * (with its spawn server, or by a "pkill poolmond-spawn" that caught it
 * still bearing the server's name) ends before its pid reaches the
 * daemon, and no child source watches it. A look at the daemon's children
 * finds such zombies: with more seccomp filters than the daemon (the
 * spawn server loads one of its own, which its check processes inherit;
 * a hook's or a kick's process has the daemon's, which systemd's
 * SystemCallFilter= may have set) and not known. One found at two looks
 * in a row is reaped: a zombie whose answer the loop has not read yet is
 * known by the next look. One found stopped (SIGSTOP or a tracer caught
 * it before it answered) at two looks in a row is killed, and reaped as
 * a zombie at the looks after.
 */
#ifndef POOLMOND_ORPHANS_H
#define POOLMOND_ORPHANS_H

#include <stddef.h>
#include <sys/types.h>

/* A look keeps at most this many for the next; more wait their turn. */
#define ORPHAN_SUSPECTS_MAX	64

struct orphan_look {
	pid_t suspects[ORPHAN_SUSPECTS_MAX];	/* found at the last look */
	size_t nsuspects;
};

/*
 * One look among the calling process's children; known (n of them, every
 * slot's and server's pid) is sorted in place. The number reaped, each
 * logged, or -errno.
 */
int orphans_look(struct orphan_look *look, pid_t *known, size_t n);

/*
 * At the daemon's end, once every check process and server it knows is
 * reaped: any child left stopped or a zombie with more filters than the
 * daemon is killed and reaped (one stopped before it asked for the
 * daemon's death signal would outlive it; one still running has asked,
 * or ends when it finds its parent gone). The number reaped, or -errno.
 */
int orphans_end(void);

#endif
