/* poolmond's run-time configuration, filled from the command line. */
#ifndef POOLMOND_CONFIG_H
#define POOLMOND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "protocol.h"

#define MAX_PORTS		16
#define CONFIG_PATH_OPTS	8	/* made absolute: -S -c -k -l ... */

#define DEFAULT_TIMEOUT_S	5
#define DEFAULT_INTERVAL_S	30
#define DEFAULT_LOGFILE		"/var/log/poolmon.log"
#define DEFAULT_LOCKFILE	"/var/run/poolmon.pid"
#define DEFAULT_DIRECTOR_SOCKET	"/var/run/dovecot/director-admin"
#define DEFAULT_MAX_CHILDREN	256
#define DEFAULT_RETRIES		3
#define DEFAULT_RETRY_DELAY_MS	500
#define DEFAULT_CONTROL_SOCKET	"/run/poolmon/poolmond.sock"
#define DEFAULT_CONTROL_GROUP	"root"
#define DEFAULT_FLEET_PORT	9094
#define FLEET_PEERS_MAX		64
/* --proxy: the Dovecot proxies beside this poolmond, at most. */
#define PROXIES_MAX		16
/* The proxy kicked by default under the Lua director, when it exists. */
#define DEFAULT_PROXY_CONF	"/etc/dovecot/dovecot.conf"

struct portspec {
	uint16_t port;
	enum mail_proto proto;
	bool tls;		/* implicit TLS (--ssl) */
};

struct config {
	struct portspec ports[MAX_PORTS];
	size_t nports;
	bool ssl_verify;
	const char *ssl_ca;	/* PEM bundle to trust; NULL: system store */
	const char *ssl_name;	/* name to verify; NULL: PTR name or IP */
	bool no_ptr;		/* never look up PTR names */
	bool debug;
	int timeout_s;
	int interval_s;
	const char *logfile;	/* path or "syslog"; NULL: stderr (-f only) */
	bool logfile_given;
	const char *lockfile;
	bool foreground;
	bool dry_run;
	const char *director_socket;
	bool director_socket_given;	/* -S: a director, not the default */
	/* --lua-director=DSN: Dovecot 2.4's Lua director instead of a
	 * director; --proxy=CONF: the proxies whose sessions it kicks. */
	const char *lua_director;
	const char *proxies[PROXIES_MAX];
	size_t nproxies;
	const char *credfile;
	/* The protocols' own options (protocol.h), as given or defaulted. */
	const char *proto_opts[POPT_COUNT];
	bool require_tls;	/* never send credentials without TLS */
	int max_children;
	int retries;
	int retry_delay_ms;
	int fall;		/* failed scans before HOST-DOWN */
	int rise;		/* healthy scans before HOST-UP */
	int max_down_pct;	/* of a tag's hosts poolmond may leave down */
	bool adopt_down;	/* bring up any healthy down host (0.7) */
	const char *state_file;
	const char *control_socket;	/* poolmonctl's socket */
	const char *control_group;	/* may recheck, dry-run, reload */
	/* Absolute forms of the relative paths given; config_free(). */
	char *abs_paths[CONFIG_PATH_OPTS];
	size_t nabs_paths;
	const char *metrics_listen;	/* ADDR:PORT; NULL: no HTTP server */
	const char *user;	/* check processes' user; NULL: the default */
	const char *on_change;	/* change hook program; NULL: none */
	/* Where every check connects from; NULL: the kernel's choice. */
	const char *source_address;
	/* The fleet (fleet.c): NULL fleet_listen, no fleet. */
	const char *fleet_listen;	/* ADDR[:PORT] as given */
	const char *fleet_peers[FLEET_PEERS_MAX];	/* ADDR[:PORT] */
	size_t nfleet_peers;
	bool fleet_ring;		/* --fleet-peer=ring */
	const char *fleet_key;		/* path of the shared key */
	int fleet_quorum;		/* 0: a majority of the live */
};

enum config_parse_result {
	CONFIG_OK,
	CONFIG_EXIT_OK,		/* --help or --version was printed */
	CONFIG_ERROR,		/* message in err */
};

void config_defaults(struct config *cfg);
/*
 * Parse argv into cfg. Relative paths of files poolmond opens after it
 * has changed to / (-S, -c, -k, -l, --state-file, --control-socket) are
 * made absolute against the current directory.
 */
enum config_parse_result config_parse_args(struct config *cfg, int argc,
    char **argv, char *err, size_t errlen);
/* Free what config_parse_args() allocated; cfg's paths are then unset. */
void config_free(struct config *cfg);
/*
 * "143" or "NAME:143", NAME a protocol of protocol.h's table in any case.
 * Returns 0 or -EINVAL with err set.
 */
int portspec_parse(const char *arg, bool tls, struct portspec *out,
    char *err, size_t errlen);
void config_usage(FILE *out);

#endif
