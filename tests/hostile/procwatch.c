/*
 * procwatch: sample the children of a process while they run.
 *
 *   procwatch PID INTERVAL_MS OUTFILE
 *	Every INTERVAL_MS, read /proc/PID/task/PID/children and, for each
 *	child, VmHWM and Threads from /proc/C/status and Private_Clean +
 *	Private_Dirty from /proc/C/smaps_rollup (what the child has of its
 *	own, not the pages it still shares with PID). Runs until PID is
 *	gone or procwatch gets SIGTERM/SIGINT, then writes to OUTFILE:
 *
 *	samples=N children=M most_at_once=K max_hwm_kb=X max_private_kb=Y
 *	max_threads=T daemon_hwm_kb=D
 *
 *	and one line per child "child PID hwm_kb=X private_kb=Y threads=T
 *	samples=S".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACKED	65536

struct child {
	long pid;
	long hwm_kb;
	long private_kb;
	long threads;
	long samples;
};

static volatile sig_atomic_t stop;
static struct child tracked[MAX_TRACKED];
static size_t ntracked;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* The value of "Key:" in a /proc file of "Key: value" lines, or -1. */
static long
proc_field(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static struct child *
find(long pid)
{
	size_t i;

	for (i = 0; i < ntracked; i++)
		if (tracked[i].pid == pid)
			return &tracked[i];
	if (ntracked == MAX_TRACKED)
		return NULL;
	tracked[ntracked].pid = pid;
	return &tracked[ntracked++];
}

static void
sample_child(long pid)
{
	char path[64];
	long hwm, threads, pc, pd;
	struct child *c;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	hwm = proc_field(path, "VmHWM");
	threads = proc_field(path, "Threads");
	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
	pc = proc_field(path, "Private_Clean");
	pd = proc_field(path, "Private_Dirty");
	/* A zombie has no memory left to show. */
	if (hwm < 0 || (c = find(pid)) == NULL)
		return;
	c->samples++;
	if (hwm > c->hwm_kb)
		c->hwm_kb = hwm;
	if (threads > c->threads)
		c->threads = threads;
	if (pc >= 0 && pd >= 0 && pc + pd > c->private_kb)
		c->private_kb = pc + pd;
}

int
main(int argc, char **argv)
{
	char path[64], daemon_status[64];
	long pid, child, interval, daemon_hwm = 0, h;
	unsigned long samples = 0;
	size_t i, at_once, most = 0;
	struct timespec ts;
	long max_hwm = 0, max_private = 0, max_threads = 0;
	FILE *f, *out;

	if (argc != 4) {
		fprintf(stderr, "usage: procwatch PID INTERVAL_MS OUTFILE\n");
		return 64;
	}
	pid = atol(argv[1]);
	interval = atol(argv[2]);
	ts.tv_sec = interval / 1000;
	ts.tv_nsec = (interval % 1000) * 1000000L;
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
	snprintf(daemon_status, sizeof(daemon_status), "/proc/%ld/status",
	    pid);
	while (!stop) {
		if ((f = fopen(path, "r")) == NULL)
			break;
		at_once = 0;
		while (fscanf(f, "%ld", &child) == 1) {
			sample_child(child);
			at_once++;
		}
		fclose(f);
		if (at_once > most)
			most = at_once;
		if ((h = proc_field(daemon_status, "VmHWM")) > daemon_hwm)
			daemon_hwm = h;
		samples++;
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < ntracked; i++) {
		if (tracked[i].hwm_kb > max_hwm)
			max_hwm = tracked[i].hwm_kb;
		if (tracked[i].private_kb > max_private)
			max_private = tracked[i].private_kb;
		if (tracked[i].threads > max_threads)
			max_threads = tracked[i].threads;
	}
	if ((out = fopen(argv[3], "w")) == NULL) {
		perror(argv[3]);
		return 1;
	}
	fprintf(out, "samples=%lu children=%zu most_at_once=%zu max_hwm_kb=%ld "
	    "max_private_kb=%ld max_threads=%ld daemon_hwm_kb=%ld\n", samples,
	    ntracked, most, max_hwm, max_private, max_threads, daemon_hwm);
	for (i = 0; i < ntracked; i++)
		fprintf(out, "child %ld hwm_kb=%ld private_kb=%ld threads=%ld "
		    "samples=%ld\n", tracked[i].pid, tracked[i].hwm_kb,
		    tracked[i].private_kb, tracked[i].threads,
		    tracked[i].samples);
	fclose(out);
	return 0;
}
