/*
 * The spawn server (spawn_server.c), with this test as the daemon: a check
 * process it forks is the daemon's own child (waitpid here works), runs
 * in the sandbox the server entered once (user, no_new_privs, seccomp),
 * cannot fork (RLIMIT_NPROC 0, and a plain fork is outside the filter),
 * sees what an update changed in the server, and outlives a server that
 * dies. A malformed request is ignored, not fatal. Two check processes
 * draw different random bytes from OpenSSL though neither ran fork()'s
 * handlers (it reseeds on a new pid). A check process sends the daemon
 * its pid itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "sandbox.h"
#include "spawn_server.h"
#include "proc_status.h"
#include "unit.h"
#include "util.h"

struct test_ctx {
	struct sandbox sb;
	char updated[32];
};

/* What a check process of this test reports. */
struct record {
	pid_t ppid;
	int fork_errno;		/* of a CLONE_PARENT clone, 0: it forked */
	char data[32];
	char updated[32];
};

static struct test_ctx ctx;
static char err[512];

static void
enter(void *arg)
{
	struct test_ctx *c = arg;

	sandbox_enter(&c->sb);
}

static void
update(void *arg, const void *data, size_t len)
{
	struct test_ctx *c = arg;

	if (len < sizeof(c->updated))
		memcpy(c->updated, data, len);
}

/* data "fork": a plain fork, outside the filter; "sleep": until the
 * deadline; else the record at once. */
static void
body(void *arg, const void *data, size_t len, int report_fd,
    int64_t hard_deadline)
{
	struct test_ctx *c = arg;
	struct record rec;
	struct timespec ts;
	long pid;

	memset(&rec, 0, sizeof(rec));
	if (len == 4 && memcmp(data, "rand", 4) == 0) {
		if (RAND_bytes((unsigned char *)rec.data, 16) != 1)
			_exit(4);
		if (write(report_fd, &rec, sizeof(rec)) != sizeof(rec))
			_exit(3);
		_exit(0);
	}
	if (len == 4 && memcmp(data, "fork", 4) == 0)
		(void)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	rec.ppid = getppid();
	pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL,
	    NULL);
	if (pid == 0)
		_exit(0);
	rec.fork_errno = pid < 0 ? errno : 0;
	memcpy(rec.data, data, len < sizeof(rec.data) ? len : 0);
	memcpy(rec.updated, c->updated, sizeof(rec.updated));
	if (write(report_fd, &rec, sizeof(rec)) != sizeof(rec))
		_exit(3);
	if (len == 5 && memcmp(data, "sleep", 5) == 0) {
		ts.tv_sec = hard_deadline / 1000;
		ts.tv_nsec = (hard_deadline % 1000) * 1000000;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	_exit(0);
}

static const struct spawn_server_conf conf = {
	.enter = enter, .body = body, .update = update, .ctx = &ctx,
};

static int
send_request(int sock, uint32_t kind, uint32_t slot, const char *data,
    int64_t deadline)
{
	struct spawn_request req;
	size_t len = strlen(data);

	memset(&req, 0, sizeof(req));
	req.kind = kind;
	req.slot = slot;
	req.hard_deadline = deadline;
	req.len = (uint32_t)len;
	memcpy(req.data, data, len);
	return send(sock, &req, SPAWN_REQUEST_HEADER + len, 0) < 0 ? -1 : 0;
}

/* The reply, within 5 s; -1: none. */
static int
get_reply(int sock, struct spawn_reply *rep)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };

	if (poll(&pfd, 1, 5000) != 1)
		return -1;
	return recv(sock, rep, sizeof(*rep), 0) == sizeof(*rep) ? 0 : -1;
}

static int
get_record(int fd, struct record *rec)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 5000) != 1)
		return -1;
	return read(fd, rec, sizeof(*rec)) == sizeof(*rec) ? 0 : -1;
}

