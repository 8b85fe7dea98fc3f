/*
 * The fleet's transport: TLS 1.3 with an external pre-shared key over
 * non-blocking TCP on the event loop. The PSK is HKDF-SHA256 of the key
 * file's bytes; no certificates: a monitor without the key fails the
 * handshake before any message (psk_dhe_ke, so forward secrecy too).
 * One exchange is one connection: one frame out, one frame back, close.
 * poolmond ignores SIGPIPE (main.c): a peer gone mid-write is an error
 * returned by SSL_write, not a signal.
 */
#include "fleet_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "config.h"
#include "log.h"
#include "util.h"

#define PSK_LEN			32
#define PSK_INFO		"poolmon fleet v1"
#define PSK_IDENTITY		"poolmon-fleet-v1"
#define PSK_CIPHERSUITE		"TLS_AES_128_GCM_SHA256"
#define FRAME_HDR		4
/* A message's buffer starts at this and doubles up to the announced
 * length as bytes arrive: announcing 16 MiB costs nothing until sent. */
#define RECV_CHUNK		(64 * 1024)
#define AUTH_LOG_BURST		10
#define AUTH_LOG_INTERVAL_MS	60000
/* Out of descriptors: the listener rests this long instead of spinning. */
#define ACCEPT_PAUSE_US		(1000 * 1000)
#define PEER_TEXT_MAX		(INET6_ADDRSTRLEN + 8)

static const char ERR_AUTH[] = "authentication failed";

enum conn_state {
	CONN_CONNECTING,	/* outgoing: TCP connect in progress */
	CONN_HANDSHAKE,
	CONN_SENDING,		/* our frame */
	CONN_HEADER,		/* the peer's frame length */
	CONN_BODY,		/* the peer's frame */
};

struct fleet_conn {
	TAILQ_ENTRY(fleet_conn) link;
	struct fleet_net *net;
	bool outgoing;
	uint64_t serial;		/* accept order: the oldest is lowest */
	enum conn_state state;
	/* outgoing: as given to fleet_net_exchange(); incoming: the address */
	char peer[PEER_TEXT_MAX];
	char key[PEER_TEXT_MAX];	/* outgoing: canonical ADDR:PORT */
	int fd;
	int connect_err;		/* connect() failed at once */
	SSL *ssl;
	bool tls_up;			/* handshake done: close_notify due */
	sd_event_source *io, *timer;
	uint8_t *out;			/* our frame, header included */
	size_t outlen, outoff;
	uint8_t hdr[FRAME_HDR];
	size_t hdroff;
	uint8_t *in;			/* the peer's payload */
	size_t inlen, incap, inoff;
};

TAILQ_HEAD(fleet_conn_list, fleet_conn);

struct fleet_net {
	sd_event *event;
	struct sockaddr_storage addr;	/* listen address; source of connects */
	SSL_CTX *ctx;
	uint8_t psk[PSK_LEN];
	int timeout_ms;
	struct fleet_net_hooks hooks;
	int listen_fd;
	sd_event_source *listen_src, *pause_src;
	struct fleet_conn_list conns;
	size_t nincoming;
	uint64_t accepted;
	struct ratelimit auth_log;
	struct ratelimit accept_log;
	struct fleet_net *next_alive;	/* wiped in forked processes */
};

/*
 * Every transport of this process, for the fork handler: a check process
 * or a hook forked from the daemon must not hold the key. fork() handlers
 * take no argument, hence a list of our own.
 */
static struct fleet_net *alive_nets;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

/*
 * In the child of a fork: the key and every connection's TLS state
 * (SSL_free cleanses its secrets) gone before the child runs any code of
 * its own. Nothing is sent: the sockets stay the parent's.
 */
static void
wipe_in_child(void)
{
	struct fleet_net *net;
	struct fleet_conn *c;

	for (net = alive_nets; net != NULL; net = net->next_alive) {
		explicit_bzero(net->psk, sizeof(net->psk));
		TAILQ_FOREACH(c, &net->conns, link) {
			SSL_free(c->ssl);
			c->ssl = NULL;
		}
		SSL_CTX_free(net->ctx);
		net->ctx = NULL;
	}
	alive_nets = NULL;
}

static void
install_fork_handler(void)
{
	if (pthread_atfork(NULL, NULL, wipe_in_child) != 0)
		fatalx("fleet: cannot install the fork handler that keeps the "
		    "key out of check processes");
}

