/*
 * The metrics text: family names with HELP and TYPE, labels and their
 * escaping, the backend state one-hot, health absent while unchecked or
 * unknown, check durations and failure counters per port, the action
 * counters, --metrics-listen's address forms, the control socket's
 * reply split into parts that add up to the same text, and the HTTP
 * server on an sd-event loop answering a client queued behind idle
 * connections once their timeout frees the connection limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "frame.h"
#include "metrics.h"
#include "poolmon.pb-c.h"
#include "poolmond.h"
#include "wiring.h"
#include "util.h"
#include "unit.h"

static struct poolmond d;

/* What the metrics and the control socket see of d, wired as main does. */
static const struct metrics_ctx *
mctx(void)
{
	static struct metrics_ctx m;

	wire_metrics_ctx(&d, &m);
	return &m;
}

static const struct control_ctx *
cctx(void)
{
	static struct control_ctx c;

	wire_control_ctx(&d, NULL, &c);
	return &c;
}

static struct backend *
add_backend(const char *ip, const char *tag, bool up, enum owner owner,
    enum health health)
{
	struct backend *b = &d.pool.backends[d.pool.n++];

	str_copy(b->dh.ip, ip, sizeof(b->dh.ip));
	b->dh.tag = tag;
	b->dh.up = up;
	b->owner = owner;
	b->health = health;
	if (backend_init_ports(b, d.pool.nports) < 0)
		abort();
	if (health != HEALTH_UNCHECKED)
		b->last_check = 1700000000;
	return b;
}

static void
make_daemon(size_t cap)
{
	memset(&d, 0, sizeof(d));
	config_defaults(&d.cfg);
	d.cfg.nports = 2;
	d.cfg.ports[0] = (struct portspec){ 143, PROTO_IMAP, false };
	d.cfg.ports[1] = (struct portspec){ 995, PROTO_POP3, true };
	d.view.can_act = true;
	d.pool.nports = d.cfg.nports;
	d.pool.backends = calloc(cap > 0 ? cap : 1, sizeof(*d.pool.backends));
	if (d.pool.backends == NULL)
		abort();
}

static void
free_daemon(void)
{
	size_t i;

	for (i = 0; i < d.pool.n; i++)
		backend_free(&d.pool.backends[i], d.pool.nports);
	free(d.pool.backends);
	memset(&d, 0, sizeof(d));
}

static char *
render(void)
{
	char *text = NULL;
	size_t len = 0;

	CHECK(metrics_render(mctx(), &text, &len) == 0);
	CHECK(text != NULL && strlen(text) == len);
	return text;
}

/* The whole line is in the text. */
static bool
has_line(const char *text, const char *line)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "\n%s\n", line);
	return strstr(text, buf) != NULL;
}

/* Lines that begin with prefix. */
static size_t
count_prefix(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = 0;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 :
	    NULL)
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

