/*
 * notify-listen PATH OUTFILE: a stand-in for systemd's notification
 * socket. Binds a datagram socket at PATH (use it as $NOTIFY_SOCKET) and
 * appends every assignment received ("READY=1", "STATUS=...") to OUTFILE,
 * one per line, flushed at once. Runs until SIGTERM or SIGINT.
 */
#include <stdio.h>

#include "dgram_listen.h"

/* One datagram: its assignments, a line each. */
static void
put_assignments(FILE *out, const char *data, size_t len)
{
	fwrite(data, 1, len, out);
	if (len == 0 || data[len - 1] != '\n')
		fputc('\n', out);
}

int
main(int argc, char **argv)
{
	static char buf[8192];

	return dgram_listen_main("notify-listen", argc, argv, buf,
	    sizeof(buf), put_assignments);
}