static void
alive_add(struct fleet_net *net)
{
	(void)pthread_once(&fork_handler_once, install_fork_handler);
	net->next_alive = alive_nets;
	alive_nets = net;
}

static void
alive_remove(struct fleet_net *net)
{
	struct fleet_net **pp;

	for (pp = &alive_nets; *pp != NULL; pp = &(*pp)->next_alive)
		if (*pp == net) {
			*pp = net->next_alive;
			break;
		}
}

/* ------------------------------------------------------------------ */
/* The key file */

#define KEY_BAD_MODE	(S_IRGRP | S_IWGRP | S_IXGRP | S_IROTH | S_IWOTH | \
			 S_IXOTH)

/* Checks of the open file: what we check is what we read. */
static int
key_check_stat(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_set(err, errlen, -errno, "fleet key file %s: %s",
		    path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, errlen, -EINVAL, "fleet key file %s: not "
		    "a regular file", path);
	/* Anyone else who owns it may chmod it, or rewrite it. */
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return err_set(err, errlen, -EPERM, "fleet key file %s: owned "
		    "by uid %lu, neither root nor poolmond's user (uid %lu)",
		    path, (unsigned long)st.st_uid, (unsigned long)geteuid());
	if (st.st_mode & KEY_BAD_MODE)
		return err_set(err, errlen, -EPERM, "fleet key file %s: mode "
		    "%04o lets group or others at it; must be mode 0600", path,
		    (unsigned int)(st.st_mode & 07777));
	if (st.st_size < FLEET_KEY_MIN || st.st_size > FLEET_KEY_MAX)
		return err_set(err, errlen, -EINVAL, "fleet key file %s: %lld "
		    "bytes; must be %d to %d", path, (long long)st.st_size,
		    FLEET_KEY_MIN, FLEET_KEY_MAX);
	return 0;
}

int
fleet_key_load(const char *path, uint8_t *key, size_t keymax,
    size_t *keylen, char *err, size_t errlen)
{
	size_t total = 0, room = keymax < FLEET_KEY_MAX ? keymax : FLEET_KEY_MAX;
	ssize_t n = 0;
	char extra;
	int fd, r;

	/*
	 * No symlink: whoever may change one could point it at a file of
	 * their own. Non-blocking, so a FIFO cannot hang us (it is then
	 * refused as not a regular file).
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW |
	    O_NONBLOCK);
	if (fd < 0 && errno == ELOOP)
		return err_set(err, errlen, -ELOOP, "fleet key file %s: is a "
		    "symbolic link; give the file itself", path);
	if (fd < 0)
		return err_set(err, errlen, -errno, "fleet key file %s: %s",
		    path, strerror(errno));
	r = key_check_stat(fd, path, err, errlen);
	while (r == 0 && total < room) {
		n = read(fd, key + total, room - total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = err_set(err, errlen, -errno, "fleet key file %s: "
			    "%s", path, strerror(errno));
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	/* Grown since fstat() past what there is room for. */
	if (r == 0 && total == room && read(fd, &extra, 1) > 0)
		r = err_set(err, errlen, -EFBIG, "fleet key file %s: larger "
		    "than %zu bytes", path, room);
	close(fd);
	if (r == 0 && total < FLEET_KEY_MIN)
		r = err_set(err, errlen, -EINVAL, "fleet key file %s: %zu "
		    "bytes; must be %d to %d", path, total, FLEET_KEY_MIN,
		    FLEET_KEY_MAX);
	if (r < 0) {
		explicit_bzero(key, keymax);
		return r;
	}
	*keylen = total;
	return 0;
}

/* ------------------------------------------------------------------ */
/* TLS with the PSK */

static int
derive_psk(const uint8_t *key, size_t keylen, uint8_t *psk)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	int r = -EIO;

	if (kctx != NULL) {
		params[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
		params[1] = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_KEY, (void *)key, keylen);
		params[2] = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_INFO, (void *)PSK_INFO, strlen(PSK_INFO));
		params[3] = OSSL_PARAM_construct_end();
		if (EVP_KDF_derive(kctx, psk, PSK_LEN, params) == 1)
			r = 0;
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return r;
}

