/*
 * Control-socket requests as the daemon decodes them: the daemon's own
 * control socket on its sd-event loop, the input sent as one
 * SOCK_SEQPACKET message by a client, the loop run until the daemon has
 * answered or hung up. Whatever the bytes, the daemon must reply with a
 * well-formed Response or close, and go on serving.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "poolmon.pb-c.h"
#include "poolmond.h"
#include "router_director.h"
#include "util.h"
#include "wiring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct poolmond daemon_state;
static char sock_path[108];

static int
fake_reload(void *arg, char *err, size_t errlen)
{
	(void)arg;
	snprintf(err, errlen, "reloaded");
	return 0;
}

static void
cleanup(void)
{
	control_close(daemon_state.control);
	router_free(daemon_state.router);
	actions_shutdown(&daemon_state.actions);
}

static void
setup(void)
{
	struct poolmond *d = &daemon_state;
	struct control_ctx ctx;
	static char dir[64];
	char err[256];
	sigset_t set;

	snprintf(dir, sizeof(dir), "/tmp/poolmon-fuzz-ctl.%ld",
	    (long)getpid());
	snprintf(sock_path, sizeof(sock_path), "%s/ctl.sock", dir);
	log_init("fuzz", "/dev/null", false);
	config_defaults(&d->cfg);
	d->cfg.director_socket = "/nonexistent/director-admin";
	d->cfg.control_socket = sock_path;
	d->cfg.control_group = "root";
	d->cfg.state_file = NULL;
	d->pidfile_fd = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pool_init(&d->pool, d->cfg.nports);
	wire_control_ctx(d, fake_reload, &ctx);
	if (control_open(&d->control, d->cfg.control_socket,
	    d->cfg.control_group, err, sizeof(err)) < 0 ||
	    sd_event_new(&d->event) < 0 ||
	    router_director_new(d->event, d->cfg.director_socket, 1000,
	    &d->router) < 0) {
		fprintf(stderr, "fuzz_control setup: %s\n", err);
		abort();
	}
	/* As main wires it: after the router. */
	wire_engine(d);
	if (scan_init(&d->scan) < 0 ||
	    control_start(d->control, d->event, &ctx) < 0) {
		fprintf(stderr, "fuzz_control setup: %s\n", err);
		abort();
	}
	atexit(cleanup);
}

/* Check that each reply parses as a Response; stop at EOF or the last. */
static void
read_replies(int fd)
{
	static uint8_t buf[512 * 1024];
	Poolmon__Response *resp;
	ssize_t n;
	int rounds;

	for (rounds = 0; rounds < 200; rounds++) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			return;
		if (n < 0) {
			if (errno != EAGAIN)
				return;
			(void)sd_event_run(daemon_state.event, 1000);
			continue;
		}
		resp = poolmon__response__unpack(NULL, (size_t)n, buf);
		if (resp == NULL)
			__builtin_trap();	/* the daemon sent garbage */
		if (!resp->more) {
			poolmon__response__free_unpacked(resp, NULL);
			return;
		}
		poolmon__response__free_unpacked(resp, NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, i;

	if (daemon_state.event == NULL)
		setup();
	str_copy(sun.sun_path, sock_path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return 0;
	}
	/* Let the daemon accept, then send the bytes as one message. */
	for (i = 0; i < 3; i++)
		(void)sd_event_run(daemon_state.event, 0);
	if (send(fd, data, size, MSG_NOSIGNAL) >= 0)
		read_replies(fd);
	close(fd);
	/* And let it notice the hang-up. */
	for (i = 0; i < 3; i++)
		(void)sd_event_run(daemon_state.event, 0);
	return 0;
}
