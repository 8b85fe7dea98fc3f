/*
 * maxrss: run a command and, once it has exited, write the largest
 * resident set it or any process it reaped ever had, as the kernel counts
 * it (getrusage(RUSAGE_CHILDREN) of the whole tree: a reaped process
 * passes on the larger of its own peak and its children's). For poolmond
 * this covers every check process, even those that lived a millisecond.
 *
 *   maxrss OUTFILE PROGRAM [ARG...]
 *	OUTFILE gets "maxrss_kb=N status=S". TERM, INT, QUIT and HUP are
 *	passed on to PROGRAM; maxrss exits as PROGRAM did.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void
forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP };
	struct sigaction sa;
	sigset_t block, old;
	struct rusage ru;
	FILE *out;
	size_t i;
	int status;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: maxrss OUTFILE PROGRAM [ARG...]\n");
		return 64;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&block);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	/* No signal is lost between fork() and knowing the child's pid. */
	sigprocmask(SIG_BLOCK, &block, &old);
	if ((pid = fork()) < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		sa.sa_handler = SIG_DFL;
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			sigaction(sigs[i], &sa, NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	child = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			return 1;
		}
	getrusage(RUSAGE_CHILDREN, &ru);
	if ((out = fopen(argv[1], "w")) != NULL) {
		fprintf(out, "maxrss_kb=%ld status=%d\n", ru.ru_maxrss,
		    WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status));
		fclose(out);
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
