/*
 * Director client: HOST-LIST parsing (escaped tags, short lines, garbage),
 * reply classification, and the asynchronous client against a fake
 * director on a UNIX socket (handshake, EOF, garbage, silence, a stall
 * costing one deadline for a whole queue).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "director.h"
#include "util.h"
#include "unit.h"

static void
test_parse_host_line(void)
{
	struct router_host h;
	const char *why = NULL;
	char line[256];

	strcpy(line, "127.0.3.1\t100\t7\tmytag\tU\t1700000000");
	CHECK(director_parse_host_line(line, &h, &why) == 0);
	CHECK_STR(h.ip, "127.0.3.1");
	CHECK(h.vhost_count == 100 && h.user_count == 7 && h.up);
	CHECK_STR(h.tag, "mytag");
	CHECK(h.last_updown_change == 1700000000);

	strcpy(line, "::1\t0\t0\t\tD\t0");
	CHECK(director_parse_host_line(line, &h, &why) == 0);
	CHECK_STR(h.ip, "::1");
	CHECK(!h.up && h.tag[0] == '\0');

	/* Tab-escaped tag: \001t is a tab, \0011 the escape char itself. */
	strcpy(line, "10.0.0.1\t1\t2\ta\001tb\0011c\001nd\tU\t5");
	CHECK(director_parse_host_line(line, &h, &why) == 0);
	CHECK_STR(h.tag, "a\tb\001c\nd");

	/* Without the last-change field (older directors). */
	strcpy(line, "10.0.0.1\t1\t2\t\tU");
	CHECK(director_parse_host_line(line, &h, &why) == 0);
}

static void
test_parse_host_line_bad(void)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1\t100\t0\ttag",
		"notanip\t100\t0\t\tU\t0", "127.0.0.1\tx\t0\t\tU\t0",
		"127.0.0.1\t-1\t0\t\tU\t0", "127.0.0.1\t1\ty\t\tU\t0",
		"127.0.0.1\t1\t0\t\tX\t0", "127.0.0.1\t1\t0\t\tUU\t0",
		"127.0.0.1\t1\t0\tbad\001\tU\t0", "127.0.0.1\t1\t0\t\tU\tz",
		"127.0.0.1\t99999999999\t0\t\tU\t0",
	};
	struct router_host h;
	const char *why;
	char line[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(line, bad[i]);
		why = NULL;
		CHECK(director_parse_host_line(line, &h, &why) == -EINVAL);
		CHECK(why != NULL);
	}
}

static void
test_classify(void)
{
	CHECK(director_classify_reply("OK") == DIRECTOR_REPLY_OK);
	CHECK(director_classify_reply("NOTFOUND") == DIRECTOR_REPLY_NOTFOUND);
	CHECK(director_classify_reply(
	    "host is already being updated - try again later") ==
	    DIRECTOR_REPLY_BUSY);
	CHECK(director_classify_reply("Ring sync timed out") ==
	    DIRECTOR_REPLY_RING_TIMEOUT);
	CHECK(director_classify_reply("OKAY") == DIRECTOR_REPLY_OTHER);
	CHECK(director_classify_reply("") == DIRECTOR_REPLY_OTHER);
	CHECK(director_classify_reply("ok") == DIRECTOR_REPLY_OTHER);
}

static void
test_ring_state(void)
{
	const char *rs = NULL;
	bool synced = false;
	char line[256];

	strcpy(line, "127.0.2.1\t9090\tself\t0\tring synced\t12");
	CHECK(director_parse_self_line(line, &synced, &rs));
	CHECK(synced);
	CHECK_STR(rs, "ring synced");
	strcpy(line, "127.0.2.1\t9090\tself\t0\tring syncing - last sync "
	    "5 secs ago\t5000");
	CHECK(director_parse_self_line(line, &synced, &rs) && !synced);
	strcpy(line, "127.0.2.1\t9090\tself\t0\tring handshaking");
	CHECK(director_parse_self_line(line, &synced, &rs) && !synced);
	/* Lines of connections to other directors are not "self". */
	strcpy(line, "127.0.2.2\t9090\tleft\t0\tsynced\t0\t1\t2\t0\t0\t"
	    "1\t1");
	CHECK(!director_parse_self_line(line, &synced, &rs));
	strcpy(line, "127.0.2.2\t9090\tself");
	CHECK(!director_parse_self_line(line, &synced, &rs));
	strcpy(line, "");
	CHECK(!director_parse_self_line(line, &synced, &rs));
}

