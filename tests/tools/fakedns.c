/*
 * fakedns: a DNS server over UDP that knows a few records and never
 * answers anything else (a server that hangs), for PTR names that do or do
 * not resolve back to their address, which a hosts file cannot express.
 *
 *   fakedns IP PORT RECORD...
 *	RECORD is ptr:ADDR=NAME (IPv4 ADDR) or a:NAME=ADDR. Each query of a
 *	known name and type gets one answer; others get none.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define TYPE_A		1
#define TYPE_PTR	12
#define MAX_RECORDS	32

struct record {
	uint16_t type;
	char owner[256];	/* dotted, no trailing dot */
	char ptr_name[256];
	struct in_addr addr;
};

static struct record records[MAX_RECORDS];
static size_t nrecords;

static int
add_record(const char *arg)
{
	struct record *rec = &records[nrecords];
	const char *eq = strchr(arg, '=');
	char left[256];
	unsigned char b[4];

	if (nrecords == MAX_RECORDS || eq == NULL ||
	    (size_t)(eq - arg) >= sizeof(left))
		return -1;
	memcpy(left, arg, (size_t)(eq - arg));
	left[eq - arg] = '\0';
	if (strncmp(left, "ptr:", 4) == 0) {
		if (inet_pton(AF_INET, left + 4, b) != 1)
			return -1;
		rec->type = TYPE_PTR;
		snprintf(rec->owner, sizeof(rec->owner),
		    "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
		snprintf(rec->ptr_name, sizeof(rec->ptr_name), "%s", eq + 1);
	} else if (strncmp(left, "a:", 2) == 0) {
		rec->type = TYPE_A;
		snprintf(rec->owner, sizeof(rec->owner), "%s", left + 2);
		if (inet_pton(AF_INET, eq + 1, &rec->addr) != 1)
			return -1;
	} else
		return -1;
	nrecords++;
	return 0;
}

/* The question's name as dotted text; its end offset, or 0 if malformed. */
static size_t
read_qname(const unsigned char *m, size_t len, char *out, size_t outlen)
{
	size_t off = 12, o = 0;

	while (off < len && m[off] != 0) {
		size_t l = m[off++];

		if (l > 63 || off + l > len || o + l + 2 > outlen)
			return 0;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, m + off, l);
		o += l;
		off += l;
	}
	out[o] = '\0';
	return off < len ? off + 1 : 0;
}

static size_t
put_name(unsigned char *p, const char *name)
{
	size_t n = 0;

	while (*name != '\0') {
		size_t l = strcspn(name, ".");

		p[n++] = (unsigned char)l;
		memcpy(p + n, name, l);
		n += l;
		name += l;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return n;
}

static size_t
answer(const unsigned char *q, size_t qlen, unsigned char *r)
{
	char qname[256];
	size_t end = read_qname(q, qlen, qname, sizeof(qname)), n, i;
	uint16_t qtype;

	if (end == 0 || end + 4 > qlen)
		return 0;
	qtype = (uint16_t)(q[end] << 8 | q[end + 1]);
	for (i = 0; i < nrecords; i++) {
		if (records[i].type == qtype &&
		    strcasecmp(records[i].owner, qname) == 0)
			break;
	}
	if (i == nrecords)
		return 0;
	/* Header: same id, a response with one answer, recursion on. */
	memcpy(r, q, 2);
	r[2] = 0x84 | (q[2] & 0x01);
	r[3] = 0x80;
	r[4] = 0; r[5] = 1; r[6] = 0; r[7] = 1;
	memset(r + 8, 0, 4);
	memcpy(r + 12, q + 12, end + 4 - 12);
	n = end + 4;
	r[n++] = 0xc0; r[n++] = 12;		/* the question's name */
	r[n++] = 0; r[n++] = (unsigned char)qtype;
	r[n++] = 0; r[n++] = 1;			/* IN */
	r[n++] = 0; r[n++] = 0; r[n++] = 0; r[n++] = 60;
	if (qtype == TYPE_A) {
		r[n++] = 0; r[n++] = 4;
		memcpy(r + n, &records[i].addr, 4);
		n += 4;
	} else {
		size_t l = put_name(r + n + 2, records[i].ptr_name);

		r[n++] = (unsigned char)(l >> 8);
		r[n++] = (unsigned char)l;
		n += l;
	}
	return n;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	unsigned char q[512], r[1024];
	struct sockaddr_storage from;
	socklen_t fromlen;
	ssize_t got;
	size_t n;
	int fd, i;

	if (argc < 4 || inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
		fprintf(stderr, "usage: fakedns IP PORT RECORD...\n");
		return 2;
	}
	sin.sin_port = htons((uint16_t)atoi(argv[2]));
	for (i = 3; i < argc; i++) {
		if (add_record(argv[i]) < 0) {
			fprintf(stderr, "fakedns: bad record %s\n", argv[i]);
			return 2;
		}
	}
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("fakedns");
		return 1;
	}
	for (;;) {
		fromlen = sizeof(from);
		got = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from,
		    &fromlen);
		if (got < 12)
			continue;
		if ((n = answer(q, (size_t)got, r)) > 0)
			(void)sendto(fd, r, n, 0, (struct sockaddr *)&from,
			    fromlen);
	}
}
