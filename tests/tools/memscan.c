/*
 * memscan PID HEX...: whether process PID holds any of the byte strings
 * HEX (hex digits, e.g. a key) anywhere in its memory: every readable
 * region of /proc/PID/maps read once through /proc/PID/mem. Prints
 * "found N" (N: the argument's place, 1 for the first HEX) for each one
 * found. Exit 0 when one was found, 1 when none was, 2 on an error (no
 * such process, no access, bad arguments). Regions of more than 64 GiB
 * are reservations, not data (a sanitizer's shadow memory): skipped.
 * Needs the right to ptrace PID (root).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEEDLE_MAX	1024
#define NEEDLES_MAX	8
#define CHUNK		(1024 * 1024)
#define REGION_MAX	(64ULL << 30)

struct needle {
	unsigned char bytes[NEEDLE_MAX];
	size_t len;
	int found;
};

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

/* Mark each needle that buf[0, n) holds. */
static void
search(const unsigned char *buf, size_t n, struct needle *nd, int nn)
{
	int i;

	for (i = 0; i < nn; i++)
		if (!nd[i].found && n >= nd[i].len &&
		    memmem(buf, n, nd[i].bytes, nd[i].len) != NULL)
			nd[i].found = 1;
}

/*
 * Search [start, end) of mem. Chunks overlap by the longest needle's
 * length less one, so that a match across two chunks is found. 0, or -1
 * when the region cannot be read at all (a guard page, [vvar]).
 */
static int
scan_region(int mem, unsigned long start, unsigned long end,
    struct needle *nd, int nn, size_t overlap, unsigned char *buf)
{
	unsigned long at = start;
	ssize_t n;

	while (at < end) {
		size_t want = end - at < CHUNK ? end - at : CHUNK;

		n = pread(mem, buf, want, (off_t)at);
		if (n <= 0)
			return at == start ? -1 : 0;
		search(buf, (size_t)n, nd, nn);
		if ((size_t)n <= overlap || at + (size_t)n >= end)
			break;
		at += (size_t)n - overlap;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct needle nd[NEEDLES_MAX];
	unsigned long start, end;
	char path[64], line[512], perms[8];
	unsigned char *buf;
	size_t overlap = 0;
	int mem, nn, i, any = 0, readable = 0;
	FILE *maps;

	nn = argc - 2;
	if (nn < 1 || nn > NEEDLES_MAX)
		goto usage;
	for (i = 0; i < nn; i++) {
		if (unhex(argv[i + 2], nd[i].bytes, sizeof(nd[i].bytes),
		    &nd[i].len) < 0)
			goto usage;
		if (nd[i].len - 1 > overlap)
			overlap = nd[i].len - 1;
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
	while (fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r' || end - start > REGION_MAX)
			continue;
		if (scan_region(mem, start, end, nd, nn, overlap, buf) == 0)
			readable++;
	}
	fclose(maps);
	close(mem);
	free(buf);
	/* Not a single region read: the process is gone, or not ours. */
	if (readable == 0) {
		fprintf(stderr, "memscan: nothing of %s could be read\n",
		    argv[1]);
		return 2;
	}
	for (i = 0; i < nn; i++)
		if (nd[i].found) {
			printf("found %d\n", i + 1);
			any = 1;
		}
	return any ? 0 : 1;
usage:
	fprintf(stderr, "usage: memscan PID HEXBYTES...\n");
	return 2;
}