/* The PSK as the session TLS 1.3 resumes: the same on both sides. */
static SSL_SESSION *
psk_session(SSL *ssl)
{
	static const unsigned char suite[2] = { 0x13, 0x01 };
	struct fleet_net *net = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, suite);
	SSL_SESSION *sess;

	if (net == NULL || cipher == NULL)
		return NULL;
	sess = SSL_SESSION_new();
	if (sess == NULL)
		return NULL;
	if (SSL_SESSION_set1_master_key(sess, net->psk, PSK_LEN) != 1 ||
	    SSL_SESSION_set_cipher(sess, cipher) != 1 ||
	    SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION) != 1) {
		SSL_SESSION_free(sess);
		return NULL;
	}
	return sess;
}

static int
psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
    size_t *idlen, SSL_SESSION **sess)
{
	/* Asked again after a HelloRetryRequest: only a SHA-256 suite fits
	 * our session; the one suite we offer is one. */
	if (md != NULL && EVP_MD_get_type(md) != NID_sha256) {
		*sess = NULL;
		return 1;
	}
	*sess = psk_session(ssl);
	if (*sess == NULL)
		return 0;
	*id = (const unsigned char *)PSK_IDENTITY;
	*idlen = strlen(PSK_IDENTITY);
	return 1;
}

static int
psk_find_cb(SSL *ssl, const unsigned char *identity, size_t identity_len,
    SSL_SESSION **sess)
{
	/* Another identity: no PSK, and without a certificate the
	 * handshake fails. */
	if (identity_len != strlen(PSK_IDENTITY) ||
	    memcmp(identity, PSK_IDENTITY, identity_len) != 0) {
		*sess = NULL;
		return 1;
	}
	*sess = psk_session(ssl);
	return *sess != NULL;
}

static int
refuse_certificate(int preverify_ok, X509_STORE_CTX *x509)
{
	(void)preverify_ok;
	(void)x509;
	return 0;
}

static SSL_CTX *
tls_ctx_new(struct fleet_net *net)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, PSK_CIPHERSUITE) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* One exchange a connection: nothing to resume later. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	/* The key is the one credential: a peer that answers with a
	 * certificate instead (no PSK) is refused whatever it shows. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, refuse_certificate);
	SSL_CTX_set_psk_use_session_callback(ctx, psk_use_cb);
	SSL_CTX_set_psk_find_session_callback(ctx, psk_find_cb);
	SSL_CTX_set_app_data(ctx, net);
	return ctx;
}

/*
 * A handshake failure that means the peer lacks our key: its binder did
 * not verify, it refused ours, it knows no such identity, or nothing
 * both sides hold was left to agree on. OpenSSL 3.0 refuses a binder
 * with an illegal_parameter alert (RFC 8446 and later OpenSSL say
 * decrypt_error): the one alert of ours it sends to a well-formed hello.
 */
