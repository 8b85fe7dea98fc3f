/*
 * The fleet's transport on one event loop: two monitors on loopback
 * exchange messages with the same key and refuse each other with
 * different keys; a silent listener times out, nobody listening is
 * unreachable, a peer announcing an oversized frame is refused without
 * the memory being taken; key files are checked. A forked peer speaks
 * TLS 1.3 with the PSK derived here independently (EVP_PKEY HKDF, not the
 * module's EVP_KDF), so the derivation itself is checked too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "fleet_net.h"
#include "log.h"
#include "util.h"
#include "unit.h"

#define ADDR_A		"127.0.31.1:19094"
#define ADDR_B		"127.0.31.2:19094"
#define ADDR_SILENT	"127.0.31.3:19094"
#define ADDR_NOBODY	"127.0.31.4:19094"
#define ADDR_HOSTILE	"127.0.31.5:19094"
#define IP_HOSTILE_SRC	"127.0.31.6"
#define ADDR_FULL	"127.0.31.7:19094"
#define TIMEOUT_MS	1000
/* How long the loop may run for one case: far more than any deadline. */
#define CASE_MAX_MS	(20 * TIMEOUT_MS)

static char dir[64];

struct side {
	const char *name;
	int received;
	bool recv_outgoing;
	char recv_from[64];
	char recv_msg[64];
	int ended;
	int superseded;
	char end_peer[64];
	bool end_outgoing;
	enum fleet_outcome outcome;
	char err[64];
};

static void
on_received(void *arg, const char *from, bool outgoing, const uint8_t *msg,
    size_t len)
{
	struct side *s = arg;

	s->received++;
	s->recv_outgoing = outgoing;
	str_copy(s->recv_from, from, sizeof(s->recv_from));
	if (len >= sizeof(s->recv_msg))
		len = sizeof(s->recv_msg) - 1;
	memcpy(s->recv_msg, msg, len);
	s->recv_msg[len] = '\0';
}

static int
on_answer(void *arg, uint8_t **msg, size_t *len)
{
	struct side *s = arg;
	char reply[64];

	snprintf(reply, sizeof(reply), "answer from %s", s->name);
	*msg = (uint8_t *)strdup(reply);
	*len = strlen(reply);
	return *msg != NULL ? 0 : -ENOMEM;
}

static void
on_ended(void *arg, const char *peer, bool outgoing,
    enum fleet_outcome outcome, const char *err)
{
	struct side *s = arg;

	/* A cancelled exchange is counted apart from how the last ended. */
	if (outcome == FLEET_FAILED && strcmp(err, "superseded") == 0) {
		s->superseded++;
		return;
	}
	s->ended++;
	str_copy(s->end_peer, peer, sizeof(s->end_peer));
	s->end_outgoing = outgoing;
	s->outcome = outcome;
	str_copy(s->err, err, sizeof(s->err));
}

static void
key_file(const char *path, const char *content, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len)
		abort();
	if (fchmod(fd, mode) < 0)
		abort();
	close(fd);
}

static const char KEY1[] = "0123456789abcdef0123456789abcdef-fleet-one";
static const char KEY2[] = "0123456789abcdef0123456789abcdef-fleet-two";

static struct fleet_net *
net_new(sd_event *event, const char *addr, const char *key,
    struct side *s, int timeout_ms)
{
	struct fleet_net_hooks hooks = {
		.received = on_received, .answer = on_answer,
		.ended = on_ended, .arg = s,
	};
	struct sockaddr_storage ss;
	struct fleet_net *net = NULL;
	char err[256];

	if (addrport_parse(addr, &ss) < 0)
		abort();
	if (fleet_net_new(event, &ss, (const uint8_t *)key, strlen(key),
	    timeout_ms, &hooks, &net, err, sizeof(err)) < 0) {
		fprintf(stderr, "fleet_net_new %s: %s\n", addr, err);
		return NULL;
	}
	return net;
}

/* Run the loop until done() or CASE_MAX_MS. */
static void
run_until(sd_event *event, bool (*done)(void *), void *arg)
{
	int64_t end = now_ms() + CASE_MAX_MS;

	while (!done(arg) && now_ms() < end)
		(void)sd_event_run(event, 100 * 1000);
}

