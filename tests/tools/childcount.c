/*
 * childcount - how many children a process has at once, sampled.
 *
 * usage: childcount PID SECONDS PERIOD_MS [NAME]
 *
 * For make bench: every PERIOD_MS for SECONDS (or until SIGTERM, SIGINT),
 * the number of PID's
 * children (its main thread's, from /proc/PID/task/PID/children: alive
 * or not yet reaped), then one line "SAMPLES MEDIAN MEAN MAX". Samples
 * are taken on a fixed schedule (a late one is not made up for), so the
 * mean approximates the time average: with the number of children started
 * in the same time it gives their mean lifetime (Little's law). Exits 1
 * when PID is gone before the first sample or on a bad argument.
 *
 * With NAME, children whose comm is NAME are not counted (poolmond's
 * spawn server, "poolmond-spawn"). A child's comm is read when it is
 * first seen, and again at each sample while it is NAME: a check process
 * bears its server's name for the microseconds before it renames itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Counts above this are counted as this (far above --max-children). */
#define COUNT_MAX 65535

static unsigned long hist[COUNT_MAX + 1];
static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

#define TRACK_MAX 4096

/* The children of the last sample, and whether each is not counted. */
static long seen_pid[TRACK_MAX], now_pid[TRACK_MAX];
static char seen_skip[TRACK_MAX], now_skip[TRACK_MAX];
static size_t nseen;

static int named(long child, const char *name)
{
	char path[64], comm[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/comm", child);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, name) == 0;
}

/* Whether child is not counted, NAME's. */
static int skipped(long child, const char *name)
{
	size_t i;

	for (i = 0; i < nseen; i++)
		if (seen_pid[i] == child)
			return seen_skip[i] ? named(child, name) : 0;
	return named(child, name);
}

/* PID's children now (but NAME's), -1 when it is gone. */
static long count_children(const char *path, const char *name)
{
	static char buf[1 << 20];
	ssize_t n;
	size_t len = 0, nnow = 0;
	long count = 0, child;
	int fd;
	char *p, *end;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0)
		return -1;
	buf[len] = '\0';
	for (p = buf;; p = end) {
		child = strtol(p, &end, 10);
		if (end == p)
			break;
		if (name == NULL) {
			count++;
			continue;
		}
		if (nnow < TRACK_MAX) {
			now_pid[nnow] = child;
			now_skip[nnow] = (char)skipped(child, name);
			count += !now_skip[nnow];
			nnow++;
		} else
			count++;
	}
	memcpy(seen_pid, now_pid, nnow * sizeof(*now_pid));
	memcpy(seen_skip, now_skip, nnow);
	nseen = nnow;
	return count;
}

static long parse_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "childcount: bad %s: %s\n", what, s);
		exit(1);
	}
	return v;
}

static long long mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long samples = 0, seen = 0, total = 0;
	long pid, count, max = 0, median = 0, v;
	long long next, end, period;
	struct timespec at;
	const char *name;
	char path[64];

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: childcount PID SECONDS PERIOD_MS "
		    "[NAME]\n");
		return 1;
	}
	name = argc == 5 ? argv[4] : NULL;
	pid = parse_long(argv[1], 1, 1L << 30, "pid");
	next = mono_ns();
	end = next + parse_long(argv[2], 1, 86400, "duration") *
	    1000000000LL;
	period = parse_long(argv[3], 1, 10000, "period") * 1000000LL;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	while (!stop) {
		if ((count = count_children(path, name)) < 0)
			break;
		if (count > COUNT_MAX)
			count = COUNT_MAX;
		hist[count]++;
		samples++;
		total += (unsigned long)count;
		if (count > max)
			max = count;
		/* The next tick of the schedule still ahead. */
		while (next <= mono_ns())
			next += period;
		if (next >= end)
			break;
		at.tv_sec = (time_t)(next / 1000000000LL);
		at.tv_nsec = (long)(next % 1000000000LL);
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC,
		    TIMER_ABSTIME, &at, NULL) == EINTR)
			;
	}
	if (samples == 0) {
		fprintf(stderr, "childcount: no process %ld\n", pid);
		return 1;
	}
	for (v = 0; v <= COUNT_MAX; v++) {
		seen += hist[v];
		if (seen * 2 >= samples) {
			median = v;
			break;
		}
	}
	printf("%lu %ld %.3f %ld\n", samples, median,
	    (double)total / (double)samples, max);
	return fflush(stdout) == 0 ? 0 : 1;
}