static bool
tls_auth_failure(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return false;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_BINDER_DOES_NOT_VERIFY:
	case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
	case SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER:
	case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
	case SSL_R_SSLV3_ALERT_BAD_RECORD_MAC:
	case SSL_R_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY:
	case SSL_R_PSK_IDENTITY_NOT_FOUND:
	case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	/* It showed a certificate instead of the key: refused. */
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------------ */
/* Connections */

static void
conn_free(struct fleet_conn *c)
{
	if (c->ssl != NULL) {
		/* Best effort: a close_notify without waiting for the peer.
		 * Not after a fatal error: OpenSSL has sent its alert. */
		if (c->tls_up)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	free(c->in);
	ERR_clear_error();
	free(c);
}

static void
conn_unlink(struct fleet_conn *c)
{
	TAILQ_REMOVE(&c->net->conns, c, link);
	if (!c->outgoing)
		c->net->nincoming--;
}

static void
log_auth_refused(struct fleet_net *net, const char *addr)
{
	unsigned int suppressed;

	if (!ratelimit_allow(&net->auth_log, now_ms(), &suppressed))
		return;
	log_warnx("fleet: refused %s: authentication failed (wrong "
	    "--fleet-key?)", addr);
}

/*
 * The end of a connection: closed and freed before ended() is called, so
 * the hook may start another exchange (with this peer too).
 */
static void
conn_end(struct fleet_conn *c, enum fleet_outcome outcome, const char *err)
{
	struct fleet_net *net = c->net;
	char peer[PEER_TEXT_MAX];
	bool outgoing = c->outgoing;

	str_copy(peer, c->peer, sizeof(peer));
	conn_unlink(c);
	conn_free(c);
	if (!outgoing && outcome == FLEET_AUTH_FAILED)
		log_auth_refused(net, peer);
	if (net->hooks.ended != NULL)
		net->hooks.ended(net->hooks.arg, peer, outgoing, outcome,
		    outcome == FLEET_OK ? "" : err);
}

static int
conn_wait(struct fleet_conn *c, uint32_t events)
{
	int r = sd_event_source_set_io_events(c->io, events);

	if (r < 0) {
		conn_end(c, FLEET_FAILED, strerror(-r));
		return -1;
	}
	return 1;
}

/*
 * After a TLS operation returned r <= 0: 1 when it must wait (the io
 * source then waits for what it needs), -1 when the connection ended.
 */
static int
conn_tls_error(struct fleet_conn *c, int r, bool handshake)
{
	int saved = errno;
	unsigned long e, code = 0;
	bool auth = false;
	char reason[96];

	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return conn_wait(c, EPOLLIN);
	case SSL_ERROR_WANT_WRITE:
		return conn_wait(c, EPOLLOUT);
	case SSL_ERROR_ZERO_RETURN:
		conn_end(c, FLEET_FAILED, "closed early");
		return -1;
	case SSL_ERROR_SYSCALL:
		/* Fatal: no close_notify after it. */
		c->tls_up = false;
		if (saved != 0 && ERR_peek_error() == 0) {
			conn_end(c, FLEET_FAILED, strerror(saved));
			return -1;
		}
		conn_end(c, FLEET_FAILED, "closed early");
		return -1;
	case SSL_ERROR_SSL:
		c->tls_up = false;
		/* Any error of the queue may say the key is wrong; the last
		 * is the most precise for the reason. */
		while ((e = ERR_get_error()) != 0) {
			auth |= handshake && tls_auth_failure(e);
			code = e;
		}
		if (auth) {
			conn_end(c, FLEET_AUTH_FAILED, ERR_AUTH);
			return -1;
		}
		if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			conn_end(c, FLEET_FAILED, "closed early");
			return -1;
		}
		snprintf(reason, sizeof(reason), "TLS: %s",
		    ERR_reason_error_string(code) != NULL ?
		    ERR_reason_error_string(code) : "error");
		conn_end(c, FLEET_FAILED, reason);
		return -1;
	default:
		conn_end(c, FLEET_FAILED, "TLS: error");
		return -1;
	}
}

static void
tls_clear(void)
{
	/* SSL_get_error() reads the thread's error queue and errno. */
	ERR_clear_error();
	errno = 0;
}

/* 0: connected, on to the handshake; -1: ended. */
static int
conn_connected(struct fleet_conn *c)
{
	socklen_t len = sizeof(int);
	int err = c->connect_err;

	if (err == 0 && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
	    &len) < 0)
		err = errno;
	if (err == ECONNREFUSED) {
		conn_end(c, FLEET_UNREACHABLE, "connection refused");
		return -1;
	}
	if (err != 0) {
		conn_end(c, FLEET_UNREACHABLE, strerror(err));
		return -1;
	}
	c->state = CONN_HANDSHAKE;
	return 0;
}

/* The outcome of a whole exchange: the peer's message to the hooks. */
static void
conn_deliver(struct fleet_conn *c)
{
	struct fleet_net *net = c->net;
	char peer[PEER_TEXT_MAX];
	uint8_t *msg = c->in;
	size_t len = c->inlen;

	/* Freed before the hooks run: they may start an exchange with this
	 * peer, which would cancel this one. */
	str_copy(peer, c->peer, sizeof(peer));
	c->in = NULL;
	conn_unlink(c);
	conn_free(c);
	if (net->hooks.received != NULL)
		net->hooks.received(net->hooks.arg, peer, true, msg, len);
	free(msg);
	if (net->hooks.ended != NULL)
		net->hooks.ended(net->hooks.arg, peer, true, FLEET_OK, "");
}

