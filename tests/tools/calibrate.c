/*
 * calibrate: what this machine charges for the pieces of a check process,
 * measured apart from poolmond, so that make bench can say what bounds
 * its figures. CPU times (user + system) of this program and its children.
 *
 *   calibrate IP PORT CAFILE NAME [ROUNDS [CREDFILE IMAP POP3 LMTP IMAPS
 *	POP3S [AT_ONCE]]]
 *
 * IP:PORT speaks implicit TLS with a certificate for NAME signed by CAFILE.
 * Prints "key value unit" lines:
 *   fork_exit        a process forked and reaped, doing nothing
 *   page_first_touch reading one page the parent had written, first time
 *                    in a new process (no page fault: address-space cost)
 *   tls_warm         one TLS handshake (verified) in a process that has
 *                    done one before: the cryptography and the network
 *   tls_fresh        a process forked to do one TLS handshake, reaped
 * With CREDFILE (user, then password, a line each) and the five ports:
 *   check_floor      a process forked to check the five ports as make
 *                    bench's poolmond does, with nothing else: IMAP with
 *                    STARTTLS and LOGIN, POP3 with STLS, USER and PASS,
 *                    LMTP to RCPT (the user), IMAPS and POP3S with their
 *                    logins; one port after the other, each reply read
 *                    whole, no retries, no sandbox: the cheapest check
 *                    of those ports this machine can do
 * With AT_ONCE (a count) as well:
 *   check_floor_at_once  the same, with AT_ONCE such processes forked at
 *                    once, then reaped (waves of them, ROUNDS processes
 *                    in all and at least one wave): what running that
 *                    many checks at once costs each on this machine,
 *                    as poolmond does on a recheck of that many backends
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define TOUCH_PAGES	2000
#define IO_TIMEOUT_S	5

struct target {
	struct sockaddr_in sin;
	SSL_CTX *ctx;
	const char *name;
};

/* What check_floor checks: the ports and the login of make bench. */
struct floor_job {
	const struct target *t;
	char user[64], pass[64];
	int imap, pop3, lmtp, imaps, pop3s;
};

/* A connection of check_floor: plain until TLS is started on it. */
struct conn {
	int fd;
	SSL *ssl;
	char buf[4096];
	size_t len;
};

/* How a reply ends: IMAP's tagged line, POP3's one line, LMTP's "250 ". */
enum reply_kind {
	REPLY_IMAP,
	REPLY_LINE,
	REPLY_SMTP,
};

/* CPU seconds of this process (RUSAGE_SELF) or its reaped children. */
static double
cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double
cpu_all(void)
{
	return cpu_s(RUSAGE_SELF) + cpu_s(RUSAGE_CHILDREN);
}

static int
handshake(const struct target *t)
{
	char buf[512];
	SSL *ssl;
	int fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&t->sin, sizeof(t->sin)) < 0) {
		close(fd);
		return -1;
	}
	ssl = SSL_new(t->ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, t->name);
	SSL_set1_host(ssl, t->name);
	ok = SSL_connect(ssl) == 1 && SSL_read(ssl, buf, sizeof(buf)) > 0;
	if (!ok)
		ERR_print_errors_fp(stderr);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	return ok ? 0 : -1;
}

static int
conn_open(struct conn *c, const struct target *t, int port)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	struct sockaddr_in sin = t->sin;

	memset(c, 0, sizeof(*c));
	sin.sin_port = htons((uint16_t)port);
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return connect(c->fd, (const struct sockaddr *)&sin, sizeof(sin));
}

static int
conn_tls(struct conn *c, const struct target *t)
{
	if ((c->ssl = SSL_new(t->ctx)) == NULL)
		return -1;
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, t->name);
	SSL_set1_host(c->ssl, t->name);
	return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

static int
conn_send(struct conn *c, const char *line)
{
	int n = (int)strlen(line);

	if (c->ssl != NULL)
		return SSL_write(c->ssl, line, n) == n ? 0 : -1;
	return write(c->fd, line, (size_t)n) == n ? 0 : -1;
}

/*
 * The reply's last line, read whole: 0 if it says yes (a tagged "OK",
 * "+OK" or "* OK", a 2xx), -1 otherwise.
 */