static void
test_tabescape(void)
{
	char buf[64], small[4];

	CHECK(str_tabescape_r("a\tb\001c\r\n", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "a\001tb\0011c\001r\001n");
	CHECK(str_tabunescape(buf) == 0);
	CHECK_STR(buf, "a\tb\001c\r\n");
	CHECK(str_tabescape_r("a\tb", small, sizeof(small)) == -ENOSPC);
	strcpy(buf, "dangling\001");
	CHECK(str_tabunescape(buf) == -EINVAL);
	strcpy(buf, "bad\001x");
	CHECK(str_tabunescape(buf) == -EINVAL);
}

/* A fake director: answers the handshake with hello, then script lines
 * in turn for each command line it reads ("" = say nothing, hang). */
static pid_t
fake_director(const char *path, const char *hello, const char *const *script)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd, fd;
	char buf[4096];
	pid_t pid;

	unlink(path);
	str_copy(sun.sun_path, path, sizeof(sun.sun_path));
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(lfd, 1) < 0)
		abort();
	pid = fork();
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	fd = accept(lfd, NULL, NULL);
	if (read(fd, buf, sizeof(buf)) <= 0)
		_exit(0);
	if (hello != NULL && *hello == '\0')
		pause();
	if (hello != NULL && write(fd, hello, strlen(hello)) < 0)
		_exit(0);
	for (; script != NULL && *script != NULL; script++) {
		if (read(fd, buf, sizeof(buf)) <= 0)
			_exit(0);
		if (**script == '\0')
			pause();
		if (write(fd, *script, strlen(*script)) < 0)
			_exit(0);
	}
	_exit(0);
}