/* An incoming message: the hooks' answer becomes our frame. 0 or -1. */
static int
conn_answer(struct fleet_conn *c)
{
	struct fleet_net *net = c->net;
	uint8_t *reply = NULL, *frame;
	size_t rlen = 0;
	int r;

	if (net->hooks.received != NULL)
		net->hooks.received(net->hooks.arg, c->peer, false, c->in,
		    c->inlen);
	free(c->in);
	c->in = NULL;
	r = net->hooks.answer != NULL ? net->hooks.answer(net->hooks.arg,
	    &reply, &rlen) : -ENOTSUP;
	if (r < 0 || rlen == 0) {
		free(reply);
		conn_end(c, FLEET_FAILED, "no answer");
		return -1;
	}
	if (rlen > FLEET_MSG_MAX) {
		free(reply);
		conn_end(c, FLEET_FAILED, "answer too large");
		return -1;
	}
	frame = malloc(FRAME_HDR + rlen);
	if (frame == NULL) {
		free(reply);
		conn_end(c, FLEET_FAILED, strerror(ENOMEM));
		return -1;
	}
	frame[0] = (uint8_t)(rlen >> 24);
	frame[1] = (uint8_t)(rlen >> 16);
	frame[2] = (uint8_t)(rlen >> 8);
	frame[3] = (uint8_t)rlen;
	memcpy(frame + FRAME_HDR, reply, rlen);
	explicit_bzero(reply, rlen);
	free(reply);
	c->out = frame;
	c->outlen = FRAME_HDR + rlen;
	c->outoff = 0;
	c->state = CONN_SENDING;
	return 0;
}

/* The frame header is in: check the length, make room. 0 or -1. */
static int
conn_header_done(struct fleet_conn *c)
{
	uint32_t len = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
	    (uint32_t)c->hdr[2] << 8 | c->hdr[3];

	if (len == 0) {
		conn_end(c, FLEET_FAILED, "bad frame");
		return -1;
	}
	if (len > FLEET_MSG_MAX) {
		conn_end(c, FLEET_FAILED, "message too large");
		return -1;
	}
	c->inlen = len;
	c->incap = len < RECV_CHUNK ? len : RECV_CHUNK;
	c->inoff = 0;
	c->in = malloc(c->incap);
	if (c->in == NULL) {
		conn_end(c, FLEET_FAILED, strerror(ENOMEM));
		return -1;
	}
	c->state = CONN_BODY;
	return 0;
}

/* Room for more of the payload, never past its announced length. */
static int
conn_grow(struct fleet_conn *c)
{
	size_t cap = c->incap * 2;
	uint8_t *p;

	if (cap > c->inlen)
		cap = c->inlen;
	p = realloc(c->in, cap);
	if (p == NULL) {
		conn_end(c, FLEET_FAILED, strerror(ENOMEM));
		return -1;
	}
	c->in = p;
	c->incap = cap;
	return 0;
}

/*
 * One step of the connection's state machine: 0 to take the next step
 * at once, 1 to wait for the socket, -1 when the connection ended (c is
 * gone).
 */
static int
conn_step(struct fleet_conn *c)
{
	int r;

	switch (c->state) {
	case CONN_CONNECTING:
		return conn_connected(c);
	case CONN_HANDSHAKE:
		tls_clear();
		r = SSL_do_handshake(c->ssl);
		if (r != 1)
			return conn_tls_error(c, r, true);
		c->tls_up = true;
		/* Both ends used the key, or nothing is sent or read. */
		if (!SSL_session_reused(c->ssl)) {
			conn_end(c, FLEET_AUTH_FAILED, ERR_AUTH);
			return -1;
		}
		c->state = c->outgoing ? CONN_SENDING : CONN_HEADER;
		return 0;
	case CONN_SENDING:
		tls_clear();
		r = SSL_write(c->ssl, c->out + c->outoff,
		    (int)(c->outlen - c->outoff));
		if (r <= 0)
			return conn_tls_error(c, r, false);
		c->outoff += (size_t)r;
		if (c->outoff < c->outlen)
			return 0;
		if (!c->outgoing) {
			conn_end(c, FLEET_OK, "");
			return -1;
		}
		c->state = CONN_HEADER;
		return 0;
	case CONN_HEADER:
		tls_clear();
		r = SSL_read(c->ssl, c->hdr + c->hdroff,
		    (int)(FRAME_HDR - c->hdroff));
		if (r <= 0)
			return conn_tls_error(c, r, false);
		c->hdroff += (size_t)r;
		if (c->hdroff < FRAME_HDR)
			return 0;
		return conn_header_done(c);
	case CONN_BODY:
		if (c->inoff == c->incap && conn_grow(c) < 0)
			return -1;
		tls_clear();
		r = SSL_read(c->ssl, c->in + c->inoff,
		    (int)(c->incap - c->inoff));
		if (r <= 0)
			return conn_tls_error(c, r, false);
		c->inoff += (size_t)r;
		if (c->inoff < c->inlen)
			return 0;
		if (c->outgoing) {
			conn_deliver(c);
			return -1;
		}
		return conn_answer(c);
	}
	return 0;
}