static void
test_families(void)
{
	static const char *const gauges[] = {
		"poolmon_up", "poolmon_director_reachable",
		"poolmon_ring_synced", "poolmon_guard_active",
		"poolmon_dry_run", "poolmon_backend_healthy",
		"poolmon_backend_director_up", "poolmon_backend_state",
		"poolmon_check_duration_seconds",
	};
	static const char *const counters[] = {
		"poolmon_scans_total", "poolmon_checks_unknown_total",
		"poolmon_actions_total", "poolmon_check_failures_total",
	};
	char line[256], *text;
	size_t i;

	make_daemon(0);
	d.view.down = true;
	d.cfg.dry_run = true;
	d.scan.checks_unknown = 7;
	text = render();
	for (i = 0; i < ARRAY_SIZE(gauges); i++) {
		snprintf(line, sizeof(line), "# TYPE %s gauge", gauges[i]);
		CHECK(has_line(text, line));
		snprintf(line, sizeof(line), "# HELP %s ", gauges[i]);
		CHECK(count_prefix(text, line) == 1);
	}
	for (i = 0; i < ARRAY_SIZE(counters); i++) {
		snprintf(line, sizeof(line), "# TYPE %s counter", counters[i]);
		CHECK(has_line(text, line));
	}
	CHECK(strncmp(text, "# HELP poolmon_up ", 18) == 0);
	CHECK(has_line(text, "poolmon_up 1"));
	CHECK(has_line(text, "poolmon_director_reachable 0"));
	CHECK(has_line(text, "poolmon_dry_run 1"));
	CHECK(has_line(text, "poolmon_ring_synced 1"));
	CHECK(has_line(text, "poolmon_guard_active 0"));
	CHECK(has_line(text, "poolmon_scans_total 0"));
	CHECK(has_line(text, "poolmon_checks_unknown_total 7"));
	/* No scan yet: no duration to show. No fleet: no peers. */
	CHECK(strstr(text, "poolmon_scan_duration_seconds") == NULL);
	CHECK(strstr(text, "poolmon_fleet_peers_live") == NULL);
	/* Every action and result, also while zero. */
	CHECK(count_prefix(text, "poolmon_actions_total{") == 6);
	CHECK(has_line(text,
	    "poolmon_actions_total{action=\"flush\",result=\"error\"} 0"));
	free(text);

	d.scan.scans_completed = 3;
	d.scan.last_scan_ms = 1234;
	d.actions.outcome.all_failed = true;
	text = render();
	CHECK(has_line(text, "# TYPE poolmon_scan_duration_seconds gauge"));
	CHECK(has_line(text, "poolmon_scan_duration_seconds 1.234"));
	CHECK(has_line(text, "poolmon_scans_total 3"));
	CHECK(has_line(text, "poolmon_guard_active 1"));
	/* The text ends with a line end, and nothing but samples and
	 * comments are in it. */
	CHECK(text[strlen(text) - 1] == '\n');
	free(text);
	free_daemon();
}

static void
test_backend_state(void)
{
	char *text;

	make_daemon(4);
	add_backend("10.0.0.1", "blue", true, OWNER_NONE, HEALTH_OK);
	add_backend("10.0.0.2", "", false, OWNER_POOLMOND, HEALTH_FAILED);
	add_backend("10.0.0.3", "", false, OWNER_OPERATOR, HEALTH_UNCHECKED);
	/* Held while the director still has it up: held it is. */
	add_backend("fd00::4", "", true, OWNER_HOLD, HEALTH_UNKNOWN);
	text = render();
	CHECK(has_line(text, "poolmon_backend_state{backend=\"10.0.0.1\","
	    "tag=\"blue\",state=\"up\"} 1"));
	CHECK(has_line(text, "poolmon_backend_state{backend=\"10.0.0.1\","
	    "tag=\"blue\",state=\"held\"} 0"));
	CHECK(has_line(text, "poolmon_backend_state{backend=\"10.0.0.2\","
	    "tag=\"\",state=\"down_by_poolmond\"} 1"));
	CHECK(has_line(text, "poolmon_backend_state{backend=\"10.0.0.2\","
	    "tag=\"\",state=\"up\"} 0"));
	CHECK(has_line(text, "poolmon_backend_state{backend=\"10.0.0.3\","
	    "tag=\"\",state=\"down_by_operator\"} 1"));
	CHECK(has_line(text, "poolmon_backend_state{backend=\"fd00::4\","
	    "tag=\"\",state=\"held\"} 1"));
	CHECK(has_line(text, "poolmon_backend_state{backend=\"fd00::4\","
	    "tag=\"\",state=\"up\"} 0"));
	/* One-hot: four states a backend, exactly one of them 1. */
	CHECK(count_prefix(text, "poolmon_backend_state{") == 16);
	CHECK(count_prefix(text, "poolmon_backend_state{backend=\"10.0.0.1\"")
	    == 4);
	{
		const char *p = text;
		size_t ones = 0;

		while ((p = strstr(p, "\npoolmon_backend_state{")) != NULL) {
			p = strchr(p + 1, '\n');
			if (p != NULL && p[-1] == '1' && p[-2] == ' ')
				ones++;
		}
		CHECK(ones == 4);
	}
	CHECK(has_line(text, "poolmon_backend_director_up{backend=\"10.0.0.2\","
	    "tag=\"\"} 0"));
	CHECK(has_line(text, "poolmon_backend_director_up{backend=\"fd00::4\","
	    "tag=\"\"} 1"));
	/* Healthy: 1 or 0 once checked; absent unchecked or unknown. */
	CHECK(has_line(text, "poolmon_backend_healthy{backend=\"10.0.0.1\","
	    "tag=\"blue\"} 1"));
	CHECK(has_line(text, "poolmon_backend_healthy{backend=\"10.0.0.2\","
	    "tag=\"\"} 0"));
	CHECK(strstr(text, "poolmon_backend_healthy{backend=\"10.0.0.3\"") ==
	    NULL);
	CHECK(strstr(text, "poolmon_backend_healthy{backend=\"fd00::4\"") ==
	    NULL);
	CHECK(count_prefix(text, "poolmon_backend_healthy{") == 2);
	free(text);
	free_daemon();
}