struct pair {
	struct side *a, *b;
	struct fleet_net *na, *nb;
};

static bool
pair_done(void *arg)
{
	struct pair *p = arg;

	return p->a->ended > 0 && p->b->ended > 0 &&
	    fleet_net_active(p->na) == 0 && fleet_net_active(p->nb) == 0;
}

static bool
a_done(void *arg)
{
	return ((struct side *)arg)->ended > 0;
}

/* (1) One key: each side gets the other's bytes, both end well. */
static void
test_exchange_same_key(void)
{
	struct side a = { .name = "a" }, b = { .name = "b" };
	struct pair p = { &a, &b, NULL, NULL };
	sd_event *event = NULL;

	CHECK(sd_event_new(&event) >= 0);
	p.na = net_new(event, ADDR_A, KEY1, &a, TIMEOUT_MS);
	p.nb = net_new(event, ADDR_B, KEY1, &b, TIMEOUT_MS);
	CHECK(p.na != NULL && p.nb != NULL);
	if (p.na == NULL || p.nb == NULL)
		goto out;
	CHECK(fleet_net_exchange(p.na, ADDR_B, (const uint8_t *)"offer a",
	    7) == 0);
	CHECK(fleet_net_active(p.na) == 1);
	run_until(event, pair_done, &p);

	CHECK(b.received == 1);
	CHECK(!b.recv_outgoing);
	/* The connection came from A's fleet address. */
	CHECK_STR(b.recv_from, "127.0.31.1");
	CHECK_STR(b.recv_msg, "offer a");
	CHECK(b.ended == 1);
	CHECK(b.outcome == FLEET_OK);
	CHECK_STR(b.err, "");
	CHECK_STR(b.end_peer, "127.0.31.1");
	CHECK(!b.end_outgoing);

	CHECK(a.received == 1);
	CHECK(a.recv_outgoing);
	CHECK_STR(a.recv_from, ADDR_B);
	CHECK_STR(a.recv_msg, "answer from b");
	CHECK(a.ended == 1);
	CHECK(a.outcome == FLEET_OK);
	CHECK_STR(a.err, "");
	CHECK_STR(a.end_peer, ADDR_B);
	CHECK(a.end_outgoing);
	CHECK(fleet_net_active(p.na) == 0 && fleet_net_active(p.nb) == 0);

	/* And back the other way, on the same nets. */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.name = "a";
	b.name = "b";
	CHECK(fleet_net_exchange(p.nb, ADDR_A, (const uint8_t *)"offer b",
	    7) == 0);
	run_until(event, pair_done, &p);
	CHECK(a.received == 1 && b.received == 1);
	CHECK_STR(a.recv_msg, "offer b");
	CHECK_STR(b.recv_msg, "answer from a");
	CHECK(a.outcome == FLEET_OK && b.outcome == FLEET_OK);
out:
	fleet_net_free(p.na);
	fleet_net_free(p.nb);
	sd_event_unref(event);
}

/* (2) Different keys: both sides see an authentication failure. */
static void
test_exchange_wrong_key(void)
{
	struct side a = { .name = "a" }, b = { .name = "b" };
	struct pair p = { &a, &b, NULL, NULL };
	sd_event *event = NULL;

	CHECK(sd_event_new(&event) >= 0);
	p.na = net_new(event, ADDR_A, KEY1, &a, TIMEOUT_MS);
	p.nb = net_new(event, ADDR_B, KEY2, &b, TIMEOUT_MS);
	CHECK(p.na != NULL && p.nb != NULL);
	if (p.na == NULL || p.nb == NULL)
		goto out;
	CHECK(fleet_net_exchange(p.na, ADDR_B, (const uint8_t *)"offer a",
	    7) == 0);
	run_until(event, pair_done, &p);
	CHECK(a.received == 0 && b.received == 0);
	CHECK(a.ended == 1 && b.ended == 1);
	CHECK(a.outcome == FLEET_AUTH_FAILED);
	CHECK_STR(a.err, "authentication failed");
	CHECK_STR(a.end_peer, ADDR_B);
	CHECK(b.outcome == FLEET_AUTH_FAILED);
	CHECK_STR(b.err, "authentication failed");
	CHECK_STR(b.end_peer, "127.0.31.1");
	CHECK(!b.end_outgoing);
out:
	fleet_net_free(p.na);
	fleet_net_free(p.nb);
	sd_event_unref(event);
}

