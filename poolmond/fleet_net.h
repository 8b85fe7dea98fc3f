/*
 * The fleet's transport: monitors exchange offers over TCP in TLS keyed by
 * the fleet's shared secret (--fleet-key). One exchange is one connection:
 * the connecting side sends one message, the listening side answers with
 * one, both close. Everything runs on the event loop, non-blocking, each
 * connection under one deadline; messages are framed by a 4-byte
 * big-endian length and at most FLEET_MSG_MAX bytes. This module moves
 * bytes and says who they came from; fleet.c knows what they mean.
 */
#ifndef POOLMOND_FLEET_NET_H
#define POOLMOND_FLEET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <systemd/sd-event.h>

#define FLEET_MSG_MAX		(16u * 1024 * 1024)
#define FLEET_KEY_MIN		32
#define FLEET_KEY_MAX		4096
/* Connections served at once; more are closed at accept. */
#define FLEET_CONN_MAX		64
/*
 * Connections from one address that have not proved the key yet: a new
 * one beyond it closes the oldest of that address, so that a flood of
 * keyless connections costs its own address its slots and nothing more.
 */
#define FLEET_PREAUTH_PER_SOURCE	4

struct fleet_net;

/* The peer's answer, an incoming message, or why neither came. */
enum fleet_outcome {
	FLEET_OK,
	FLEET_AUTH_FAILED,	/* it answered, without our key */
	FLEET_UNREACHABLE,	/* refused, unreachable, timed out connecting */
	FLEET_FAILED,		/* anything else: timeout, bad frame, EOF */
};

struct fleet_net_hooks {
	/*
	 * An authenticated message from a peer: the payload of one frame,
	 * valid during the call. from: the peer's address as text (no
	 * port). outgoing: the answer to our exchange, else a message
	 * that opened one (and answer() is asked for the reply).
	 */
	void (*received)(void *arg, const char *from, bool outgoing,
	    const uint8_t *msg, size_t len);
	/*
	 * The reply to an incoming message, asked after received():
	 * malloc'ed bytes the transport takes over. -errno: the connection
	 * closes without a reply.
	 */
	int (*answer)(void *arg, uint8_t **msg, size_t *len);
	/*
	 * How an exchange ended. peer: the ADDR:PORT given to
	 * fleet_net_exchange() (outgoing), or the address a connection came
	 * from (incoming, no port). err: a short reason for the log and
	 * status ("authentication failed", "connection refused", "timed
	 * out", ...), "" for FLEET_OK.
	 */
	void (*ended)(void *arg, const char *peer, bool outgoing,
	    enum fleet_outcome outcome, const char *err);
	/*
	 * Whether ip (text, no port) is a peer's address: its connections
	 * that have not proved the key yet are never closed to make room
	 * for another address's. NULL: none is.
	 */
	bool (*is_peer)(void *arg, const char *ip);
	void *arg;
};
/*
 * The hooks run from the event loop, never from fleet_net_exchange()
 * itself except for ended() of the exchange it supersedes. They may call
 * fleet_net_exchange() (a connection is gone before its ended() and
 * outgoing received() run), not fleet_net_free().
 */

/*
 * Read and check the key file: a regular file, not a symlink, owned by
 * the caller (or root), not readable or writable by group or others,
 * FLEET_KEY_MIN..FLEET_KEY_MAX bytes. 0, or -errno with err naming the
 * file and what is wrong.
 */
int fleet_key_load(const char *path, uint8_t *key, size_t keymax,
    size_t *keylen, char *err, size_t errlen);

/*
 * Listen on addr (bound at once: -errno with err if it cannot be) and
 * connect to peers from addr's address (port 0): peers know each other
 * by it. timeout_ms bounds each connection, from connect or accept to
 * close. Both ends must prove the key: a peer that answers with a
 * certificate, or without the key, fails the handshake before a byte of
 * a message is sent or read (FLEET_AUTH_FAILED). The key and every
 * connection's secrets are wiped in any process forked from this one.
 */
int fleet_net_new(sd_event *event, const struct sockaddr_storage *addr,
    const uint8_t *key, size_t keylen, int timeout_ms,
    const struct fleet_net_hooks *hooks, struct fleet_net **out,
    char *err, size_t errlen);
void fleet_net_free(struct fleet_net *net);

/*
 * Start an exchange with peer (ADDR:PORT): msg (copied) is sent, the
 * answer given to received() and the end to ended(). An exchange still
 * in flight with the same peer is cancelled first (ended() says so):
 * at most one per peer. 0 or -errno (then ended() is never called).
 */
int fleet_net_exchange(struct fleet_net *net, const char *peer,
    const uint8_t *msg, size_t len);

/* Whether an exchange with peer (ADDR:PORT) is in flight. */
bool fleet_net_busy(struct fleet_net *net, const char *peer);

/* Exchanges and incoming connections in flight (tests). */
size_t fleet_net_active(const struct fleet_net *net);

#endif
