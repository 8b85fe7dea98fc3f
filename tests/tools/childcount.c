/*
 * childcount - how many children a process has at once, sampled.
 *
 * usage: childcount PID SECONDS PERIOD_MS [EXCLUDE]
 *
 * For make bench: every PERIOD_MS for SECONDS (or until SIGTERM, SIGINT),
 * the number of PID's
 * children (its main thread's, from /proc/PID/task/PID/children: alive
 * or not yet reaped), then one line "SAMPLES MEDIAN MEAN MAX". Samples
 * are taken on a fixed schedule (a late one is not made up for), so the
 * mean approximates the time average: with the number of children started
 * in the same time it gives their mean lifetime (Little's law). Exits 1
 * when PID is gone before the first sample or on a bad argument.
 * EXCLUDE, a pid, is not counted (poolmond's spawn server).
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

/* PID's children now but EXCLUDE, -1 when PID is gone. */
static long count_children(const char *path, long exclude)
{
	static char buf[1 << 20];
	ssize_t n;
	size_t len = 0;
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
		if (child != exclude)
			count++;
	}
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
	long pid, count, max = 0, median = 0, v, exclude;
	long long next, end, period;
	struct timespec at;
	char path[64];

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: childcount PID SECONDS PERIOD_MS "
		    "[EXCLUDE]\n");
		return 1;
	}
	exclude = argc == 5 ? parse_long(argv[4], 0, 1L << 30, "pid") : 0;
	pid = parse_long(argv[1], 1, 1L << 30, "pid");
	next = mono_ns();
	end = next + parse_long(argv[2], 1, 86400, "duration") *
	    1000000000LL;
	period = parse_long(argv[3], 1, 10000, "period") * 1000000LL;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	while (!stop) {
		if ((count = count_children(path, exclude)) < 0)
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