static int
listen_on(const char *addr)
{
	struct sockaddr_storage ss;
	int fd, one = 1;

	if (addrport_parse(addr, &ss) < 0)
		abort();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) < 0 ||
	    listen(fd, 8) < 0)
		abort();
	return fd;
}

struct silent {
	int fds[4];
	size_t n;
};

/* Accept, keep open, never speak. */
static int
on_silent_accept(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct silent *sl = arg;
	int cfd;

	(void)s;
	(void)revents;
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd >= 0 && sl->n < ARRAY_SIZE(sl->fds))
		sl->fds[sl->n++] = cfd;
	else if (cfd >= 0)
		close(cfd);
	return 0;
}

/*
 * (3) A listener that accepts and never speaks: the deadline ends the
 * exchange. A second exchange with it cancels the first ("superseded").
 */
static void
test_silent_peer_times_out(void)
{
	struct side a = { .name = "a" };
	struct fleet_net *na;
	sd_event_source *src = NULL;
	sd_event *event = NULL;
	struct silent sl = { .n = 0 };
	int lfd;

	CHECK(sd_event_new(&event) >= 0);
	lfd = listen_on(ADDR_SILENT);
	CHECK(sd_event_add_io(event, &src, lfd, EPOLLIN, on_silent_accept,
	    &sl) >= 0);
	na = net_new(event, ADDR_A, KEY1, &a, TIMEOUT_MS);
	CHECK(na != NULL);
	if (na == NULL)
		goto out;
	CHECK(fleet_net_exchange(na, ADDR_SILENT, (const uint8_t *)"x", 1) ==
	    0);
	/* Until the silent peer has the first connection. */
	while (sl.n == 0 && a.ended == 0)
		(void)sd_event_run(event, 100 * 1000);
	CHECK(fleet_net_exchange(na, ADDR_SILENT, (const uint8_t *)"y", 1) ==
	    0);
	CHECK(a.superseded == 1);
	CHECK(fleet_net_active(na) == 1);
	run_until(event, a_done, &a);
	CHECK(a.ended == 1);
	CHECK(a.outcome == FLEET_FAILED);
	CHECK_STR(a.err, "timed out");
	CHECK_STR(a.end_peer, ADDR_SILENT);
	CHECK(a.received == 0);
	CHECK(fleet_net_active(na) == 0);
out:
	fleet_net_free(na);
	sd_event_source_disable_unref(src);
	while (sl.n > 0)
		close(sl.fds[--sl.n]);
	close(lfd);
	sd_event_unref(event);
}

/* (4) Nobody listening: unreachable, refused. */
static void
test_nobody_listening(void)
{
	struct side a = { .name = "a" };
	struct fleet_net *na;
	sd_event *event = NULL;

	CHECK(sd_event_new(&event) >= 0);
	na = net_new(event, ADDR_A, KEY1, &a, TIMEOUT_MS);
	CHECK(na != NULL);
	if (na == NULL)
		goto out;
	CHECK(fleet_net_exchange(na, ADDR_NOBODY, (const uint8_t *)"x", 1) ==
	    0);
	run_until(event, a_done, &a);
	CHECK(a.ended == 1);
	CHECK(a.outcome == FLEET_UNREACHABLE);
	CHECK_STR(a.err, "connection refused");
	CHECK(a.received == 0);
	/* Bad arguments fail at once, without ended(). */
	CHECK(fleet_net_exchange(na, "not an address", (const uint8_t *)"x",
	    1) == -EINVAL);
	CHECK(fleet_net_exchange(na, ADDR_B, (const uint8_t *)"x", 0) ==
	    -EMSGSIZE);
	CHECK(a.ended == 1);
out:
	fleet_net_free(na);
	sd_event_unref(event);
}

/* ------------------------------------------------------------------ */
/* A hostile peer with the right key, in a child process (blocking) */

static uint8_t child_psk[32];

static SSL_SESSION *
child_session(SSL *ssl)
{
	static const unsigned char suite[2] = { 0x13, 0x01 };
	SSL_SESSION *sess = SSL_SESSION_new();

	if (sess == NULL ||
	    SSL_SESSION_set1_master_key(sess, child_psk, 32) != 1 ||
	    SSL_SESSION_set_cipher(sess, SSL_CIPHER_find(ssl, suite)) != 1 ||
	    SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION) != 1)
		_exit(3);
	return sess;
}

