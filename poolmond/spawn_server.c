/*
 * The spawn server (spawn_server.h). It is forked from the daemon before
 * the pool is read, so each fork of a check process copies a small
 * process, not the daemon with its pool and event sources, and it pays
 * for the sandbox once: a check process inherits the user and the
 * filter, and only sets what fork clears.
 */
#include "spawn_server.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* The server's descriptors: the report pipe where every check process
 * expects it, then the daemon's socket. */
#define SERVER_REPORT_FD	3
#define SERVER_SOCKET_FD	4

/* Room for the replies of every request in flight (supervise.c caps
 * them) and for a burst of requests. */
#define SERVER_SOCKET_BUF	(256 * 1024)

/*
 * Two descriptors to fixed numbers, whatever they were: first above
 * both targets, so that one never overwrites the other.
 */
static int
move_fds(int report_fd, int sock)
{
	int r = fcntl(report_fd, F_DUPFD, SERVER_SOCKET_FD + 1);
	int s = fcntl(sock, F_DUPFD, SERVER_SOCKET_FD + 1);

	if (r < 0 || s < 0 || dup2(r, SERVER_REPORT_FD) < 0 ||
	    dup2(s, SERVER_SOCKET_FD) < 0)
		return -1;
	/* No pidfile lock, control, director or fleet socket here. */
	return close_range(SERVER_SOCKET_FD + 1, ~0U, 0);
}

/* In the server: the daemon's signals and descriptors dropped. */
static void
server_setup(int report_fd, int sock, pid_t daemon_pid)
{
	static const int reset[] = { SIGINT, SIGTERM, SIGQUIT, SIGCHLD,
	    SIGALRM };
	sigset_t none;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reset); i++)
		signal(reset[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* A reload meant for the daemon (killall -HUP poolmond) must not
	 * kill the server nor a check, and fail healthy backends. */
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != daemon_pid)
		_exit(1);
	if (move_fds(report_fd, sock) < 0)
		_exit(1);
	(void)prctl(PR_SET_NAME, "poolmond-spawn", 0, 0, 0);
}

/* The daemon's answer to a SPAWN_FORK. 0 or -errno. */
static int
answer(uint32_t slot, int32_t pid)
{
	struct spawn_reply rep = { .slot = slot, .pid = pid };

	/* Blocking: the daemon reads its answers on its loop. */
	while (send(SERVER_SOCKET_FD, &rep, sizeof(rep), MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/*
 * In a check process, the daemon's child: what fork cleared or the
 * server holds. RLIMIT_NPROC 0: the filter lets the server fork, and a
 * check process under it never may (it runs as an unprivileged user).
 */
static void __attribute__((noreturn))
check_process(const struct spawn_server_conf *conf,
    const struct spawn_request *req, pid_t daemon_pid)
{
	const struct rlimit none = { 0, 0 };

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The daemon died before that line: no one would reap us. */
	if (getppid() != daemon_pid)
		_exit(1);
	/* Our pid from us, not from the server: it reaches the daemon even
	 * if the server dies now, and the daemon reaps us. Unheard, no one
	 * would. Before the body: no backend's bytes have been read yet. */
	if (answer(req->slot, getpid()) < 0)
		_exit(1);
	close(SERVER_SOCKET_FD);
	(void)prctl(PR_SET_NAME, "poolmond", 0, 0, 0);
	if (setrlimit(RLIMIT_NPROC, &none) < 0)
		_exit(1);
	conf->body(conf->ctx, req->data, req->len, SERVER_REPORT_FD,
	    req->hard_deadline);
	_exit(0);
}

static void
fork_check(const struct spawn_server_conf *conf,
    const struct spawn_request *req, pid_t daemon_pid)
{
	long pid;

	/* CLONE_PARENT: the daemon's child, not ours. The filter allows
	 * clone with these flags only. */
	pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL,
	    NULL);
	if (pid == 0)
		check_process(conf, req, daemon_pid);
	/* A check process answers for itself. */
	if (pid < 0)
		(void)answer(req->slot, -errno);
}

static void __attribute__((noreturn))
server_loop(const struct spawn_server_conf *conf, pid_t daemon_pid)
{
	static struct spawn_request req;
	ssize_t n;

	for (;;) {
		n = recv(SERVER_SOCKET_FD, &req, sizeof(req), 0);
		if (n < 0 && errno == EINTR)
			continue;
		/* The daemon closed its end (stopping, or restarting us). */
		if (n <= 0)
			_exit(0);
		if ((size_t)n < SPAWN_REQUEST_HEADER ||
		    req.len != (size_t)n - SPAWN_REQUEST_HEADER)
			continue;
		if (req.kind == SPAWN_FORK)
			fork_check(conf, &req, daemon_pid);
		else if (req.kind == SPAWN_UPDATE)
			conf->update(conf->ctx, req.data, req.len);
		/* It may have held a password. */
		explicit_bzero(req.data, req.len);
	}
}

int
spawn_server_start(const struct spawn_server_conf *conf, int report_fd,
    pid_t *pid, int *sock)
{
	pid_t daemon_pid = getpid();
	int sv[2], buf = SERVER_SOCKET_BUF;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if ((*pid = fork()) < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (*pid == 0) {
		server_setup(report_fd, sv[1], daemon_pid);
		conf->enter(conf->ctx);
		server_loop(conf, daemon_pid);
	}
	close(sv[1]);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;

		close(sv[0]);
		return -e;
	}
	*sock = sv[0];
	return 0;
}