static int
on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct fleet_conn *c = arg;

	(void)s;
	(void)fd;
	(void)revents;
	while (conn_step(c) == 0)
		;
	return 0;
}

static int
on_conn_timeout(sd_event_source *s, uint64_t usec, void *arg)
{
	struct fleet_conn *c = arg;

	(void)s;
	(void)usec;
	if (c->state == CONN_CONNECTING)
		conn_end(c, FLEET_UNREACHABLE, "timed out connecting");
	else
		conn_end(c, FLEET_FAILED, "timed out");
	return 0;
}

/* A connection over fd (non-blocking), under the net's deadline. */
static struct fleet_conn *
conn_new(struct fleet_net *net, int fd, bool outgoing, uint32_t events)
{
	struct fleet_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->net = net;
	c->fd = fd;
	c->outgoing = outgoing;
	c->ssl = SSL_new(net->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1 ||
	    sd_event_add_io(net->event, &c->io, fd, events, on_conn_io,
	    c) < 0 ||
	    sd_event_add_time_relative(net->event, &c->timer,
	    CLOCK_MONOTONIC, (uint64_t)net->timeout_ms * 1000, 0,
	    on_conn_timeout, c) < 0) {
		conn_free(c);
		return NULL;
	}
	if (outgoing)
		SSL_set_connect_state(c->ssl);
	else {
		SSL_set_accept_state(c->ssl);
		/* No certificate here to show, and none asked of the
		 * client: without the key its handshake fails. */
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	}
	TAILQ_INSERT_TAIL(&net->conns, c, link);
	if (!outgoing)
		net->nincoming++;
	return c;
}

/* ------------------------------------------------------------------ */
/* The listener */

/* An incoming connection that has not proved the key yet. */
static bool
preauth(const struct fleet_conn *c)
{
	return !c->outgoing && c->state == CONN_HANDSHAKE;
}

/* The oldest connection from ip that has not proved the key; how many. */
static struct fleet_conn *
oldest_preauth(struct fleet_net *net, const char *ip, size_t *n)
{
	struct fleet_conn *c, *oldest = NULL;

	*n = 0;
	TAILQ_FOREACH(c, &net->conns, link) {
		if (!preauth(c) || strcmp(c->peer, ip) != 0)
			continue;
		(*n)++;
		if (oldest == NULL || c->serial < oldest->serial)
			oldest = c;
	}
	return oldest;
}

/*
 * Room for one more when every slot is taken: the oldest keyless
 * connection of the address that holds the most, a peer's address last.
 */
static struct fleet_conn *
eviction_victim(struct fleet_net *net)
{
	struct fleet_conn *c, *best = NULL, *old;
	size_t n, most = 0;
	bool best_peer = true, peer;

	TAILQ_FOREACH(c, &net->conns, link) {
		if (!preauth(c))
			continue;
		old = oldest_preauth(net, c->peer, &n);
		peer = net->hooks.is_peer != NULL &&
		    net->hooks.is_peer(net->hooks.arg, c->peer);
		if (best == NULL || (best_peer && !peer) ||
		    (best_peer == peer && n > most)) {
			best = old;
			most = n;
			best_peer = peer;
		}
	}
	return best;
}

static void
accept_one(struct fleet_net *net, int fd, const struct sockaddr_storage *ss)
{
	struct fleet_conn *c, *victim;
	const void *ip = ss->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	char from[PEER_TEXT_MAX];
	size_t n;

	if (inet_ntop(ss->ss_family, ip, from, sizeof(from)) == NULL)
		str_copy(from, "?", sizeof(from));
	/* A flood from one address costs that address its slots. */
	victim = oldest_preauth(net, from, &n);
	if (n < FLEET_PREAUTH_PER_SOURCE)
		victim = NULL;
	if (victim == NULL && net->nincoming >= FLEET_CONN_MAX)
		victim = eviction_victim(net);
	if (victim != NULL)
		conn_end(victim, FLEET_FAILED, "superseded before it proved "
		    "the key");
	if (net->nincoming >= FLEET_CONN_MAX) {
		close(fd);
		return;
	}
	c = conn_new(net, fd, false, EPOLLIN);
	if (c == NULL)
		return;
	c->state = CONN_HANDSHAKE;
	c->serial = ++net->accepted;
	str_copy(c->peer, from, sizeof(c->peer));
}