static int
child_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
    size_t *idlen, SSL_SESSION **sess)
{
	(void)md;
	*sess = child_session(ssl);
	*id = (const unsigned char *)"poolmon-fleet-v1";
	*idlen = strlen("poolmon-fleet-v1");
	return 1;
}

static int
child_find_cb(SSL *ssl, const unsigned char *id, size_t idlen,
    SSL_SESSION **sess)
{
	(void)id;
	(void)idlen;
	*sess = child_session(ssl);
	return 1;
}

/* The documented PSK: HKDF-SHA256(key, info "poolmon fleet v1"), 32 bytes. */
static void
child_derive(const char *key)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t outlen = sizeof(child_psk);

	if (pctx == NULL || EVP_PKEY_derive_init(pctx) != 1 ||
	    EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(pctx, (const unsigned char *)key,
	    (int)strlen(key)) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(pctx,
	    (const unsigned char *)"poolmon fleet v1", 16) != 1 ||
	    EVP_PKEY_derive(pctx, child_psk, &outlen) != 1)
		_exit(3);
	EVP_PKEY_CTX_free(pctx);
}

static SSL *
child_ssl(int fd, bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	SSL *ssl;

	if (ctx == NULL)
		_exit(3);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_psk_use_session_callback(ctx, child_use_cb);
	SSL_CTX_set_psk_find_session_callback(ctx, child_find_cb);
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
		_exit(3);
	if ((server ? SSL_accept(ssl) : SSL_connect(ssl)) != 1)
		_exit(4);
	return ssl;
}

static void
child_send_header(SSL *ssl, uint32_t len, size_t body)
{
	uint8_t buf[4 + 100];

	memset(buf, 'z', sizeof(buf));
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	if (body > 100)
		body = 100;
	if (SSL_write(ssl, buf, (int)(4 + body)) <= 0)
		_exit(5);
}

/* Until the other side closes. */
static void
child_drain(SSL *ssl)
{
	char buf[256];

	while (SSL_read(ssl, buf, sizeof(buf)) > 0)
		;
}

static int
child_connect(const char *to)
{
	struct sockaddr_storage ss;
	struct sockaddr_in src = { .sin_family = AF_INET };
	int fd;

	inet_pton(AF_INET, IP_HOSTILE_SRC, &src.sin_addr);
	if (addrport_parse(to, &ss) < 0)
		_exit(3);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) <
	    0)
		_exit(3);
	return fd;
}

/*
 * Answer A's exchange with a frame announcing FLEET_MSG_MAX + 1; then
 * to B announce FLEET_MSG_MAX + 1; announce FLEET_MSG_MAX but send only
 * 100 bytes of it and stall; announce 0 bytes; speak HTTP.
 */
static void
hostile_child(int lfd)
{
	SSL *ssl;
	char c;
	int fd;

	alarm(CASE_MAX_MS / 1000);
	child_derive(KEY1);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		_exit(3);
	ssl = child_ssl(fd, true);
	child_send_header(ssl, FLEET_MSG_MAX + 1, 100);
	child_drain(ssl);
	SSL_free(ssl);
	close(fd);

	fd = child_connect(ADDR_B);
	ssl = child_ssl(fd, false);
	child_send_header(ssl, FLEET_MSG_MAX + 1, 100);
	child_drain(ssl);
	SSL_free(ssl);
	close(fd);

	fd = child_connect(ADDR_B);
	ssl = child_ssl(fd, false);
	child_send_header(ssl, FLEET_MSG_MAX, 100);
	child_drain(ssl);
	SSL_free(ssl);
	close(fd);

	fd = child_connect(ADDR_B);
	ssl = child_ssl(fd, false);
	child_send_header(ssl, 0, 0);
	child_drain(ssl);
	SSL_free(ssl);
	close(fd);

	/* Not TLS at all: a failure, not an authentication failure. */
	fd = child_connect(ADDR_B);
	if (write(fd, "GET / HTTP/1.0\r\n\r\n", 18) != 18)
		_exit(5);
	while (read(fd, &c, 1) > 0)
		;
	close(fd);
	_exit(0);
}

