/*
 * Director client: HOST-LIST parsing (escaped tags, short lines, garbage),
 * reply classification, and the client against a fake director on a
 * socketpair-like UNIX socket (handshake, EOF, garbage, silence).
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

#include "director.h"
#include "util.h"
#include "unit.h"

static void
test_parse_host_line(void)
{
	struct director_host h;
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
	struct director_host h;
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

static void
test_client_host_list(void)
{
	static const char *const script[] = {
		"127.0.3.1\t100\t2\tt1\tU\t1\n127.0.3.2\t0\t0\t\tD\t2\n\n",
		"OK\n", "NOTFOUND\n",
		"host is already being updated - try again later\n",
		"Ring sync timed out\n", NULL,
	};
	struct director_conn dc;
	struct director_host_list list;
	enum director_reply rep;
	char line[128];
	pid_t pid;
	int r;

	pid = fake_director(sock_path, "VERSION\tdirector-doveadm\t1\t0\n",
	    script);
	director_conn_init(&dc, 2000);
	CHECK(director_connect(&dc, sock_path) == 0);
	CHECK(director_host_list(&dc, &list) == 0);
	CHECK(list.n == 2);
	if (list.n == 2) {
		CHECK_STR(list.hosts[0].ip, "127.0.3.1");
		CHECK(list.hosts[0].up && !list.hosts[1].up);
		CHECK_STR(list.hosts[0].tag, "t1");
		CHECK_STR(list.hosts[1].tag, "");
	}
	director_host_list_free(&list);
	CHECK(director_host_cmd(&dc, "HOST-DOWN", "127.0.3.1", &rep, line,
	    sizeof(line)) == 0 && rep == DIRECTOR_REPLY_OK);
	CHECK(director_host_cmd(&dc, "HOST-FLUSH", "127.0.3.1", &rep, line,
	    sizeof(line)) == 0 && rep == DIRECTOR_REPLY_NOTFOUND);
	CHECK(director_host_cmd(&dc, "HOST-UP", "127.0.3.1", &rep, line,
	    sizeof(line)) == 0 && rep == DIRECTOR_REPLY_BUSY);
	CHECK(director_host_cmd(&dc, "HOST-UP", "127.0.3.1", &rep, line,
	    sizeof(line)) == 0 && rep == DIRECTOR_REPLY_RING_TIMEOUT);
	/* The director is gone after the script: EOF, or EPIPE when it
	 * closed before the command was written. */
	r = director_host_cmd(&dc, "HOST-UP", "127.0.3.1", &rep, line,
	    sizeof(line));
	CHECK(r == -ECONNRESET || r == -EPIPE);
	/* Never an empty host: that would flush every host. */
	CHECK(director_host_cmd(&dc, "HOST-FLUSH", "", &rep, line,
	    sizeof(line)) == -EINVAL);
	director_close(&dc);
	stop_fake(pid);
}

static void
test_client_bad_handshake(void)
{
	struct director_conn dc;
	pid_t pid;

	pid = fake_director(sock_path, "VERSION\tdirector-doveadm\t2\t0\n",
	    NULL);
	director_conn_init(&dc, 2000);
	CHECK(director_connect(&dc, sock_path) == -EPROTO);
	CHECK(strstr(dc.err, "handshake") != NULL);
	stop_fake(pid);

	pid = fake_director(sock_path, "garbage\n", NULL);
	CHECK(director_connect(&dc, sock_path) == -EPROTO);
	stop_fake(pid);

	/* Nothing listening. */
	unlink(sock_path);
	CHECK(director_connect(&dc, sock_path) == -ENOENT);
	CHECK(strstr(dc.err, sock_path) != NULL);
}

static void
test_client_garbage_and_silence(void)
{
	static const char *const garbage[] = {
		"127.0.3.1\tbogus\n\n", NULL,
	};
	static const char *const silent[] = { "", NULL };
	static const char *const partial[] = { "127.0.3.1\t1", "", NULL };
	struct director_conn dc;
	struct director_host_list list;
	int64_t t0;
	pid_t pid;

	pid = fake_director(sock_path, "VERSION\tdirector-doveadm\t1\t0\n",
	    garbage);
	director_conn_init(&dc, 1000);
	CHECK(director_connect(&dc, sock_path) == 0);
	CHECK(director_host_list(&dc, &list) == -EPROTO);
	CHECK(strstr(dc.err, "HOST-LIST") != NULL);
	director_close(&dc);
	stop_fake(pid);

	pid = fake_director(sock_path, "VERSION\tdirector-doveadm\t1\t0\n",
	    silent);
	CHECK(director_connect(&dc, sock_path) == 0);
	t0 = now_ms();
	CHECK(director_host_list(&dc, &list) == -ETIMEDOUT);
	CHECK(now_ms() - t0 < 3000);
	director_close(&dc);
	stop_fake(pid);

	pid = fake_director(sock_path, "VERSION\tdirector-doveadm\t1\t0\n",
	    partial);
	CHECK(director_connect(&dc, sock_path) == 0);
	CHECK(director_host_list(&dc, &list) == -ETIMEDOUT);
	director_close(&dc);
	stop_fake(pid);

	/* Handshake never comes. */
	pid = fake_director(sock_path, "", NULL);
	CHECK(director_connect(&dc, sock_path) == -ETIMEDOUT);
	stop_fake(pid);
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
	char tag[DIRECTOR_TAG_MAX], want[DIRECTOR_TAG_MAX];
	struct director_host_list list;
	struct director_conn dc;
	size_t i, len = 0, size = NHOSTS * 256;
	char *reply = malloc(size);
	int sv[2];

	CHECK(reply != NULL && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
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
	CHECK(write(sv[1], reply, len) == (ssize_t)len);
	director_conn_init(&dc, 2000);
	director_conn_attach(&dc, sv[0]);
	CHECK(director_host_list(&dc, &list) == 0);
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
	director_host_list_free(&list);
	CHECK(list.hosts == NULL && list.tags == NULL && list.n == 0);

	/* A tag of DIRECTOR_TAG_MAX bytes is one too many. */
	memset(tag, 'x', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	len = (size_t)snprintf(reply, size, "10.2.0.1\t1\t0\t%sx\tU\t0\n\n",
	    tag);
	CHECK(write(sv[1], reply, len) == (ssize_t)len);
	CHECK(director_host_list(&dc, &list) == -EPROTO);
	CHECK(strstr(dc.err, "tag too long") != NULL);
	CHECK(list.hosts == NULL && list.n == 0);
	director_close(&dc);
	close(sv[1]);
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
	unlink(sock_path);
	return UNIT_EXIT();
}
