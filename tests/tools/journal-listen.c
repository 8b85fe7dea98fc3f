/*
 * journal-listen PATH OUTFILE: a stand-in for journald's native socket
 * (/run/systemd/journal/socket), for tests where no journal runs. Binds a
 * datagram socket at PATH and appends each entry received to OUTFILE as
 * one line of tab-separated KEY=VALUE fields (a newline or tab inside a
 * value written as \n or \t), flushed at once. Decodes both forms of the
 * native protocol: "KEY=VALUE\n" and "KEY\n" + 64-bit little-endian
 * length + data + "\n". Runs until SIGTERM or SIGINT.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dgram_listen.h"

static void
put_value(FILE *out, const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (v[i] == '\n')
			fputs("\\n", out);
		else if (v[i] == '\t')
			fputs("\\t", out);
		else
			fputc(v[i], out);
	}
}

/* One datagram: fields until the end; a malformed one ends the entry. */
static void
put_entry(FILE *out, const char *p, size_t len)
{
	const char *end = p + len, *nl, *eq;
	uint64_t vlen;
	bool first = true;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		eq = memchr(p, '=', (size_t)(nl - p));
		fputs(first ? "" : "\t", out);
		first = false;
		if (eq != NULL) {
			fwrite(p, 1, (size_t)(eq - p + 1), out);
			put_value(out, eq + 1, (size_t)(nl - eq - 1));
			p = nl + 1;
			continue;
		}
		fwrite(p, 1, (size_t)(nl - p), out);
		fputc('=', out);
		p = nl + 1;
		if ((size_t)(end - p) < 8)
			break;
		memcpy(&vlen, p, 8);	/* little-endian on the hosts we run */
		p += 8;
		if (vlen > (uint64_t)(end - p))
			break;
		put_value(out, p, (size_t)vlen);
		p += vlen + 1;
	}
	fputc('\n', out);
}

int
main(int argc, char **argv)
{
	static char buf[256 * 1024];

	return dgram_listen_main("journal-listen", argc, argv, buf,
	    sizeof(buf), put_entry);
}