struct hostile {
	struct side *a, *b;
	int b_ended_want;
	size_t peak_in_use;
};

/* Heap in use, large (mmap'ed) blocks included. */
static size_t
heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static bool
hostile_done(void *arg)
{
	struct hostile *h = arg;
	size_t used = heap_in_use();

	if (used > h->peak_in_use)
		h->peak_in_use = used;
	return h->a->ended > 0 && h->b->ended >= h->b_ended_want;
}

/*
 * (5) A peer with the right key announcing more than FLEET_MSG_MAX:
 * refused in both directions; one announcing the maximum and sending
 * little costs little memory (the buffer grows with what arrives) until
 * the deadline ends it. Heap use is read from mallinfo2() (a sanitizer's
 * allocator does not report there: the check is then vacuous).
 */
static void
test_oversized_frame_refused(void)
{
	struct side a = { .name = "a" }, b = { .name = "b" };
	struct hostile h = { &a, &b, 1, 0 };
	struct fleet_net *na = NULL, *nb = NULL;
	sd_event *event = NULL;
	size_t base;
	int lfd, status;
	pid_t pid;

	CHECK(sd_event_new(&event) >= 0);
	lfd = listen_on(ADDR_HOSTILE);
	na = net_new(event, ADDR_A, KEY1, &a, TIMEOUT_MS);
	nb = net_new(event, ADDR_B, KEY1, &b, TIMEOUT_MS);
	CHECK(na != NULL && nb != NULL);
	if (na == NULL || nb == NULL)
		goto out;
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		hostile_child(lfd);
	CHECK(pid > 0);
	close(lfd);
	lfd = -1;
	base = heap_in_use();
	h.peak_in_use = base;

	CHECK(fleet_net_exchange(na, ADDR_HOSTILE, (const uint8_t *)"x", 1) ==
	    0);
	run_until(event, hostile_done, &h);
	CHECK(a.ended == 1);
	CHECK(a.outcome == FLEET_FAILED);
	CHECK_STR(a.err, "message too large");
	CHECK(a.received == 0);

	run_until(event, hostile_done, &h);
	CHECK(b.ended == 1);
	CHECK(b.outcome == FLEET_FAILED);
	CHECK_STR(b.err, "message too large");
	CHECK_STR(b.end_peer, IP_HOSTILE_SRC);

	h.b_ended_want = 2;
	run_until(event, hostile_done, &h);
	CHECK(b.ended == 2);
	CHECK(b.outcome == FLEET_FAILED);
	CHECK_STR(b.err, "timed out");
	CHECK(b.received == 0);
	/* Far below the 16 MiB announced. */
	CHECK(h.peak_in_use - base < 4u * 1024 * 1024);

	h.b_ended_want = 3;
	run_until(event, hostile_done, &h);
	CHECK(b.ended == 3);
	CHECK(b.outcome == FLEET_FAILED);
	CHECK_STR(b.err, "bad frame");

	h.b_ended_want = 4;
	run_until(event, hostile_done, &h);
	CHECK(b.ended == 4);
	CHECK(b.outcome == FLEET_FAILED);
	CHECK(strncmp(b.err, "TLS: ", 5) == 0);
	CHECK(b.received == 0);

	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
out:
	if (lfd >= 0)
		close(lfd);
	fleet_net_free(na);
	fleet_net_free(nb);
	sd_event_unref(event);
}

/*
 * (7) A listener whose accept queue is full drops the SYN: the connect
 * itself times out (unreachable, not a failed exchange).
 */