static void
stop_fake(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static char sock_path[108];

#define HELLO "VERSION\tdirector-doveadm\t1\t0\n"

/* What a command's callback was given. */
struct got {
	bool done;
	int error;
	bool unreachable;
	enum director_reply reply;
	char err[256];
	char line[160];
	struct router_host_list list;
	bool synced;
	char ring_state[64];
	int64_t at;		/* when it finished, monotonic ms */
};

static void
on_done(const struct director_result *res, void *arg)
{
	struct got *g = arg;

	g->done = true;
	g->at = now_ms();
	g->error = res->error;
	g->unreachable = res->unreachable;
	g->reply = res->reply;
	snprintf(g->err, sizeof(g->err), "%s", res->err ? res->err : "");
	snprintf(g->line, sizeof(g->line), "%s", res->line ? res->line : "");
	if (res->list != NULL) {
		g->list = *res->list;
		memset(res->list, 0, sizeof(*res->list));
	}
	g->synced = res->synced;
	snprintf(g->ring_state, sizeof(g->ring_state), "%s",
	    res->ring_state ? res->ring_state : "");
}

/* Run the loop until the n commands of g are done, 10 s at most. */
static bool
wait_all(sd_event *ev, struct got *g, size_t n)
{
	int64_t end = now_ms() + 10000;
	size_t i;

	for (;;) {
		for (i = 0; i < n && g[i].done; i++)
			;
		if (i == n)
			return true;
		if (now_ms() > end)
			return false;
		(void)sd_event_run(ev, 100 * 1000);
	}
}

static struct director_client *
new_client(sd_event *ev, int timeout_ms)
{
	struct director_client *dcl = NULL;

	CHECK(director_client_new(&dcl, ev, sock_path, timeout_ms) == 0);
	return dcl;
}

static void
test_client_host_list(void)
{
	static const char *const script[] = {
		"127.0.3.1\t100\t2\tt1\tU\t1\n127.0.3.2\t0\t0\t\tD\t2\n\n",
		"OK\n", "NOTFOUND\n",
		"host is already being updated - try again later\n",
		"Ring sync timed out\n",
		"127.0.0.1\t9999\tself\t0\tring synced\t12\n\n", NULL,
	};
	struct director_client *dcl;
	struct got g[7];
	sd_event *ev;
	pid_t pid;

	memset(g, 0, sizeof(g));
	CHECK(sd_event_new(&ev) >= 0);
	pid = fake_director(sock_path, HELLO, script);
	dcl = new_client(ev, 2000);
	/* Queued at once, sent one at a time, answered in order. */
	CHECK(director_host_list_async(dcl, 0, on_done, &g[0]) == 0);
	CHECK(director_host_cmd_async(dcl, "HOST-DOWN", "127.0.3.1", 0,
	    on_done, &g[1]) == 0);
	CHECK(director_host_cmd_async(dcl, "HOST-FLUSH", "127.0.3.1", 0,
	    on_done, &g[2]) == 0);
	CHECK(director_host_cmd_async(dcl, "HOST-UP", "127.0.3.1", 0,
	    on_done, &g[3]) == 0);
	CHECK(director_host_cmd_async(dcl, "HOST-UP", "127.0.3.1", 0,
	    on_done, &g[4]) == 0);
	CHECK(director_ring_state_async(dcl, 0, on_done, &g[5]) == 0);
	CHECK(director_host_cmd_async(dcl, "HOST-UP", "127.0.3.1", 0,
	    on_done, &g[6]) == 0);
	CHECK(director_client_pending(dcl) == 7);
	/* Never an empty host: that would flush every host. */
	CHECK(director_host_cmd_async(dcl, "HOST-FLUSH", "", 0, on_done,
	    &g[0]) == -EINVAL);
	CHECK(!g[0].done);	/* nothing is answered inside a call */
	CHECK(wait_all(ev, g, 7));
	CHECK(g[0].error == 0 && g[0].list.n == 2);
	if (g[0].list.n == 2) {
		CHECK_STR(g[0].list.hosts[0].ip, "127.0.3.1");
		CHECK(g[0].list.hosts[0].up && !g[0].list.hosts[1].up);
		CHECK_STR(g[0].list.hosts[0].tag, "t1");
		CHECK_STR(g[0].list.hosts[1].tag, "");
	}
	router_host_list_free(&g[0].list);
	CHECK(g[1].error == 0 && g[1].reply == DIRECTOR_REPLY_OK);
	CHECK(g[2].error == 0 && g[2].reply == DIRECTOR_REPLY_NOTFOUND);
	CHECK(g[3].error == 0 && g[3].reply == DIRECTOR_REPLY_BUSY);
	CHECK(g[4].error == 0 && g[4].reply == DIRECTOR_REPLY_RING_TIMEOUT);
	CHECK(g[5].error == 0 && g[5].synced);
	CHECK_STR(g[5].ring_state, "ring synced");
	/* The director is gone after the script: EOF, or EPIPE when it
	 * closed before the command was written, or a refused reconnect. */
	CHECK(g[6].error < 0);
	CHECK(director_client_pending(dcl) == 0);
	director_client_free(dcl);
	stop_fake(pid);
	sd_event_unref(ev);
}

static void
test_client_bad_handshake(void)
{
	struct director_client *dcl;
	struct got g;
	sd_event *ev;
	pid_t pid;

	CHECK(sd_event_new(&ev) >= 0);
	dcl = new_client(ev, 2000);
	pid = fake_director(sock_path, "VERSION\tdirector-doveadm\t2\t0\n",
	    NULL);
	memset(&g, 0, sizeof(g));
	CHECK(director_host_list_async(dcl, 0, on_done, &g) == 0);
	CHECK(wait_all(ev, &g, 1));
	CHECK(g.error == -EPROTO && g.unreachable);
	CHECK(strstr(g.err, "handshake") != NULL);
	stop_fake(pid);

	pid = fake_director(sock_path, "garbage\n", NULL);
	memset(&g, 0, sizeof(g));
	CHECK(director_host_list_async(dcl, 0, on_done, &g) == 0);
	CHECK(wait_all(ev, &g, 1));
	CHECK(g.error == -EPROTO && g.unreachable);
	stop_fake(pid);

	/* Nothing listening. */
	unlink(sock_path);
	memset(&g, 0, sizeof(g));
	CHECK(director_host_list_async(dcl, 0, on_done, &g) == 0);
	CHECK(wait_all(ev, &g, 1));
	CHECK(g.error == -ENOENT && g.unreachable);
	CHECK(strstr(g.err, sock_path) != NULL);
	director_client_free(dcl);
	sd_event_unref(ev);
}

static void
test_client_garbage_and_silence(void)
{
	static const char *const garbage[] = {
		"127.0.3.1\tbogus\n\n", NULL,
	};
	static const char *const silent[] = { "", NULL };
	static const char *const partial[] = { "127.0.3.1\t1", "", NULL };
	struct director_client *dcl;
	struct got g;
	sd_event *ev;
	int64_t t0;
	pid_t pid;

	CHECK(sd_event_new(&ev) >= 0);
	dcl = new_client(ev, 1000);
	pid = fake_director(sock_path, HELLO, garbage);
	memset(&g, 0, sizeof(g));
	CHECK(director_host_list_async(dcl, 0, on_done, &g) == 0);
	CHECK(wait_all(ev, &g, 1));
	CHECK(g.error == -EPROTO && !g.unreachable);
	CHECK(strstr(g.err, "HOST-LIST") != NULL);
	stop_fake(pid);

	pid = fake_director(sock_path, HELLO, silent);
	memset(&g, 0, sizeof(g));
	t0 = now_ms();
	CHECK(director_host_list_async(dcl, 0, on_done, &g) == 0);
	CHECK(wait_all(ev, &g, 1));
	CHECK(g.error == -ETIMEDOUT && !g.unreachable);
	CHECK_STR(g.err, "no answer within 1000 ms");
	CHECK(g.at - t0 < 3000);
	stop_fake(pid);

	pid = fake_director(sock_path, HELLO, partial);
	memset(&g, 0, sizeof(g));
	CHECK(director_host_list_async(dcl, 0, on_done, &g) == 0);
	CHECK(wait_all(ev, &g, 1));
	CHECK(g.error == -ETIMEDOUT);
	stop_fake(pid);

	/* Handshake never comes. */
	pid = fake_director(sock_path, "", NULL);
	memset(&g, 0, sizeof(g));
	CHECK(director_host_list_async(dcl, 0, on_done, &g) == 0);
	CHECK(wait_all(ev, &g, 1));
	CHECK(g.error == -ETIMEDOUT && g.unreachable);
	stop_fake(pid);
	director_client_free(dcl);
	sd_event_unref(ev);
}

static int
on_tick(sd_event_source *s, uint64_t usec, void *arg)
{
	(void)usec;
	(*(int *)arg)++;
	return sd_event_source_set_time_relative(s, 20 * 1000) < 0 ? -1 :
	    sd_event_source_set_enabled(s, SD_EVENT_ON);
}

/*
 * A director that accepts commands and never answers: the commands of a
 * batch share one deadline, so all of them fail at it, not one timeout
 * after another; the loop runs meanwhile; a forgotten command never
 * calls back.
 */
static void
test_client_stall_one_deadline(void)
{
	static const char *const silent[] = { "", NULL };
	struct director_client *dcl;
	sd_event_source *tick;
	struct got g[6], forgotten;
	int ticks = 0;
	int64_t t0, deadline;
	sd_event *ev;
	pid_t pid;
	size_t i;

	memset(g, 0, sizeof(g));
	memset(&forgotten, 0, sizeof(forgotten));
	CHECK(sd_event_new(&ev) >= 0);
	CHECK(sd_event_add_time_relative(ev, &tick, CLOCK_MONOTONIC,
	    20 * 1000, 1000, on_tick, &ticks) >= 0);
	dcl = new_client(ev, 1000);
	pid = fake_director(sock_path, HELLO, silent);
	t0 = now_ms();
	deadline = t0 + 600;
	for (i = 0; i < 6; i++)
		CHECK(director_host_cmd_async(dcl, "HOST-DOWN", "127.0.3.1",
		    deadline, on_done, &g[i]) == 0);
	CHECK(director_host_cmd_async(dcl, "HOST-UP", "127.0.3.2", 0,
	    on_done, &forgotten) == 0);
	director_client_forget(dcl, &forgotten);
	CHECK(wait_all(ev, g, 6));
	for (i = 0; i < 6; i++) {
		CHECK(g[i].error == -ETIMEDOUT);
		CHECK(g[i].at >= deadline && g[i].at - t0 < 2000);
	}
	fprintf(stderr, "6 stalled commands with one 600 ms deadline: "
	    "done after %lld ms, %d loop ticks meanwhile\n",
	    (long long)(g[5].at - t0), ticks);
	CHECK(ticks >= 5);
	while (director_client_pending(dcl) > 0 && now_ms() - t0 < 5000)
		(void)sd_event_run(ev, 100 * 1000);
	CHECK(director_client_pending(dcl) == 0 && !forgotten.done);
	director_client_free(dcl);
	stop_fake(pid);
	sd_event_source_disable_unref(tick);
	sd_event_unref(ev);
}

/* An extra line after a reply is never taken for the next reply. */
static void
test_client_extra_line(void)
{
	static const char *const script[] = { "junk\nOK\n", "OK\n", NULL };
	struct director_client *dcl;
	struct got g[2];
	sd_event *ev;
	pid_t pid;

	memset(g, 0, sizeof(g));
	CHECK(sd_event_new(&ev) >= 0);
	dcl = new_client(ev, 1000);
	pid = fake_director(sock_path, HELLO, script);
	CHECK(director_host_cmd_async(dcl, "HOST-DOWN", "127.0.3.1", 0,
	    on_done, &g[0]) == 0);
	CHECK(director_host_cmd_async(dcl, "HOST-DOWN", "127.0.3.2", 0,
	    on_done, &g[1]) == 0);
	CHECK(wait_all(ev, g, 2));
	CHECK(g[0].error == 0 && g[0].reply == DIRECTOR_REPLY_OTHER);
	CHECK_STR(g[0].line, "junk");
	/* A fresh connection, which this fake never accepts: no OK. */
	CHECK(!(g[1].error == 0 && g[1].reply == DIRECTOR_REPLY_OK));
	director_client_free(dcl);
	stop_fake(pid);
	sd_event_unref(ev);
}

/* A HOST-LIST reply over an attached socket; -errno and its reason. */
static int
list_over_socketpair(const char *reply, size_t len,
    struct router_host_list *list, char *err, size_t errlen)
{
	struct director_client *dcl;
	struct got g;
	sd_event *ev;
	char buf[256];
	size_t i, n;
	ssize_t r;
	int sv[2];

	memset(&g, 0, sizeof(g));
	CHECK(sd_event_new(&ev) >= 0);
	CHECK(director_client_new(&dcl, ev, "", 2000) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(write(sv[1], HELLO, strlen(HELLO)) == (ssize_t)strlen(HELLO));
	CHECK(director_client_attach(dcl, sv[0]) == 0);
	CHECK(director_host_list_async(dcl, 0, on_done, &g) == 0);
	/* The reply once asked: a line before that is no reply. */
	for (i = 0, n = 0; n < sizeof(HELLO "HOST-LIST\n") - 1 && i < 100;
	    i++) {
		(void)sd_event_run(ev, 10 * 1000);
		if ((r = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			n += (size_t)r;
	}
	CHECK(write(sv[1], reply, len) == (ssize_t)len);
	CHECK(wait_all(ev, &g, 1));
	*list = g.list;
	snprintf(err, errlen, "%s", g.err);
	director_client_free(dcl);
	close(sv[1]);
	sd_event_unref(ev);
	return g.error;
}

/*
 * Tags are stored once per list: hosts sharing a tag share its storage,
 * and tags past the ones looked up (more than 64 distinct), long enough
 * to move the buffer as it grows, still come back whole.
 */
static void
test_host_list_tags(void)
{
	enum { NHOSTS = 400, NUNIQUE = 100 };
	static const char *const shared[] = { "", "red", "blue" };
	char tag[DIRECTOR_TAG_MAX], want[DIRECTOR_TAG_MAX], err[256];
	struct router_host_list list;
	size_t i, len = 0, size = NHOSTS * 256;
	char *reply = malloc(size);

	CHECK(reply != NULL);
	for (i = 0; i < NHOSTS; i++) {
		if (i % 4 == 3 && i / 4 < NUNIQUE)
			snprintf(tag, sizeof(tag), "%0*zu",
			    DIRECTOR_TAG_MAX - 1, i);
		else
			snprintf(tag, sizeof(tag), "%s", shared[i % 3]);
		len += (size_t)snprintf(reply + len, size - len,
		    "10.1.%zu.%zu\t100\t0\t%s\t%s\t0\n", i / 256, i % 256,
		    tag, i % 2 ? "U" : "D");
	}
	reply[len++] = '\n';
	CHECK(list_over_socketpair(reply, len, &list, err,
	    sizeof(err)) == 0);
	CHECK(list.n == NHOSTS);
	for (i = 0; i < list.n && list.n == NHOSTS; i++) {
		if (i % 4 == 3 && i / 4 < NUNIQUE)
			snprintf(want, sizeof(want), "%0*zu",
			    DIRECTOR_TAG_MAX - 1, i);
		else
			snprintf(want, sizeof(want), "%s", shared[i % 3]);
		CHECK_STR(list.hosts[i].tag, want);
		CHECK(list.hosts[i].up == (i % 2 == 1));
	}
	/* Hosts 1 and 4 share "red", 2 and 5 "blue": one copy each. */
	if (list.n == NHOSTS)
		CHECK(list.hosts[1].tag == list.hosts[4].tag &&
		    list.hosts[2].tag == list.hosts[5].tag);
	router_host_list_free(&list);
	CHECK(list.hosts == NULL && list.tags == NULL && list.n == 0);

	/* A tag of DIRECTOR_TAG_MAX bytes is one too many. */
	memset(tag, 'x', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	len = (size_t)snprintf(reply, size, "10.2.0.1\t1\t0\t%sx\tU\t0\n\n",
	    tag);
	CHECK(list_over_socketpair(reply, len, &list, err,
	    sizeof(err)) == -EPROTO);
	CHECK(strstr(err, "tag too long") != NULL);
	CHECK(list.hosts == NULL && list.n == 0);
	free(reply);
}

int
main(void)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/poolmon-unit-%ld.sock",
	    (long)getpid());
	RUN(test_parse_host_line);
	RUN(test_parse_host_line_bad);
	RUN(test_classify);
	RUN(test_ring_state);
	RUN(test_tabescape);
	RUN(test_client_host_list);
	RUN(test_host_list_tags);
	RUN(test_client_bad_handshake);
	RUN(test_client_garbage_and_silence);
	RUN(test_client_stall_one_deadline);
	RUN(test_client_extra_line);
	unlink(sock_path);
	return UNIT_EXIT();
}