static void
test_escaping(void)
{
	char *text;

	make_daemon(1);
	add_backend("10.0.0.9", "a\"b\\c\nd", true, OWNER_NONE, HEALTH_OK);
	text = render();
	CHECK(has_line(text, "poolmon_backend_healthy{backend=\"10.0.0.9\","
	    "tag=\"a\\\"b\\\\c\\nd\"} 1"));
	/* No raw newline inside a label: every line is a comment or a
	 * sample of a known family. */
	CHECK(count_prefix(text, "d\"") == 0);
	free(text);
	free_daemon();
}

static void
test_ports(void)
{
	struct check_result ok = { .status = CHECK_OK, .latency_ms = 12 };
	struct check_result refused = { .status = CHECK_ECONNECT,
	    .latency_ms = 2005, .tries = 4 };
	struct check_result mine = { .status = CHECK_ECHILD };
	struct backend *a, *b, *c;
	char *text;

	make_daemon(3);
	a = add_backend("10.0.0.1", "", true, OWNER_NONE, HEALTH_FAILED);
	b = add_backend("10.0.0.2", "", true, OWNER_NONE, HEALTH_UNKNOWN);
	c = add_backend("10.0.0.3", "", true, OWNER_NONE, HEALTH_UNCHECKED);
	(void)c;
	str_copy(refused.reason, "connect: refused", sizeof(refused.reason));
	CHECK(port_state_set(&a->ports[0], &ok) == 0);
	CHECK(port_state_set(&a->ports[1], &refused) == 0);
	CHECK(port_state_set(&a->ports[1], &refused) == 0);
	CHECK(port_state_set(&a->ports[1], &refused) == 0);
	/* poolmond's own fault is no failure of the backend. */
	CHECK(port_state_set(&b->ports[0], &mine) == 0);
	CHECK(port_state_set(&b->ports[1], &ok) == 0);
	CHECK(a->ports[1].failures == 3 && a->ports[0].failures == 0);
	CHECK(b->ports[0].failures == 0);
	text = render();
	CHECK(has_line(text, "poolmon_check_failures_total{backend="
	    "\"10.0.0.1\",port=\"POP3S:995\"} 3"));
	CHECK(has_line(text, "poolmon_check_failures_total{backend="
	    "\"10.0.0.1\",port=\"IMAP:143\"} 0"));
	CHECK(has_line(text, "poolmon_check_failures_total{backend="
	    "\"10.0.0.2\",port=\"IMAP:143\"} 0"));
	/* A counter for every backend and port, checked or not. */
	CHECK(count_prefix(text, "poolmon_check_failures_total{") == 6);
	CHECK(has_line(text, "poolmon_check_duration_seconds{backend="
	    "\"10.0.0.1\",port=\"IMAP:143\"} 0.012"));
	CHECK(has_line(text, "poolmon_check_duration_seconds{backend="
	    "\"10.0.0.1\",port=\"POP3S:995\"} 2.005"));
	CHECK(has_line(text, "poolmon_check_duration_seconds{backend="
	    "\"10.0.0.2\",port=\"POP3S:995\"} 0.012"));
	/* Not for a port poolmond could not check, nor before a check. */
	CHECK(strstr(text, "poolmon_check_duration_seconds{backend="
	    "\"10.0.0.2\",port=\"IMAP:143\"}") == NULL);
	CHECK(strstr(text, "poolmon_check_duration_seconds{backend="
	    "\"10.0.0.3\"") == NULL);
	CHECK(count_prefix(text, "poolmon_check_duration_seconds{") == 3);
	free(text);
	free_daemon();
}

