/*
 * The escapes of the fake servers' scripts: \r \n \t \0 \xHH and \\,
 * shared by tests/tools/fakeserver.c and tests/hostile/hostile.c.
 */
#ifndef POOLMON_TEST_UNESCAPE_H
#define POOLMON_TEST_UNESCAPE_H

#include <stdlib.h>
#include <string.h>

static int
script_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unescape src into a new buffer, its length in *len; NULL without memory. */
static char *
script_unescape(const char *src, size_t *len)
{
	char *out = malloc(strlen(src) + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (; *src != '\0'; src++) {
		if (*src != '\\' || src[1] == '\0') {
			out[o++] = *src;
			continue;
		}
		switch (*++src) {
		case 'r': out[o++] = '\r'; break;
		case 'n': out[o++] = '\n'; break;
		case 't': out[o++] = '\t'; break;
		case '0': out[o++] = '\0'; break;
		case 'x':
			if (script_hexval(src[1]) >= 0 &&
			    script_hexval(src[2]) >= 0) {
				out[o++] = (char)(script_hexval(src[1]) * 16 +
				    script_hexval(src[2]));
				src += 2;
				break;
			}
			out[o++] = 'x';
			break;
		default: out[o++] = *src; break;
		}
	}
	*len = o;
	return out;
}

#endif