static int
on_accept_resume(sd_event_source *s, uint64_t usec, void *arg)
{
	struct fleet_net *net = arg;

	(void)s;
	(void)usec;
	net->pause_src = sd_event_source_disable_unref(net->pause_src);
	sd_event_source_set_enabled(net->listen_src, SD_EVENT_ON);
	return 0;
}

/* Out of descriptors or memory: rest rather than spin on the listener. */
static void
accept_pause(struct fleet_net *net)
{
	unsigned int suppressed;

	if (ratelimit_allow(&net->accept_log, now_ms(), &suppressed))
		log_warn("fleet: accept");
	if (net->pause_src != NULL)
		return;
	sd_event_source_set_enabled(net->listen_src, SD_EVENT_OFF);
	if (sd_event_add_time_relative(net->event, &net->pause_src,
	    CLOCK_MONOTONIC, ACCEPT_PAUSE_US, 0, on_accept_resume, net) < 0)
		sd_event_source_set_enabled(net->listen_src, SD_EVENT_ON);
}

static int
on_accept(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct fleet_net *net = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	int cfd;

	(void)s;
	(void)revents;
	for (;;) {
		len = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			accept_one(net, cfd, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			accept_pause(net);
		return 0;
	}
}

static socklen_t
sockaddr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

static int
listen_open(struct fleet_net *net, char *err, size_t errlen)
{
	char where[PEER_TEXT_MAX];
	int one = 1, r;

	if (addrport_format(&net->addr, where, sizeof(where)) < 0)
		str_copy(where, "?", sizeof(where));
	net->listen_fd = socket(net->addr.ss_family, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (net->listen_fd < 0)
		return err_set(err, errlen, -errno, "fleet: cannot listen on "
		    "%s: %s", where, strerror(errno));
	if (setsockopt(net->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) < 0 ||
	    bind(net->listen_fd, (const struct sockaddr *)&net->addr,
	    sockaddr_len(&net->addr)) < 0 ||
	    listen(net->listen_fd, FLEET_CONN_MAX) < 0)
		return err_set(err, errlen, -errno, "fleet: cannot listen on "
		    "%s: %s", where, strerror(errno));
	r = sd_event_add_io(net->event, &net->listen_src, net->listen_fd,
	    EPOLLIN, on_accept, net);
	if (r < 0)
		return err_set(err, errlen, r, "fleet: cannot listen on %s: %s",
		    where, strerror(-r));
	return 0;
}

/* ------------------------------------------------------------------ */
/* The module */

int
fleet_net_new(sd_event *event, const struct sockaddr_storage *addr,
    const uint8_t *key, size_t keylen, int timeout_ms,
    const struct fleet_net_hooks *hooks, struct fleet_net **out,
    char *err, size_t errlen)
{
	struct fleet_net *net;
	int r;

	*out = NULL;
	if (addr->ss_family != AF_INET && addr->ss_family != AF_INET6)
		return err_set(err, errlen, -EAFNOSUPPORT, "fleet: listen "
		    "address is neither IPv4 nor IPv6");
	if (keylen < FLEET_KEY_MIN || timeout_ms <= 0)
		return err_set(err, errlen, -EINVAL, "fleet: key shorter "
		    "than %d bytes, or no timeout", FLEET_KEY_MIN);
	net = calloc(1, sizeof(*net));
	if (net == NULL)
		return err_set(err, errlen, -ENOMEM, "fleet: out of memory");
	net->event = sd_event_ref(event);
	net->addr = *addr;
	net->timeout_ms = timeout_ms;
	net->hooks = *hooks;
	net->listen_fd = -1;
	net->auth_log.interval_ms = AUTH_LOG_INTERVAL_MS;
	net->auth_log.burst = AUTH_LOG_BURST;
	net->accept_log.interval_ms = AUTH_LOG_INTERVAL_MS;
	net->accept_log.burst = AUTH_LOG_BURST;
	TAILQ_INIT(&net->conns);
	if (derive_psk(key, keylen, net->psk) < 0) {
		fleet_net_free(net);
		ERR_clear_error();
		return err_set(err, errlen, -EIO, "fleet: cannot derive the "
		    "key (HKDF-SHA256)");
	}
	net->ctx = tls_ctx_new(net);
	if (net->ctx == NULL) {
		fleet_net_free(net);
		ERR_clear_error();
		return err_set(err, errlen, -EIO, "fleet: cannot set up TLS "
		    "1.3 with a pre-shared key");
	}
	r = listen_open(net, err, errlen);
	if (r < 0) {
		fleet_net_free(net);
		return r;
	}
	alive_add(net);
	*out = net;
	return 0;
}

void
fleet_net_free(struct fleet_net *net)
{
	struct fleet_conn *c;

	if (net == NULL)
		return;
	alive_remove(net);
	while ((c = TAILQ_FIRST(&net->conns)) != NULL) {
		conn_unlink(c);
		conn_free(c);
	}
	sd_event_source_disable_unref(net->listen_src);
	sd_event_source_disable_unref(net->pause_src);
	if (net->listen_fd >= 0)
		close(net->listen_fd);
	SSL_CTX_free(net->ctx);
	sd_event_unref(net->event);
	explicit_bzero(net->psk, sizeof(net->psk));
	free(net);
}

static struct fleet_conn *
find_exchange(struct fleet_net *net, const char *key)
{
	struct fleet_conn *c;

	TAILQ_FOREACH(c, &net->conns, link)
		if (c->outgoing && strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

/* A socket from our fleet address (port 0), connecting to ss. -errno. */
static int
connect_from_self(struct fleet_net *net, const struct sockaddr_storage *ss,
    int *connect_err)
{
	struct sockaddr_storage src = net->addr;
	int fd;

	if (src.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&src)->sin6_port = 0;
	else
		((struct sockaddr_in *)&src)->sin_port = 0;
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&src, sockaddr_len(&src)) < 0) {
		int saved = errno;

		close(fd);
		return -saved;
	}
	*connect_err = 0;
	if (connect(fd, (const struct sockaddr *)ss, sockaddr_len(ss)) < 0 &&
	    errno != EINPROGRESS)
		/* Said through ended(), from the loop, like a late refusal. */
		*connect_err = errno;
	return fd;
}

int
fleet_net_exchange(struct fleet_net *net, const char *peer,
    const uint8_t *msg, size_t len)
{
	struct sockaddr_storage ss;
	struct fleet_conn *c, *old;
	char key[PEER_TEXT_MAX];
	int fd, connect_err = 0;

	if (len == 0 || len > FLEET_MSG_MAX)
		return -EMSGSIZE;
	if (strlen(peer) >= PEER_TEXT_MAX ||
	    fleet_addr_parse(peer, DEFAULT_FLEET_PORT, &ss) < 0 ||
	    addrport_format(&ss, key, sizeof(key)) < 0)
		return -EINVAL;
	if (ss.ss_family != net->addr.ss_family)
		return -EAFNOSUPPORT;
	old = find_exchange(net, key);
	if (old != NULL)
		conn_end(old, FLEET_FAILED, "superseded");
	fd = connect_from_self(net, &ss, &connect_err);
	if (fd < 0)
		return fd;
	c = conn_new(net, fd, true, EPOLLOUT);
	if (c == NULL)
		return -ENOMEM;
	c->state = CONN_CONNECTING;
	c->connect_err = connect_err;
	str_copy(c->peer, peer, sizeof(c->peer));
	str_copy(c->key, key, sizeof(c->key));
	c->out = malloc(FRAME_HDR + len);
	if (c->out == NULL) {
		conn_unlink(c);
		conn_free(c);
		return -ENOMEM;
	}
	c->out[0] = (uint8_t)(len >> 24);
	c->out[1] = (uint8_t)(len >> 16);
	c->out[2] = (uint8_t)(len >> 8);
	c->out[3] = (uint8_t)len;
	memcpy(c->out + FRAME_HDR, msg, len);
	c->outlen = FRAME_HDR + len;
	return 0;
}

bool
fleet_net_busy(struct fleet_net *net, const char *peer)
{
	struct sockaddr_storage ss;
	char key[PEER_TEXT_MAX];

	if (fleet_addr_parse(peer, DEFAULT_FLEET_PORT, &ss) < 0 ||
	    addrport_format(&ss, key, sizeof(key)) < 0)
		return false;
	return find_exchange(net, key) != NULL;
}

size_t
fleet_net_active(const struct fleet_net *net)
{
	const struct fleet_conn *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &net->conns, link)
		n++;
	return n;
}