static void
test_actions(void)
{
	char *text;

	make_daemon(0);
	metrics_count_action(&d.metrics, METRICS_ACTION_DOWN, true);
	metrics_count_action(&d.metrics, METRICS_ACTION_DOWN, true);
	metrics_count_action(&d.metrics, METRICS_ACTION_DOWN, false);
	metrics_count_action(&d.metrics, METRICS_ACTION_FLUSH, true);
	metrics_count_action(&d.metrics, METRICS_ACTION_UP, false);
	/* Not an action: counted nowhere. */
	metrics_count_action(&d.metrics, METRICS_ACTION_COUNT, true);
	text = render();
	CHECK(has_line(text,
	    "poolmon_actions_total{action=\"down\",result=\"ok\"} 2"));
	CHECK(has_line(text,
	    "poolmon_actions_total{action=\"down\",result=\"error\"} 1"));
	CHECK(has_line(text,
	    "poolmon_actions_total{action=\"flush\",result=\"ok\"} 1"));
	CHECK(has_line(text,
	    "poolmon_actions_total{action=\"up\",result=\"ok\"} 0"));
	CHECK(has_line(text,
	    "poolmon_actions_total{action=\"up\",result=\"error\"} 1"));
	free(text);
	free_daemon();
}

static void
test_listen_forms(void)
{
	static const char *const bad[] = {
		"", "9095", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:x", "localhost:9095",
		"::1:9095", "[::1]", "[::1]9095", "[127.0.0.1]:9095",
		"[::1]:", "1.2.3:9095", "127.0.0.1:9095 ",
	};
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char ip[INET6_ADDRSTRLEN];
	size_t i;

	CHECK(addrport_parse("127.0.0.1:9095", &ss) == 0);
	CHECK(ss.ss_family == AF_INET && ntohs(sin->sin_port) == 9095);
	CHECK_STR(inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)),
	    "127.0.0.1");
	CHECK(addrport_parse("[::1]:9095", &ss) == 0);
	CHECK(ss.ss_family == AF_INET6 && ntohs(sin6->sin6_port) == 9095);
	CHECK_STR(inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip)),
	    "::1");
	CHECK(addrport_parse("0.0.0.0:1", &ss) == 0);
	CHECK(addrport_parse("[::]:65535", &ss) == 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (addrport_parse(bad[i], &ss) != -EINVAL) {
			CHECK(0);
			fprintf(stderr, "accepted '%s'\n", bad[i]);
		}
	}
}

/* poolmonctl metrics: parts under the cap, ending at line ends, that
 * add up to the text served over HTTP. */
