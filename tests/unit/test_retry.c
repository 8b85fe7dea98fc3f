/* Retry policy of one port check: tries, delay, hard deadline. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "util.h"
#include "unit.h"

/* A listener on 127.0.0.1 that greets `accepts` connections, then quits. */
struct greeter {
	int lfd;
	uint16_t port;
	int accepts;
	const char *banner;
	pthread_t thread;
};

static void *
greeter_thread(void *arg)
{
	struct greeter *g = arg;
	int i, fd;

	for (i = 0; i < g->accepts; i++) {
		if ((fd = accept(g->lfd, NULL, NULL)) < 0)
			break;
		if (write(fd, g->banner, strlen(g->banner)) < 0)
			break;
		close(fd);
	}
	return NULL;
}

static void
greeter_start(struct greeter *g)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g->lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(g->lfd, (struct sockaddr *)&sin, sizeof(sin));
	listen(g->lfd, 8);
	getsockname(g->lfd, (struct sockaddr *)&sin, &len);
	g->port = ntohs(sin.sin_port);
	pthread_create(&g->thread, NULL, greeter_thread, g);
}

static void
greeter_stop(struct greeter *g)
{
	shutdown(g->lfd, SHUT_RDWR);
	close(g->lfd);
	pthread_join(g->thread, NULL);
}

/* A port with nothing listening: bind one, note it, close it. */
static uint16_t
closed_port(void)
{
	struct greeter g = { .accepts = 0, .banner = "" };

	greeter_start(&g);
	greeter_stop(&g);
	return g.port;
}

static void
run(struct check_env *env, struct portspec *p, struct check_result *res,
    int64_t budget_ms)
{
	struct check_target t = { .env = env, .ip = "127.0.0.1",
	    .verify_name = "127.0.0.1", .port = p };

	memset(res, 0, sizeof(*res));
	check_port(&t, res, now_ms() + budget_ms);
}

static void
test_refused_is_retried(void)
{
	struct check_env env = { .timeout_ms = 1000, .retries = 3,
	    .retry_delay_ms = 50 };
	struct portspec p = { closed_port(), PROTO_IMAP, false };
	struct check_result res;
	int64_t t0 = now_ms();

	run(&env, &p, &res, 10000);
	CHECK(res.status == CHECK_ECONNECT);
	CHECK(res.tries == 4);
	CHECK_STR(res.reason, "connect: Connection refused");
	/* Three pauses of 50 ms between four tries. */
	CHECK(now_ms() - t0 >= 150);
}

static void
test_no_retries(void)
{
	struct check_env env = { .timeout_ms = 1000, .retries = 0,
	    .retry_delay_ms = 50 };
	struct portspec p = { closed_port(), PROTO_POP3, false };
	struct check_result res;

	run(&env, &p, &res, 10000);
	CHECK(res.status == CHECK_ECONNECT && res.tries == 1);
}

static void
test_hard_deadline_stops_retries(void)
{
	struct check_env env = { .timeout_ms = 1000, .retries = 50,
	    .retry_delay_ms = 100 };
	struct portspec p = { closed_port(), PROTO_IMAP, false };
	struct check_result res;

	/* Only the first try fits in 1.05 s with a 1 s attempt timeout. */
	run(&env, &p, &res, 1050);
	CHECK(res.status == CHECK_ECONNECT);
	CHECK(res.tries == 1);
}

static void
test_success_after_banner(void)
{
	struct check_env env = { .timeout_ms = 2000, .retries = 3,
	    .retry_delay_ms = 10 };
	struct greeter g = { .accepts = 1, .banner = "* OK ready\r\n" };
	struct portspec p;
	struct check_result res;

	greeter_start(&g);
	p = (struct portspec){ g.port, PROTO_IMAP, false };
	run(&env, &p, &res, 10000);
	CHECK(res.status == CHECK_OK);
	CHECK(res.tries == 1);
	greeter_stop(&g);
}

static void
test_bad_banner_retried_then_reason(void)
{
	struct check_env env = { .timeout_ms = 2000, .retries = 2,
	    .retry_delay_ms = 10 };
	struct greeter g = { .accepts = 3, .banner = "* BYE go away\r\n" };
	struct portspec p;
	struct check_result res;

	greeter_start(&g);
	p = (struct portspec){ g.port, PROTO_IMAP, false };
	run(&env, &p, &res, 10000);
	CHECK(res.status == CHECK_EBANNER);
	CHECK(res.tries == 3);
	CHECK(strstr(res.reason, "* BYE go away") != NULL);
	greeter_stop(&g);
}

int
main(void)
{
	RUN(test_refused_is_retried);
	RUN(test_no_retries);
	RUN(test_hard_deadline_stops_retries);
	RUN(test_success_after_banner);
	RUN(test_bad_banner_retried_then_reason);
	return UNIT_EXIT();
}
