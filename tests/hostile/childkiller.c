/*
 * childkiller: the machine in trouble. Kills the children of a process as
 * soon as they appear, as the OOM killer or an operator might.
 *
 *   childkiller PID SECONDS [odd|all] [stop]
 *	For SECONDS, every millisecond, read /proc/PID/task/PID/children
 *	and SIGKILL each child (with "odd", only those with an odd pid, so
 *	that in one scan some checks die and others finish). Prints
 *	"killed=N" at the end. With "stop", SIGSTOP instead (as a debugger
 *	or a tracer might), each child once: "stopped=N".
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	static long done[4096];
	char path[64];
	long killed = 0, end, i;
	bool odd, stop;
	FILE *f;
	long pid;

	if (argc < 3) {
		fprintf(stderr, "usage: childkiller PID SECONDS [odd|all] "
		    "[stop]\n");
		return 2;
	}
	odd = argc > 3 && strcmp(argv[3], "odd") == 0;
	stop = argc > 4 && strcmp(argv[4], "stop") == 0;
	snprintf(path, sizeof(path), "/proc/%s/task/%s/children", argv[1],
	    argv[1]);
	end = now_ms() + atol(argv[2]) * 1000;
	while (now_ms() < end) {
		if ((f = fopen(path, "r")) == NULL)
			break;		/* the parent is gone */
		while (fscanf(f, "%ld", &pid) == 1) {
			if (odd && pid % 2 == 0)
				continue;
			for (i = 0; stop && i < killed && done[i] != pid; i++)
				;
			if (stop && (i < killed || killed == 4096))
				continue;
			if (kill((pid_t)pid, stop ? SIGSTOP : SIGKILL) == 0)
				done[killed++ % 4096] = pid;
		}
		fclose(f);
		usleep(1000);
	}
	printf("%s=%ld\n", stop ? "stopped" : "killed", killed);
	return 0;
}
