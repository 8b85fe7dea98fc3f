/*
 * memscan PID HEX: whether process PID holds the bytes HEX (hex digits,
 * e.g. a key) anywhere in its memory: every readable region of
 * /proc/PID/maps read through /proc/PID/mem. Exit 0 when found, 1 when
 * not, 2 on an error (no such process, no access, bad arguments). Needs
 * the right to ptrace PID (root).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEEDLE_MAX	1024
#define CHUNK		(1024 * 1024)

static int
unhex(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(s), i;
	unsigned int byte;

	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &byte) != 1)
			return -1;
		out[i] = (unsigned char)byte;
	}
	*len = n / 2;
	return 0;
}

/*
 * Search [start, end) of mem for needle. Chunks overlap by len - 1 bytes
 * so that a match across two chunks is found. 1 found, 0 not, -1 when
 * the region cannot be read at all (a guard page, [vvar]).
 */
static int
scan_region(int mem, unsigned long start, unsigned long end,
    const unsigned char *needle, size_t len, unsigned char *buf)
{
	unsigned long at = start;
	ssize_t n;

	while (at < end) {
		size_t want = end - at < CHUNK ? end - at : CHUNK;

		n = pread(mem, buf, want, (off_t)at);
		if (n <= 0)
			return at == start ? -1 : 0;
		if ((size_t)n >= len && memmem(buf, (size_t)n, needle, len))
			return 1;
		if ((size_t)n < len || at + (size_t)n >= end)
			break;
		at += (size_t)n - (len - 1);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned char needle[NEEDLE_MAX], *buf;
	unsigned long start, end;
	char path[64], line[512], perms[8];
	size_t len;
	int mem, found = 0, readable = 0, r;
	FILE *maps;

	if (argc != 3 || unhex(argv[2], needle, sizeof(needle), &len) < 0) {
		fprintf(stderr, "usage: memscan PID HEXBYTES\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	if ((maps = fopen(path, "r")) == NULL) {
		fprintf(stderr, "memscan: %s: %s\n", path, strerror(errno));
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	if ((mem = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "memscan: %s: %s\n", path, strerror(errno));
		return 2;
	}
	if ((buf = malloc(CHUNK)) == NULL) {
		fprintf(stderr, "memscan: out of memory\n");
		return 2;
	}
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r')
			continue;
		r = scan_region(mem, start, end, needle, len, buf);
		if (r >= 0)
			readable++;
		found = r == 1;
	}
	fclose(maps);
	close(mem);
	free(buf);
	/* Not a single region read: the process is gone, or not ours. */
	if (!found && readable == 0) {
		fprintf(stderr, "memscan: nothing of %s could be read\n",
		    argv[1]);
		return 2;
	}
	return found ? 0 : 1;
}
