/*
 * Director replies as a director would send them: the input is the byte
 * stream of the admin socket (handshake, HOST-LIST, one-line replies,
 * DIRECTOR-LIST), read by the real asynchronous client over a socketpair
 * on an event loop, and each line through the pure parsers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "director.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse_lines(const uint8_t *data, size_t size)
{
	struct router_host host;
	const char *why, *rs;
	char *copy, *line, *next;
	bool synced;

	if ((copy = malloc(size + 1)) == NULL)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (line = copy; line != NULL; line = next) {
		char tmp[DIRECTOR_LINE_MAX];

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		snprintf(tmp, sizeof(tmp), "%s", line);
		(void)director_classify_reply(tmp);
		(void)director_parse_self_line(tmp, &synced, &rs);
		snprintf(tmp, sizeof(tmp), "%s", line);
		(void)director_parse_host_line(tmp, &host, &why);
	}
	free(copy);
}

/* Where the director's answer to one command ends: a list at its empty
 * line, anything else at its first line. */
static size_t
answer_len(const uint8_t *p, size_t left, bool list)
{
	size_t i;

	for (i = 0; i < left; i++)
		if (p[i] == '\n' && (!list || i == 0 || p[i - 1] == '\n'))
			return i + 1;
	return left;
}

static void
on_done(const struct director_result *res, void *arg)
{
	(void)res;
	(*(int *)arg)++;
}

/* The commands poolmond sends, in order; true for those with a list. */
static const bool is_list[] = { true, false, true, false };

static void
queue_commands(struct director_client *dcl, int *done)
{
	int64_t deadline = now_ms() + 30;

	(void)director_host_list_async(dcl, deadline, on_done, done);
	(void)director_host_cmd_async(dcl, "HOST-DOWN", "127.0.0.1", deadline,
	    on_done, done);
	(void)director_ring_state_async(dcl, deadline, on_done, done);
	(void)director_host_cmd_async(dcl, "HOST-FLUSH", "127.0.0.1",
	    deadline, on_done, done);
}

/*
 * The input is the director's side of one connection: its VERSION line
 * at once, then each command's answer once the client has sent it (an
 * answer before the question is no answer), through the real client on
 * the event loop.
 */
static void
talk(const uint8_t *data, size_t size)
{
	struct director_client *dcl = NULL;
	size_t off, len, asked = 0, answered = 0;
	char buf[512];
	sd_event *ev = NULL;
	int done = 0, sv[2], i;
	ssize_t n, k;

	if (size > 128 * 1024 || sd_event_new(&ev) < 0)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0) {
		sd_event_unref(ev);
		return;
	}
	off = answer_len(data, size, false);
	if (director_client_new(&dcl, ev, "", 30) < 0 ||
	    director_client_attach(dcl, sv[0]) < 0 ||
	    send(sv[1], data, off, MSG_NOSIGNAL) != (ssize_t)off)
		goto out;
	queue_commands(dcl, &done);
	for (i = 0; i < 200 && done < 4; i++) {
		(void)sd_event_run(ev, 2 * 1000);
		while ((n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			for (k = 0; k < n; k++)
				asked += buf[k] == '\n';
		/* The first line asked is the client's VERSION. */
		while (answered + 1 < asked &&
		    answered < sizeof(is_list) / sizeof(is_list[0])) {
			len = answer_len(data + off, size - off,
			    is_list[answered]);
			if (len > 0)
				(void)send(sv[1], data + off, len,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
			off += len;
			answered++;
		}
		if (n == 0 && off == size)
			shutdown(sv[1], SHUT_WR);
	}
out:
	director_client_free(dcl);
	close(sv[1]);
	sd_event_unref(ev);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_lines(data, size);
	talk(data, size);
	return 0;
}