static void
test_connect_timeout(void)
{
	struct side a = { .name = "a" };
	struct sockaddr_storage ss;
	struct fleet_net *na;
	sd_event *event = NULL;
	int lfd, cfd[2] = { -1, -1 };
	size_t i;

	CHECK(sd_event_new(&event) >= 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || addrport_parse(ADDR_FULL, &ss) < 0 ||
	    bind(lfd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) <
	    0 || listen(lfd, 0) < 0)
		abort();
	/* Backlog 0 holds one connection; connect until one hangs. */
	for (i = 0; i < ARRAY_SIZE(cfd); i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (cfd[i] < 0)
			abort();
		(void)connect(cfd[i], (struct sockaddr *)&ss,
		    sizeof(struct sockaddr_in));
	}
	usleep(100 * 1000);
	na = net_new(event, ADDR_A, KEY1, &a, TIMEOUT_MS);
	CHECK(na != NULL);
	if (na == NULL)
		goto out;
	CHECK(fleet_net_exchange(na, ADDR_FULL, (const uint8_t *)"x", 1) ==
	    0);
	run_until(event, a_done, &a);
	CHECK(a.ended == 1);
	CHECK(a.outcome == FLEET_UNREACHABLE);
	CHECK_STR(a.err, "timed out connecting");
out:
	fleet_net_free(na);
	for (i = 0; i < ARRAY_SIZE(cfd); i++)
		if (cfd[i] >= 0)
			close(cfd[i]);
	close(lfd);
	sd_event_unref(event);
}