static int
conn_reply(struct conn *c, enum reply_kind kind, const char *tag)
{
	size_t taglen = tag != NULL ? strlen(tag) : 0, linelen;
	char *end, *line = c->buf;
	int n;

	for (;;) {
		while ((end = memchr(line, '\n', c->len - (size_t)(line -
		    c->buf))) != NULL) {
			linelen = (size_t)(end - line) + 1;
			if (kind == REPLY_LINE || (kind == REPLY_IMAP &&
			    linelen > taglen + 1 && strncmp(line, tag, taglen) ==
			    0 && line[taglen] == ' ') || (kind == REPLY_SMTP &&
			    linelen > 4 && line[3] == ' ')) {
				n = kind == REPLY_SMTP ? line[0] == '2' :
				    kind == REPLY_LINE ? line[0] == '+' ||
				    strncmp(line, "* OK", 4) == 0 :
				    strncmp(line + taglen + 1, "OK", 2) == 0;
				c->len -= (size_t)(end + 1 - c->buf);
				memmove(c->buf, end + 1, c->len);
				return n ? 0 : -1;
			}
			line = end + 1;
		}
		/* Lines before the last are dropped, the last kept. */
		c->len -= (size_t)(line - c->buf);
		memmove(c->buf, line, c->len);
		line = c->buf;
		if (c->len == sizeof(c->buf))
			return -1;
		n = c->ssl != NULL ? SSL_read(c->ssl, c->buf + c->len,
		    (int)(sizeof(c->buf) - c->len)) : (int)read(c->fd,
		    c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

/* Send line, read its reply. */
static int
conn_cmd(struct conn *c, const char *line, enum reply_kind kind,
    const char *tag)
{
	return conn_send(c, line) < 0 ? -1 : conn_reply(c, kind, tag);
}

static void
conn_close(struct conn *c)
{
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
}

static int
floor_imap(const struct floor_job *j, int port, int implicit)
{
	char login[200];
	struct conn c;
	int r;

	snprintf(login, sizeof(login), "b LOGIN \"%s\" \"%s\"\r\n", j->user,
	    j->pass);
	r = conn_open(&c, j->t, port) < 0 ||
	    (implicit && conn_tls(&c, j->t) < 0) ||
	    conn_reply(&c, REPLY_LINE, NULL) < 0 ||
	    (!implicit && (conn_cmd(&c, "a STARTTLS\r\n", REPLY_IMAP, "a") < 0 ||
	    conn_tls(&c, j->t) < 0)) ||
	    conn_cmd(&c, login, REPLY_IMAP, "b") < 0 ||
	    conn_cmd(&c, "c LOGOUT\r\n", REPLY_IMAP, "c") < 0 ? -1 : 0;
	conn_close(&c);
	return r;
}

static int
floor_pop3(const struct floor_job *j, int port, int implicit)
{
	char user[100], pass[100];
	struct conn c;
	int r;

	snprintf(user, sizeof(user), "USER %s\r\n", j->user);
	snprintf(pass, sizeof(pass), "PASS %s\r\n", j->pass);
	r = conn_open(&c, j->t, port) < 0 ||
	    (implicit && conn_tls(&c, j->t) < 0) ||
	    conn_reply(&c, REPLY_LINE, NULL) < 0 ||
	    (!implicit && (conn_cmd(&c, "STLS\r\n", REPLY_LINE, NULL) < 0 ||
	    conn_tls(&c, j->t) < 0)) ||
	    conn_cmd(&c, user, REPLY_LINE, NULL) < 0 ||
	    conn_cmd(&c, pass, REPLY_LINE, NULL) < 0 ||
	    conn_cmd(&c, "QUIT\r\n", REPLY_LINE, NULL) < 0 ? -1 : 0;
	conn_close(&c);
	return r;
}

static int
floor_lmtp(const struct floor_job *j)
{
	char rcpt[100];
	struct conn c;
	int r;

	snprintf(rcpt, sizeof(rcpt), "RCPT TO:<%s>\r\n", j->user);
	r = conn_open(&c, j->t, j->lmtp) < 0 ||
	    conn_reply(&c, REPLY_SMTP, NULL) < 0 ||
	    conn_cmd(&c, "LHLO calibrate\r\n", REPLY_SMTP, NULL) < 0 ||
	    conn_cmd(&c, "MAIL FROM:<>\r\n", REPLY_SMTP, NULL) < 0 ||
	    conn_cmd(&c, rcpt, REPLY_SMTP, NULL) < 0 ||
	    conn_cmd(&c, "QUIT\r\n", REPLY_SMTP, NULL) < 0 ? -1 : 0;
	conn_close(&c);
	return r;
}

static void
check_floor(const void *arg)
{
	const struct floor_job *j = arg;

	if (floor_imap(j, j->imap, 0) < 0 || floor_pop3(j, j->pop3, 0) < 0 ||
	    floor_lmtp(j) < 0 || floor_imap(j, j->imaps, 1) < 0 ||
	    floor_pop3(j, j->pop3s, 1) < 0) {
		ERR_print_errors_fp(stderr);
		_exit(1);
	}
}

static int
read_creds(const char *path, struct floor_job *j)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL)
		return -1;
	ok = fgets(j->user, sizeof(j->user), f) != NULL &&
	    fgets(j->pass, sizeof(j->pass), f) != NULL;
	fclose(f);
	j->user[strcspn(j->user, "\r\n")] = '\0';
	j->pass[strcspn(j->pass, "\r\n")] = '\0';
	return ok && j->user[0] != '\0' ? 0 : -1;
}

/*
 * Fork at_once children that each run what(), then reap them, in waves
 * (rounds children in all, at least one wave): CPU per child.
 */
static double
per_child_at_once(int rounds, int at_once, void (*what)(const void *),
    const void *arg)
{
	int waves = rounds / at_once > 0 ? rounds / at_once : 1;
	double c0 = cpu_all();
	int w, i, status, failed = 0;
	pid_t pid;

	for (w = 0; w < waves; w++) {
		for (i = 0; i < at_once; i++) {
			if ((pid = fork()) < 0) {
				perror("fork");
				exit(1);
			}
			if (pid == 0) {
				what(arg);
				_exit(0);
			}
		}
		for (i = 0; i < at_once; i++)
			if (wait(&status) < 0 || status != 0)
				failed++;
	}
	if (failed) {
		fprintf(stderr, "calibrate: %d children failed\n", failed);
		exit(1);
	}
	return (cpu_all() - c0) / (waves * at_once);
}

/* Fork rounds children that each run what(), one after the other: CPU
 * per child. */
static double
per_child(int rounds, void (*what)(const void *), const void *arg)
{
	return per_child_at_once(rounds, 1, what, arg);
}

static void
do_nothing(const void *arg)
{
	(void)arg;
}

static void
touch_pages(const void *arg)
{
	const volatile char *pages = arg;
	unsigned int sum = 0;
	size_t i;

	for (i = 0; i < TOUCH_PAGES; i++)
		sum += (unsigned char)pages[i * 4096];
	if (sum != TOUCH_PAGES)
		_exit(1);
}

static void
one_handshake(const void *arg)
{
	if (handshake(arg) < 0)
		_exit(1);
}

int
main(int argc, char **argv)
{
	struct target t = { .sin = { .sin_family = AF_INET } };
	struct floor_job job;
	int rounds = argc > 5 ? atoi(argv[5]) : 200, at_once = 0, i;
	char *pages;
	double c0, fork_exit, touched;

	if (argc == 13)
		at_once = atoi(argv[12]);
	if ((argc != 5 && argc != 6 && argc != 12 && argc != 13) ||
	    rounds <= 0 || (argc == 13 && at_once <= 0)) {
		fprintf(stderr, "usage: calibrate IP PORT CAFILE NAME [ROUNDS "
		    "[CREDFILE IMAP POP3 LMTP IMAPS POP3S [AT_ONCE]]]\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &t.sin.sin_addr) != 1) {
		fprintf(stderr, "calibrate: bad address %s\n", argv[1]);
		return 2;
	}
	t.sin.sin_port = htons((uint16_t)atoi(argv[2]));
	t.name = argv[4];
	t.ctx = SSL_CTX_new(TLS_client_method());
	if (t.ctx == NULL || SSL_CTX_load_verify_locations(t.ctx, argv[3],
	    NULL) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_verify(t.ctx, SSL_VERIFY_PEER, NULL);

	/* As poolmond: one handshake first, so the children share its caches. */
	if (handshake(&t) < 0) {
		fprintf(stderr, "calibrate: TLS to %s:%s failed\n", argv[1],
		    argv[2]);
		return 1;
	}
	if ((pages = malloc((size_t)TOUCH_PAGES * 4096)) == NULL)
		return 1;
	for (i = 0; i < TOUCH_PAGES; i++)
		pages[(size_t)i * 4096] = 1;

	fork_exit = per_child(rounds, do_nothing, NULL);
	touched = per_child(rounds, touch_pages, pages);
	free(pages);
	printf("fork_exit %.3f ms\n", fork_exit * 1e3);
	printf("page_first_touch %.2f us\n",
	    (touched - fork_exit) / TOUCH_PAGES * 1e6);
	c0 = cpu_all();
	for (i = 0; i < rounds; i++)
		if (handshake(&t) < 0)
			return 1;
	printf("tls_warm %.3f ms\n", (cpu_all() - c0) / rounds * 1e3);
	printf("tls_fresh %.3f ms\n",
	    per_child(rounds, one_handshake, &t) * 1e3);
	if (argc >= 12) {
		job.t = &t;
		if (read_creds(argv[6], &job) < 0) {
			fprintf(stderr, "calibrate: cannot read %s\n", argv[6]);
			return 1;
		}
		job.imap = atoi(argv[7]);
		job.pop3 = atoi(argv[8]);
		job.lmtp = atoi(argv[9]);
		job.imaps = atoi(argv[10]);
		job.pop3s = atoi(argv[11]);
		printf("check_floor %.3f ms\n",
		    per_child(rounds, check_floor, &job) * 1e3);
		if (at_once > 0)
			printf("check_floor_at_once %.3f ms\n",
			    per_child_at_once(rounds, at_once, check_floor,
			    &job) * 1e3);
	}
	SSL_CTX_free(t.ctx);
	return 0;
}