static void
test_spawn(void)
{
	struct spawn_reply rep;
	struct record rec;
	char seccomp[32], name[32], uid[128];
	int pipefd[2], sock, status;
	pid_t server;

	CHECK(sandbox_prepare(&ctx.sb, "nobody", err, sizeof(err)) == 0);
	CHECK(pipe2(pipefd, O_CLOEXEC) == 0);
	CHECK(spawn_server_start(&conf, pipefd[1], &server, &sock) == 0);
	(void)fcntl(sock, F_SETFL, 0);

	/* A malformed request (a length past its data) is ignored. */
	{
		struct spawn_request bad = { .kind = SPAWN_FORK, .len = 99 };

		CHECK(send(sock, &bad, SPAWN_REQUEST_HEADER, 0) > 0);
	}
	CHECK(send_request(sock, SPAWN_UPDATE, 0, "new", 0) == 0);
	CHECK(send_request(sock, SPAWN_FORK, 7, "sleep", now_ms() + 3000) ==
	    0);
	CHECK(get_reply(sock, &rep) == 0);
	CHECK(rep.slot == 7 && rep.pid > 0);
	CHECK(get_record(pipefd[0], &rec) == 0);
	/* The daemon's child, not the server's. */
	CHECK(rec.ppid == getpid());
	CHECK_STR(rec.data, "sleep");
	CHECK_STR(rec.updated, "new");
	/* No fork in a check process, even as its parent's sibling. */
	if (geteuid() == 0)
		CHECK(rec.fork_errno == EAGAIN);
	proc_status_field(rep.pid, "Seccomp", seccomp, sizeof(seccomp));
	CHECK_STR(seccomp, "2");
	proc_status_field(rep.pid, "Name", name, sizeof(name));
	CHECK_STR(name, "poolmond");
	if (geteuid() == 0) {
		proc_status_field(rep.pid, "Uid", uid, sizeof(uid));
		CHECK(strtoul(uid, NULL, 10) == ctx.sb.uid);
	}

	/* The server dies; its check process goes on, ours to reap. */
	CHECK(kill(server, SIGKILL) == 0);
	CHECK(waitpid(server, &status, 0) == server);
	CHECK(kill(rep.pid, 0) == 0);
	CHECK(waitpid(rep.pid, &status, 0) == rep.pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sock);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void
test_plain_fork_killed(void)
{
	struct spawn_reply rep;
	struct record rec;
	int pipefd[2], sock, status;
	pid_t server;

	CHECK(pipe2(pipefd, O_CLOEXEC) == 0);
	{
		unsigned char seed[8];

		CHECK(RAND_bytes(seed, sizeof(seed)) == 1);
	}
	CHECK(spawn_server_start(&conf, pipefd[1], &server, &sock) == 0);
	(void)fcntl(sock, F_SETFL, 0);
	CHECK(send_request(sock, SPAWN_FORK, 1, "fork", now_ms() + 3000) == 0);
	CHECK(get_reply(sock, &rep) == 0);
	CHECK(rep.slot == 1 && rep.pid > 0);
	CHECK(waitpid(rep.pid, &status, 0) == rep.pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
	/* The server goes on: another request, another check process. */
	CHECK(send_request(sock, SPAWN_FORK, 2, "x", now_ms() + 3000) == 0);
	CHECK(get_reply(sock, &rep) == 0);
	CHECK(rep.slot == 2 && rep.pid > 0);
	CHECK(get_record(pipefd[0], &rec) == 0);
	CHECK(waitpid(rep.pid, &status, 0) == rep.pid);
	/* Randomness: the server's generator was seeded before it forked
	 * both; each check process must reseed. */
	{
		struct record r1, r2;

		CHECK(send_request(sock, SPAWN_FORK, 3, "rand", now_ms() + 3000) == 0);
		CHECK(get_reply(sock, &rep) == 0 && rep.pid > 0);
		CHECK(get_record(pipefd[0], &r1) == 0);
		CHECK(waitpid(rep.pid, &status, 0) == rep.pid);
		CHECK(send_request(sock, SPAWN_FORK, 4, "rand", now_ms() + 3000) == 0);
		CHECK(get_reply(sock, &rep) == 0 && rep.pid > 0);
		CHECK(get_record(pipefd[0], &r2) == 0);
		CHECK(waitpid(rep.pid, &status, 0) == rep.pid);
		CHECK(memcmp(r1.data, r2.data, 16) != 0);
	}
	/* Our end closed: the server exits. */
	close(sock);
	CHECK(waitpid(server, &status, 0) == server);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(pipefd[0]);
	close(pipefd[1]);
	sandbox_free(&ctx.sb);
}

/* The answer and who sent it (SO_PASSCRED on sock), within 5 s. */
static int
get_reply_sender(int sock, struct spawn_reply *rep, pid_t *sender)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} control;
	struct iovec iov = { .iov_base = rep, .iov_len = sizeof(*rep) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct cmsghdr *c;
	struct ucred cred;

	if (poll(&pfd, 1, 5000) != 1 ||
	    recvmsg(sock, &msg, 0) != (ssize_t)sizeof(*rep) ||
	    (c = CMSG_FIRSTHDR(&msg)) == NULL ||
	    c->cmsg_type != SCM_CREDENTIALS)
		return -1;
	memcpy(&cred, CMSG_DATA(c), sizeof(cred));
	*sender = cred.pid;
	return 0;
}

/*
 * A check process sends its own pid, not the server after the fork: a
 * server that dies right after a fork would leave the daemon a child it
 * never heard of, a zombie no one reaps.
 */
static void
test_check_process_answers(void)
{
	struct spawn_reply rep;
	struct record rec;
	int pipefd[2], sock, status, on = 1;
	pid_t server, sender = 0;

	/* The sandbox test_spawn prepared. */
	CHECK(pipe2(pipefd, O_CLOEXEC) == 0);
	CHECK(spawn_server_start(&conf, pipefd[1], &server, &sock) == 0);
	CHECK(setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0);
	CHECK(send_request(sock, SPAWN_FORK, 5, "x", now_ms() + 3000) == 0);
	CHECK(get_reply_sender(sock, &rep, &sender) == 0);
	CHECK(rep.slot == 5 && rep.pid > 0);
	CHECK(sender == rep.pid);
	CHECK(get_record(pipefd[0], &rec) == 0);
	CHECK(waitpid(rep.pid, &status, 0) == rep.pid);
	close(sock);
	CHECK(waitpid(server, &status, 0) == server);
	close(pipefd[0]);
	close(pipefd[1]);
}

int
main(void)
{
	RUN(test_spawn);
	RUN(test_check_process_answers);
	RUN(test_plain_fork_killed);
	return UNIT_EXIT();
}