/* A connection that was closed by the server: EOF (or reset). */
static bool
closed_by_server(int fd)
{
	char c;
	ssize_t n = read(fd, &c, 1);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* A non-blocking TCP connection to ss from src (port 0). */
static int
connect_from(const char *src, const struct sockaddr_storage *ss)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);

	if (fd < 0 || inet_pton(AF_INET, src, &sin.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		abort();
	(void)connect(fd, (const struct sockaddr *)ss,
	    sizeof(struct sockaddr_in));
	return fd;
}

/* Run the loop until net has served n connections or none is due. */
static void
accept_until(sd_event *event, struct fleet_net *net, size_t n)
{
	int i;

	for (i = 0; i < 50 && fleet_net_active(net) < n; i++)
		(void)sd_event_run(event, 20 * 1000);
}

static bool
net_idle(void *arg)
{
	return fleet_net_active(arg) == 0;
}

/*
 * (8) Connections that have not proved the key: at most
 * FLEET_PREAUTH_PER_SOURCE from one address (a new one closes that
 * address's oldest); FLEET_CONN_MAX in all, a new one closing the oldest
 * of the address holding the most, so that a flood never keeps a peer out.
 */
static void
test_connection_limit(void)
{
	struct side b = { .name = "b" };
	struct sockaddr_storage ss;
	int one[FLEET_PREAUTH_PER_SOURCE + 2], many[FLEET_CONN_MAX + 1];
	sd_event *event = NULL;
	struct fleet_net *nb;
	char src[32];
	size_t i;

	CHECK(sd_event_new(&event) >= 0);
	nb = net_new(event, ADDR_B, KEY1, &b, 5 * TIMEOUT_MS);
	CHECK(nb != NULL);
	if (nb == NULL || addrport_parse(ADDR_B, &ss) < 0)
		goto out;
	/* One address: its oldest go as new ones come. */
	for (i = 0; i < ARRAY_SIZE(one); i++) {
		one[i] = connect_from("127.0.32.1", &ss);
		accept_until(event, nb, i + 1);
	}
	CHECK(fleet_net_active(nb) == FLEET_PREAUTH_PER_SOURCE);
	CHECK(closed_by_server(one[0]) && closed_by_server(one[1]));
	CHECK(!closed_by_server(one[ARRAY_SIZE(one) - 1]));
	for (i = 0; i < ARRAY_SIZE(one); i++)
		close(one[i]);
	run_until(event, net_idle, nb);
	/* Many addresses, one each: the limit in all, the oldest gone. */
	for (i = 0; i < ARRAY_SIZE(many); i++) {
		snprintf(src, sizeof(src), "127.0.33.%zu", i + 1);
		many[i] = connect_from(src, &ss);
		accept_until(event, nb, i + 1);
	}
	CHECK(fleet_net_active(nb) == FLEET_CONN_MAX);
	CHECK(closed_by_server(many[0]));
	CHECK(!closed_by_server(many[ARRAY_SIZE(many) - 1]));
	for (i = 0; i < ARRAY_SIZE(many); i++)
		close(many[i]);
	run_until(event, net_idle, nb);
	CHECK(fleet_net_active(nb) == 0);
	CHECK(b.received == 0);
out:
	fleet_net_free(nb);
	sd_event_unref(event);
}

static size_t
count_lines(const char *path, const char *needle)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

/*
 * (9) Refused peers are logged "fleet: refused ADDR: authentication
 * failed (wrong --fleet-key?)", at most 10 lines a minute; each refusal
 * still reaches ended().
 */
static void
test_auth_log_rate_limited(void)
{
	struct side a = { .name = "a" }, b = { .name = "b" };
	struct pair p = { &a, &b, NULL, NULL };
	sd_event *event = NULL;
	char logpath[128];
	int i, ended_b = 0;

	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	CHECK(log_init("test_fleet_net", logpath, false) == 0);
	CHECK(sd_event_new(&event) >= 0);
	p.na = net_new(event, ADDR_A, KEY1, &a, TIMEOUT_MS);
	p.nb = net_new(event, ADDR_B, KEY2, &b, TIMEOUT_MS);
	CHECK(p.na != NULL && p.nb != NULL);
	if (p.na == NULL || p.nb == NULL)
		goto out;
	for (i = 0; i < 12; i++) {
		a.ended = b.ended = 0;
		CHECK(fleet_net_exchange(p.na, ADDR_B,
		    (const uint8_t *)"offer", 5) == 0);
		run_until(event, pair_done, &p);
		CHECK(b.outcome == FLEET_AUTH_FAILED);
		ended_b += b.ended;
	}
	CHECK(ended_b == 12);
	CHECK(count_lines(logpath, "fleet: refused 127.0.31.1: "
	    "authentication failed (wrong --fleet-key?)") == 10);
	CHECK(count_lines(logpath, "fleet:") == 10);
out:
	fleet_net_free(p.na);
	fleet_net_free(p.nb);
	sd_event_unref(event);
	log_close();
	unlink(logpath);
	(void)log_init("test_fleet_net", NULL, false);
}

/* (6) Key files: only a private regular file of the right size. */
static void
test_key_file_checks(void)
{
	uint8_t key[FLEET_KEY_MAX];
	char path[128], link[140], err[512], big[FLEET_KEY_MAX + 1];
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/fleet.key", dir);
	snprintf(link, sizeof(link), "%s/fleet.link", dir);

	key_file(path, KEY1, strlen(KEY1), 0600);
	CHECK(fleet_key_load(path, key, sizeof(key), &len, err,
	    sizeof(err)) == 0);
	CHECK(len == strlen(KEY1) && memcmp(key, KEY1, len) == 0);

	key_file(path, KEY1, strlen(KEY1), 0644);
	CHECK(fleet_key_load(path, key, sizeof(key), &len, err,
	    sizeof(err)) < 0);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, "must be mode 0600") != NULL);

	key_file(path, KEY1, 31, 0600);
	CHECK(fleet_key_load(path, key, sizeof(key), &len, err,
	    sizeof(err)) < 0);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, "31 bytes") != NULL);

	memset(big, 'k', sizeof(big));
	key_file(path, big, sizeof(big), 0600);
	CHECK(fleet_key_load(path, key, sizeof(key), &len, err,
	    sizeof(err)) < 0);
	CHECK(strstr(err, "4097 bytes") != NULL);

	key_file(path, KEY1, strlen(KEY1), 0600);
	unlink(link);
	CHECK(symlink(path, link) == 0);
	CHECK(fleet_key_load(link, key, sizeof(key), &len, err,
	    sizeof(err)) < 0);
	CHECK(strstr(err, link) != NULL);
	CHECK(strstr(err, "symbolic link") != NULL);

	CHECK(fleet_key_load(dir, key, sizeof(key), &len, err,
	    sizeof(err)) < 0);
	CHECK(strstr(err, "not a regular file") != NULL);

	unlink(link);
	unlink(path);
	CHECK(fleet_key_load(path, key, sizeof(key), &len, err,
	    sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "No such file") != NULL);
}

int
main(void)
{
	/* As poolmond does (main.c): a peer gone mid-write is EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/test_fleet_net.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	RUN(test_exchange_same_key);
	RUN(test_exchange_wrong_key);
	RUN(test_silent_peer_times_out);
	RUN(test_nobody_listening);
	RUN(test_oversized_frame_refused);
	RUN(test_key_file_checks);
	RUN(test_connect_timeout);
	RUN(test_connection_limit);
	RUN(test_auth_log_rate_limited);
	rmdir(dir);
	return UNIT_EXIT();
}