static void
test_control_parts(void)
{
	struct ctl_outq q = { 0 };
	char *text, *joined;
	size_t i, off = 0, len;
	char ip[INET6_ADDRSTRLEN];

	make_daemon(3000);
	for (i = 0; i < 3000; i++) {
		snprintf(ip, sizeof(ip), "10.1.%zu.%zu", i / 250, i % 250);
		add_backend(ip, "tag", true, OWNER_NONE, HEALTH_OK);
	}
	CHECK(metrics_render(mctx(), &text, &len) == 0);
	CHECK(len > 4 * CTL_PART_TARGET);
	CHECK(control_metrics_reply(cctx(), 9, &q) == 0);
	CHECK(q.n > 4);
	joined = calloc(1, len + 1);
	for (i = 0; i < q.n && joined != NULL; i++) {
		Poolmon__Response *r = poolmon__response__unpack(NULL,
		    q.msg[i].len, q.msg[i].buf);

		CHECK(q.msg[i].len <= CTL_PART_TARGET);
		CHECK(r != NULL);
		if (r == NULL)
			break;
		CHECK(r->id == 9 && r->success);
		CHECK(r->more == (i + 1 < q.n));
		CHECK(r->result_case == POOLMON__RESPONSE__RESULT_METRICS);
		if (r->result_case == POOLMON__RESPONSE__RESULT_METRICS &&
		    off + r->metrics->text.len <= len) {
			CHECK(r->metrics->text.len > 0 &&
			    r->metrics->text.data[r->metrics->text.len - 1] ==
			    '\n');
			memcpy(joined + off, r->metrics->text.data,
			    r->metrics->text.len);
			off += r->metrics->text.len;
		}
		poolmon__response__free_unpacked(r, NULL);
	}
	CHECK(off == len && joined != NULL && memcmp(joined, text, len) == 0);
	free(joined);
	free(text);
	ctl_outq_clear(&q);
	free_daemon();
}

/* A port nobody listens on now, on 127.0.0.1. */
static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int
connect_to(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

#define IDLE_CLIENTS	20	/* more than the server's 16 slots */

/*
 * Idle clients take every connection slot; a scraper queued behind them
 * is answered once their inactivity timeout frees the slots, and the
 * loop never blocks meanwhile (sd_event_run returns every 100 ms).
 */
static void
test_http_behind_idle(void)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	int idle[IDLE_CLIENTS], port, fd, i;
	char listen_at[32], err[256], buf[4096];
	size_t got = 0;
	bool sent = false, done = false;
	int64_t deadline;
	ssize_t n = -1;

	make_daemon(0);
	CHECK((port = free_port()) > 0);
	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
	CHECK(metrics_http_open(&d.metrics_http, listen_at, err,
	    sizeof(err)) == 0);
	CHECK(sd_event_new(&d.event) >= 0);
	CHECK(metrics_http_start(d.metrics_http, d.event, mctx()) == 0);
	for (i = 0; i < IDLE_CLIENTS; i++)
		CHECK((idle[i] = connect_to(port)) >= 0);
	/* Let the server take its 16 before the scraper queues. */
	for (i = 0; i < 5; i++)
		(void)sd_event_run(d.event, 20 * 1000);
	CHECK((fd = connect_to(port)) >= 0);
	deadline = now_ms() + 30 * 1000;
	while (!done && now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (!sent && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT))
			sent = write(fd, req, sizeof(req) - 1) ==
			    (ssize_t)(sizeof(req) - 1);
		(void)sd_event_run(d.event, 100 * 1000);
		while (sent && got < sizeof(buf) - 1 &&
		    (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		done = got >= sizeof(buf) - 1 || (sent && n == 0);
	}
	buf[got] = '\0';
	CHECK(sent && done);
	CHECK(strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, " 200 ") != NULL);
	CHECK(strstr(buf, "text/plain; version=0.0.4") != NULL);
	CHECK(strstr(buf, "poolmon_up 1") != NULL);
	close(fd);
	for (i = 0; i < IDLE_CLIENTS; i++)
		close(idle[i]);
	metrics_http_close(d.metrics_http);
	d.event = sd_event_unref(d.event);
	free_daemon();
}

int
main(void)
{
	RUN(test_families);
	RUN(test_backend_state);
	RUN(test_escaping);
	RUN(test_ports);
	RUN(test_actions);
	RUN(test_listen_forms);
	RUN(test_control_parts);
	RUN(test_http_behind_idle);
	return UNIT_EXIT();
}
