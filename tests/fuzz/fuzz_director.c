/*
 * Director replies as a director would send them: the input is the byte
 * stream of the admin socket (handshake, HOST-LIST, one-line replies,
 * DIRECTOR-LIST), read by the real client over a socketpair, and each line
 * through the pure parsers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "director.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse_lines(const uint8_t *data, size_t size)
{
	struct director_host host;
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

static void
talk(const uint8_t *data, size_t size)
{
	struct director_conn dc;
	struct director_host_list list;
	enum director_reply rep;
	char reply[128], state[64];
	bool synced;
	int sv[2];

	if (size > 128 * 1024 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return;
	/* The whole "director side" is sent up front, then EOF. */
	if (write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	shutdown(sv[1], SHUT_WR);
	director_conn_init(&dc, 50);
	director_conn_attach(&dc, sv[0]);
	if (director_handshake(&dc) == 0 &&
	    director_host_list(&dc, &list) == 0) {
		director_host_list_free(&list);
		if (director_host_cmd(&dc, "HOST-DOWN", "127.0.0.1", &rep,
		    reply, sizeof(reply)) == 0)
			(void)director_ring_synced(&dc, &synced, state,
			    sizeof(state));
	}
	director_close(&dc);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_lines(data, size);
	talk(data, size);
	return 0;
}
