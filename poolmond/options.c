/*
 * Command line: every option of poolmon 0.7 with the same names and meaning,
 * plus poolmond's own. Bad values are refused at start-up with a message
 * naming the option and the value.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "policy.h"
#include "state.h"
#include "util.h"
#include "version.h"

enum long_only_opt {
	OPT_LMTP_FROM = 256,
	OPT_LMTP_TO,
	OPT_VERSION,
	OPT_MAX_CHILDREN,
	OPT_RETRIES,
	OPT_RETRY_DELAY,
	OPT_CONTROL_SOCKET,
	OPT_CONTROL_GROUP,
	OPT_SSL_CA,
	OPT_SSL_NAME,
	OPT_NO_PTR,
	OPT_FALL,
	OPT_RISE,
	OPT_MAX_DOWN,
	OPT_ADOPT_DOWN,
	OPT_STATE_FILE,
	OPT_REQUIRE_TLS,
	OPT_METRICS_LISTEN,
	OPT_USER,
	OPT_ON_CHANGE,
	OPT_SOURCE_ADDRESS,
	OPT_FLEET_LISTEN,
	OPT_FLEET_PEER,
	OPT_FLEET_KEY,
	OPT_FLEET_QUORUM,
};

/* A leading ':' makes a missing argument return ':' rather than '?'. */
static const char short_opts[] = ":p:s:v:dt:i:l:k:fnS:c:h";

static const struct option long_opts[] = {
	{ "port",		required_argument, NULL, 'p' },
	{ "ssl",		required_argument, NULL, 's' },
	{ "ssl-verify",		required_argument, NULL, 'v' },
	{ "ssl-ca",		required_argument, NULL, OPT_SSL_CA },
	{ "ssl-name",		required_argument, NULL, OPT_SSL_NAME },
	{ "no-ptr",		no_argument,	   NULL, OPT_NO_PTR },
	{ "debug",		no_argument,	   NULL, 'd' },
	{ "timeout",		required_argument, NULL, 't' },
	{ "interval",		required_argument, NULL, 'i' },
	{ "logfile",		required_argument, NULL, 'l' },
	{ "lockfile",		required_argument, NULL, 'k' },
	{ "foreground",		no_argument,	   NULL, 'f' },
	{ "dry-run",		no_argument,	   NULL, 'n' },
	{ "socket",		required_argument, NULL, 'S' },
	{ "credfile",		required_argument, NULL, 'c' },
	{ "lmtp-from",		required_argument, NULL, OPT_LMTP_FROM },
	{ "lmtp-to",		required_argument, NULL, OPT_LMTP_TO },
	{ "max-children",	required_argument, NULL, OPT_MAX_CHILDREN },
	{ "retries",		required_argument, NULL, OPT_RETRIES },
	{ "retry-delay",	required_argument, NULL, OPT_RETRY_DELAY },
	{ "control-socket",	required_argument, NULL, OPT_CONTROL_SOCKET },
	{ "control-group",	required_argument, NULL, OPT_CONTROL_GROUP },
	{ "fall",		required_argument, NULL, OPT_FALL },
	{ "rise",		required_argument, NULL, OPT_RISE },
	{ "max-down",		required_argument, NULL, OPT_MAX_DOWN },
	{ "adopt-down",		no_argument,	   NULL, OPT_ADOPT_DOWN },
	{ "state-file",		required_argument, NULL, OPT_STATE_FILE },
	{ "require-tls",	no_argument,	   NULL, OPT_REQUIRE_TLS },
	{ "metrics-listen",	required_argument, NULL, OPT_METRICS_LISTEN },
	{ "user",		required_argument, NULL, OPT_USER },
	{ "on-change",		required_argument, NULL, OPT_ON_CHANGE },
	{ "source-address",	required_argument, NULL, OPT_SOURCE_ADDRESS },
	{ "fleet-listen",	required_argument, NULL, OPT_FLEET_LISTEN },
	{ "fleet-peer",		required_argument, NULL, OPT_FLEET_PEER },
	{ "fleet-key",		required_argument, NULL, OPT_FLEET_KEY },
	{ "fleet-quorum",	required_argument, NULL, OPT_FLEET_QUORUM },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void
config_usage(FILE *out)
{
	fprintf(out,
"Usage: poolmond [options]\n"
"Reads the mail hosts of a Dovecot director and checks every one of them in\n"
"parallel. A host that fails a check is marked down (HOST-DOWN) and its user\n"
"mappings flushed (HOST-FLUSH); a down host that passes every check is marked\n"
"up again (HOST-UP).\n"
"\n"
"Options of poolmon 0.7:\n"
"  -d, --debug            Log debug lines, one per finished scan among them\n"
"  -f, --foreground       Stay in the foreground; log to stderr unless -l\n"
"  -h, --help             Print this text and exit\n"
"  -i, --interval=SECS    Scan interval, start to start (default: %d)\n"
"  -k, --lockfile=PATH    PID/lock file (default: %s)\n"
"  -l, --logfile=PATH     Log file, 'syslog' or 'journal' (default: %s)\n"
"  -n, --dry-run          Log what would be done, change nothing\n"
"  -p, --port=PORT        Port to check; repeat for several (default: 110, 143)\n"
"  -s, --ssl=PORT         Port with implicit TLS; repeat for several\n"
"                         PORT is NUMBER or PROTO:NUMBER, PROTO one of IMAP,\n"
"                         POP3, LMTP (any case). 143 and 993 are IMAP, 110 and\n"
"                         995 POP3, 24 LMTP; other ports need any banner line.\n"
"  -v, --ssl-verify=0|1   Verify TLS certificates (default: 1)\n"
"  -c, --credfile=PATH    File with a user name (line 1) and password (line 2)\n"
"                         to log in with; owned by root (or poolmond's user),\n"
"                         not a symlink, not readable by others\n"
"      --lmtp-from=ADDR   LMTP sender address (default: empty)\n"
"      --lmtp-to=ADDR     LMTP recipient; makes the LMTP check a transaction\n"
"  -S, --socket=PATH      Director admin socket (default: %s)\n"
"  -t, --timeout=SECS     Timeout of one check attempt (default: %d)\n"
"\n"
"poolmond's own options:\n"
"      --adopt-down       Bring up any healthy down host, also those taken\n"
"                         down by someone else (poolmon 0.7's behaviour)\n"
"      --control-group=NAME\n"
"                         Group that may recheck, switch dry-run and reload\n"
"                         through the control socket (default: %s)\n"
"      --control-socket=PATH\n"
"                         poolmonctl's socket (default: %s)\n"
"      --fall=N           Failed scans in a row before HOST-DOWN (default: %d)\n"
"      --fleet-key=FILE   The fleet's shared key: at least 32 bytes, mode 0600\n"
"      --fleet-listen=ADDR[:PORT]\n"
"                         Serve the fleet's other monitors here (this\n"
"                         monitor's own address; default port %d)\n"
"      --fleet-peer=ADDR[:PORT]|ring\n"
"                         Another monitor of the fleet; repeat for several.\n"
"                         'ring': every director of the ring (DIRECTOR-LIST)\n"
"      --fleet-quorum=N   Agreeing verdicts an action needs, if more than a\n"
"                         majority of the live monitors (default: majority)\n"
"      --max-children=N   Backends checked at once (default: %d)\n"
"      --max-down=PERCENT Most of a tag's hosts left down by poolmond's own\n"
"                         actions (default: %d)\n"
"      --metrics-listen=ADDR:PORT\n"
"                         Serve Prometheus metrics on http://ADDR:PORT/metrics\n"
"                         (127.0.0.1:9095 or [::1]:9095; default: off)\n"
"      --no-ptr           Verify the address, not the PTR name, of a backend\n"
"      --on-change=PROGRAM\n"
"                         Run PROGRAM (no shell) after every action, the\n"
"                         event in POOLMON_EVENT, POOLMON_HOST, POOLMON_TAG,\n"
"                         POOLMON_REASON, POOLMON_DRY_RUN; as --user, within\n"
"                         --timeout\n"
"      --require-tls      Never send credentials without TLS: a plain port\n"
"                         whose server offers no STARTTLS/STLS fails\n"
"      --retries=N        Retries of a failed port check (default: %d)\n"
"      --retry-delay=MS   Pause between retries, in ms, none after a\n"
"                         timeout (default: %d)\n"
"      --rise=N           Healthy scans in a row before HOST-UP (default: %d)\n"
"      --source-address=ADDR\n"
"                         Local address every check connects from\n"
"      --ssl-ca=FILE      Trust the CAs of this PEM file, not the system's\n"
"      --ssl-name=NAME    Name every certificate must carry (default: the\n"
"                         backend's forward-confirmed PTR name, else its IP)\n"
"      --state-file=PATH  Hosts poolmond took down and maintenance holds\n"
"                         (default: %s)\n"
"      --user=NAME        Unprivileged user the check processes run as\n"
"                         (default: poolmon if it exists, else nobody)\n"
"      --version          Print the version and exit\n",
	    DEFAULT_INTERVAL_S, DEFAULT_LOCKFILE, DEFAULT_LOGFILE,
	    DEFAULT_DIRECTOR_SOCKET, DEFAULT_TIMEOUT_S, DEFAULT_CONTROL_GROUP,
	    DEFAULT_CONTROL_SOCKET, DEFAULT_FALL, DEFAULT_FLEET_PORT,
	    DEFAULT_MAX_CHILDREN,
	    DEFAULT_MAX_DOWN_PCT, DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_MS,
	    DEFAULT_RISE, DEFAULT_STATE_FILE);
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ssl_verify = true;
	cfg->timeout_s = DEFAULT_TIMEOUT_S;
	cfg->interval_s = DEFAULT_INTERVAL_S;
	cfg->logfile = DEFAULT_LOGFILE;
	cfg->lockfile = DEFAULT_LOCKFILE;
	cfg->director_socket = DEFAULT_DIRECTOR_SOCKET;
	cfg->lmtp_from = "";
	cfg->max_children = DEFAULT_MAX_CHILDREN;
	cfg->retries = DEFAULT_RETRIES;
	cfg->retry_delay_ms = DEFAULT_RETRY_DELAY_MS;
	cfg->control_socket = DEFAULT_CONTROL_SOCKET;
	cfg->control_group = DEFAULT_CONTROL_GROUP;
	cfg->fall = DEFAULT_FALL;
	cfg->rise = DEFAULT_RISE;
	cfg->max_down_pct = DEFAULT_MAX_DOWN_PCT;
	cfg->state_file = DEFAULT_STATE_FILE;
}

const char *
mail_proto_name(enum mail_proto proto, bool tls)
{
	switch (proto) {
	case PROTO_IMAP: return tls ? "IMAPS" : "IMAP";
	case PROTO_POP3: return tls ? "POP3S" : "POP3";
	case PROTO_LMTP: return tls ? "LMTPS" : "LMTP";
	case PROTO_BANNER: break;
	}
	return tls ? "TCPS" : "TCP";
}

int
portspec_parse(const char *arg, bool tls, struct portspec *out, char *err,
    size_t errlen)
{
	static const struct {
		const char *name;
		enum mail_proto proto;
	} protos[] = {
		{ "IMAP", PROTO_IMAP }, { "POP3", PROTO_POP3 },
		{ "LMTP", PROTO_LMTP },
	};
	const char *opt = tls ? "--ssl" : "--port";
	const char *colon = strchr(arg, ':'), *num = arg;
	bool explicit = false;
	long port;
	size_t i;

	out->tls = tls;
	out->proto = PROTO_BANNER;
	if (colon != NULL) {
		for (i = 0; i < ARRAY_SIZE(protos); i++) {
			if ((size_t)(colon - arg) == strlen(protos[i].name) &&
			    strncasecmp(arg, protos[i].name,
			    strlen(protos[i].name)) == 0)
				break;
		}
		if (i == ARRAY_SIZE(protos)) {
			(void)err_set(err, errlen, -EINVAL, "%s '%s': unknown protocol "
			    "(expected IMAP, POP3 or LMTP)", opt, arg);
			return -EINVAL;
		}
		out->proto = protos[i].proto;
		explicit = true;
		num = colon + 1;
	}
	switch (parse_long(num, 1, 65535, &port)) {
	case 0:
		break;
	case -ERANGE:
		(void)err_set(err, errlen, -EINVAL, "%s '%s': port out of range 1-65535",
		    opt, arg);
		return -EINVAL;
	default:
		(void)err_set(err, errlen, -EINVAL, "%s '%s': malformed port "
		    "(expected NUMBER or PROTO:NUMBER)", opt, arg);
		return -EINVAL;
	}
	out->port = (uint16_t)port;
	if (!explicit) {
		switch (port) {
		case 143: case 993: out->proto = PROTO_IMAP; break;
		case 110: case 995: out->proto = PROTO_POP3; break;
		case 24: out->proto = PROTO_LMTP; break;
		}
	}
	return 0;
}

static int
parse_int_opt(const char *name, const char *arg, long min, long max, int *out,
    char *err, size_t errlen)
{
	long v;
	int r = parse_long(arg, min, max, &v);

	if (r == -ERANGE) {
		(void)err_set(err, errlen, -EINVAL, "%s '%s': must be between %ld and %ld",
		    name, arg, min, max);
		return -EINVAL;
	}
	if (r < 0) {
		(void)err_set(err, errlen, -EINVAL, "%s '%s': not a number", name, arg);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

/* A unix socket path; its length is checked once it is absolute. */
static int
set_path_opt(const char *name, const char *arg, const char **out, char *err,
    size_t errlen)
{
	if (arg[0] == '\0') {
		(void)err_set(err, errlen, -EINVAL, "%s '': empty path", name);
		return -EINVAL;
	}
	*out = arg;
	return 0;
}

static int
set_nonempty_opt(const char *name, const char *arg, const char **out,
    char *err, size_t errlen)
{
	if (arg[0] == '\0') {
		(void)err_set(err, errlen, -EINVAL, "%s: must not be empty", name);
		return -EINVAL;
	}
	*out = arg;
	return 0;
}

static int
add_port(struct config *cfg, const char *arg, bool tls, char *err,
    size_t errlen)
{
	if (cfg->nports == MAX_PORTS) {
		(void)err_set(err, errlen, -EINVAL, "%s '%s': at most %d ports",
		    tls ? "--ssl" : "--port", arg, MAX_PORTS);
		return -EINVAL;
	}
	if (portspec_parse(arg, tls, &cfg->ports[cfg->nports], err,
	    errlen) < 0)
		return -EINVAL;
	cfg->nports++;
	return 0;
}

static void
add_default_ports(struct config *cfg)
{
	static const struct portspec defaults[] = {
		{ 110, PROTO_POP3, false }, { 143, PROTO_IMAP, false },
	};

	memcpy(cfg->ports, defaults, sizeof(defaults));
	cfg->nports = ARRAY_SIZE(defaults);
}

/* The option as the user spelt it, for error messages. */
static const char *
option_name(int c, char *buf, size_t len)
{
	size_t i;

	for (i = 0; long_opts[i].name != NULL; i++) {
		if (long_opts[i].val == c) {
			snprintf(buf, len, "--%s", long_opts[i].name);
			return buf;
		}
	}
	snprintf(buf, len, "-%c", c);
	return buf;
}

/*
 * A host name or IP address: it is matched against certificates and sent
 * as SNI, so nothing but the characters of those.
 */
static int
set_ssl_name(struct config *cfg, const char *arg, char *err, size_t errlen)
{
	size_t len = strlen(arg);

	if (len == 0 || len > 253 || strspn(arg, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") != len ||
	    arg[0] == '.' || arg[0] == '-') {
		(void)err_set(err, errlen, -EINVAL, "--ssl-name '%s': not a host name or "
		    "IP address", arg);
		return -EINVAL;
	}
	cfg->ssl_name = arg;
	return 0;
}

static int
set_metrics_listen(struct config *cfg, const char *arg, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;

	if (addrport_parse(arg, &ss) < 0) {
		(void)err_set(err, errlen, -EINVAL, "--metrics-listen '%s': expected "
		    "IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:9095 or "
		    "[::1]:9095", arg);
		return -EINVAL;
	}
	cfg->metrics_listen = arg;
	return 0;
}

static int
set_source_address(struct config *cfg, const char *arg, char *err,
    size_t errlen)
{
	struct in6_addr a;
	int family;

	if (ip_parse(arg, &family, &a) < 0)
		return err_set(err, errlen, -EINVAL, "--source-address '%s': "
		    "expected an IPv4 or IPv6 address", arg);
	cfg->source_address = arg;
	return 0;
}

/* ADDR[:PORT] of the fleet: a specific address, the port defaulted. */
static int
check_fleet_address(const char *name, const char *arg, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;

	if (fleet_addr_parse(arg, DEFAULT_FLEET_PORT, &ss) < 0)
		return err_set(err, errlen, -EINVAL, "%s '%s': expected "
		    "IPv4[:PORT] or IPv6 or [IPv6]:PORT, e.g. 192.0.2.1 or "
		    "192.0.2.1:%d", name, arg, DEFAULT_FLEET_PORT);
	if (sockaddr_is_unspecified(&ss))
		return err_set(err, errlen, -EINVAL, "%s '%s': give a "
		    "monitor's own address, not a wildcard: the fleet knows "
		    "each monitor by it", name, arg);
	return 0;
}

static int
add_fleet_peer(struct config *cfg, const char *arg, char *err,
    size_t errlen)
{
	if (strcmp(arg, "ring") == 0) {
		cfg->fleet_ring = true;
		return 0;
	}
	if (check_fleet_address("--fleet-peer", arg, err, errlen) < 0)
		return -EINVAL;
	if (cfg->nfleet_peers == FLEET_PEERS_MAX)
		return err_set(err, errlen, -EINVAL, "--fleet-peer '%s': at "
		    "most %d peers", arg, FLEET_PEERS_MAX);
	cfg->fleet_peers[cfg->nfleet_peers++] = arg;
	return 0;
}

static int
apply_option(struct config *cfg, int c, const char *arg, char *err,
    size_t errlen)
{
	char name[32];
	int v;

	option_name(c, name, sizeof(name));
	switch (c) {
	case 'p': return add_port(cfg, arg, false, err, errlen);
	case 's': return add_port(cfg, arg, true, err, errlen);
	case 'v':
		if (parse_int_opt(name, arg, 0, 1, &v, err, errlen) < 0)
			return -EINVAL;
		cfg->ssl_verify = v == 1;
		return 0;
	case 'd': cfg->debug = true; return 0;
	case 't':
		return parse_int_opt(name, arg, 1, 3600, &cfg->timeout_s,
		    err, errlen);
	case 'i':
		return parse_int_opt(name, arg, 1, 86400, &cfg->interval_s,
		    err, errlen);
	case 'l':
		cfg->logfile = arg;
		cfg->logfile_given = true;
		return 0;
	case 'k': cfg->lockfile = arg; return 0;
	case 'f': cfg->foreground = true; return 0;
	case 'n': cfg->dry_run = true; return 0;
	case 'S': cfg->director_socket = arg; return 0;
	case 'c': cfg->credfile = arg; return 0;
	case OPT_LMTP_FROM: cfg->lmtp_from = arg; return 0;
	case OPT_LMTP_TO: cfg->lmtp_to = arg; return 0;
	case OPT_REQUIRE_TLS: cfg->require_tls = true; return 0;
	case OPT_SSL_CA: cfg->ssl_ca = arg; return 0;
	case OPT_SSL_NAME: return set_ssl_name(cfg, arg, err, errlen);
	case OPT_NO_PTR: cfg->no_ptr = true; return 0;
	case OPT_FALL:
		return parse_int_opt(name, arg, 1, 1000, &cfg->fall, err,
		    errlen);
	case OPT_RISE:
		return parse_int_opt(name, arg, 1, 1000, &cfg->rise, err,
		    errlen);
	case OPT_MAX_DOWN:
		return parse_int_opt(name, arg, 0, 100, &cfg->max_down_pct,
		    err, errlen);
	case OPT_ADOPT_DOWN: cfg->adopt_down = true; return 0;
	case OPT_STATE_FILE:
		if (arg[0] == '\0') {
			(void)err_set(err, errlen, -EINVAL, "%s '': empty path", name);
			return -EINVAL;
		}
		cfg->state_file = arg;
		return 0;
	case OPT_MAX_CHILDREN:
		return parse_int_opt(name, arg, 1, 65536, &cfg->max_children,
		    err, errlen);
	case OPT_RETRIES:
		return parse_int_opt(name, arg, 0, 100, &cfg->retries,
		    err, errlen);
	case OPT_RETRY_DELAY:
		return parse_int_opt(name, arg, 0, 60000,
		    &cfg->retry_delay_ms, err, errlen);
	case OPT_CONTROL_SOCKET:
		return set_path_opt(name, arg, &cfg->control_socket, err,
		    errlen);
	case OPT_CONTROL_GROUP:
		return set_nonempty_opt(name, arg, &cfg->control_group, err,
		    errlen);
	case OPT_METRICS_LISTEN:
		return set_metrics_listen(cfg, arg, err, errlen);
	case OPT_ON_CHANGE:
		/* Run without a shell: a program, not a command line. */
		return set_nonempty_opt(name, arg, &cfg->on_change, err,
		    errlen);
	case OPT_SOURCE_ADDRESS:
		return set_source_address(cfg, arg, err, errlen);
	case OPT_FLEET_LISTEN:
		if (check_fleet_address(name, arg, err, errlen) < 0)
			return -EINVAL;
		cfg->fleet_listen = arg;
		return 0;
	case OPT_FLEET_PEER:
		return add_fleet_peer(cfg, arg, err, errlen);
	case OPT_FLEET_KEY:
		return set_path_opt(name, arg, &cfg->fleet_key, err, errlen);
	case OPT_FLEET_QUORUM:
		return parse_int_opt(name, arg, 1, FLEET_PEERS_MAX + 1,
		    &cfg->fleet_quorum, err, errlen);
	case OPT_USER:
		/* Looked up at start-up (sandbox_prepare), once. */
		return set_nonempty_opt(name, arg, &cfg->user, err, errlen);
	}
	(void)err_set(err, errlen, -EINVAL, "internal error: option %d not handled", c);
	return -EINVAL;
}

/* The fleet's options come together or not at all. */
static int
check_fleet(const struct config *cfg, char *err, size_t errlen)
{
	const char *other = cfg->nfleet_peers > 0 || cfg->fleet_ring ?
	    "--fleet-peer" : cfg->fleet_key != NULL ? "--fleet-key" :
	    cfg->fleet_quorum > 0 ? "--fleet-quorum" : NULL;
	size_t i, j;

	if (cfg->fleet_listen == NULL) {
		if (other != NULL)
			return err_set(err, errlen, -EINVAL, "%s needs "
			    "--fleet-listen (this monitor's own address)",
			    other);
		return 0;
	}
	if (cfg->fleet_key == NULL)
		return err_set(err, errlen, -EINVAL, "--fleet-listen needs "
		    "--fleet-key (the fleet's shared key)");
	if (cfg->nfleet_peers == 0 && !cfg->fleet_ring)
		return err_set(err, errlen, -EINVAL, "--fleet-listen needs "
		    "--fleet-peer (an address, repeated, or 'ring')");
	for (i = 0; i < cfg->nfleet_peers; i++) {
		if (fleet_addr_equal(cfg->fleet_peers[i], cfg->fleet_listen,
		    DEFAULT_FLEET_PORT))
			return err_set(err, errlen, -EINVAL, "--fleet-peer "
			    "'%s': that is this monitor (--fleet-listen)",
			    cfg->fleet_peers[i]);
		for (j = 0; j < i; j++)
			if (fleet_addr_equal(cfg->fleet_peers[i],
			    cfg->fleet_peers[j], DEFAULT_FLEET_PORT))
				return err_set(err, errlen, -EINVAL,
				    "--fleet-peer '%s': given twice",
				    cfg->fleet_peers[i]);
	}
	return 0;
}

static int
check_addresses(const struct config *cfg, char *err, size_t errlen)
{
	/* These go into LMTP command lines: a CR or LF would inject commands. */
	if (strpbrk(cfg->lmtp_from, "\r\n<>") != NULL) {
		(void)err_set(err, errlen, -EINVAL, "--lmtp-from '%s': invalid address",
		    cfg->lmtp_from);
		return -EINVAL;
	}
	if (cfg->lmtp_to != NULL && (cfg->lmtp_to[0] == '\0' ||
	    strpbrk(cfg->lmtp_to, "\r\n<>") != NULL)) {
		(void)err_set(err, errlen, -EINVAL, "--lmtp-to '%s': invalid address",
		    cfg->lmtp_to);
		return -EINVAL;
	}
	return 0;
}

/*
 * cwd/path in place of a relative *path: a daemon changes to /, and the
 * director socket, the log, the state file... must stay where the user
 * meant them.
 */
static int
make_absolute(struct config *cfg, const char *name, const char **path,
    char *err, size_t errlen)
{
	char cwd[PATH_MAX], *abs;
	const char *rel = *path;

	if (rel == NULL || rel[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		(void)err_set(err, errlen, -EINVAL, "%s '%s': cannot make it an absolute "
		    "path: current directory: %s", name, rel, strerror(errno));
		return -EINVAL;
	}
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2 + strspn(rel + 2, "/");
	if (asprintf(&abs, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/",
	    rel) < 0) {
		(void)err_set(err, errlen, -EINVAL, "%s '%s': out of memory", name, *path);
		return -EINVAL;
	}
	cfg->abs_paths[cfg->nabs_paths++] = abs;
	*path = abs;
	return 0;
}

static int
make_paths_absolute(struct config *cfg, char *err, size_t errlen)
{
	const struct {
		const char *name;
		const char **path;
	} opts[CONFIG_PATH_OPTS] = {
		{ "--socket", &cfg->director_socket },
		{ "--credfile", &cfg->credfile },
		{ "--lockfile", &cfg->lockfile },
		{ "--logfile", &cfg->logfile },
		{ "--state-file", &cfg->state_file },
		{ "--control-socket", &cfg->control_socket },
		{ "--on-change", &cfg->on_change },
		{ "--fleet-key", &cfg->fleet_key },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(opts); i++) {
		/* "syslog" and "journal" are no files. */
		if (opts[i].path == &cfg->logfile && cfg->logfile != NULL &&
		    (strcmp(cfg->logfile, LOG_DEST_SYSLOG) == 0 ||
		    strcmp(cfg->logfile, LOG_DEST_JOURNAL) == 0))
			continue;
		if (make_absolute(cfg, opts[i].name, opts[i].path, err,
		    errlen) < 0)
			return -EINVAL;
	}
	/* sun_path holds at most 107 bytes and a NUL. */
	if (strlen(cfg->control_socket) > 107) {
		(void)err_set(err, errlen, -EINVAL, "--control-socket '%s': must be a path of "
		    "at most 107 bytes (absolute)", cfg->control_socket);
		return -EINVAL;
	}
	return 0;
}

void
config_free(struct config *cfg)
{
	while (cfg->nabs_paths > 0)
		free(cfg->abs_paths[--cfg->nabs_paths]);
}

enum config_parse_result
config_parse_args(struct config *cfg, int argc, char **argv, char *err,
    size_t errlen)
{
	int c;

	optind = 0;	/* glibc: full reset, so unit tests can parse again */
	opterr = 0;	/* errors are reported below, naming the option */
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL))
	    != -1) {
		switch (c) {
		case 'h':
			config_usage(stdout);
			return CONFIG_EXIT_OK;
		case OPT_VERSION:
			printf("poolmond %s\n", POOLMON_VERSION);
			return CONFIG_EXIT_OK;
		case ':':
			(void)err_set(err, errlen, -EINVAL, "option '%s' requires an argument",
			    argv[optind - 1]);
			return CONFIG_ERROR;
		case '?':
			if (optopt != 0 && optopt < 256 &&
			    strncmp(argv[optind - 1], "--", 2) != 0)
				(void)err_set(err, errlen, -EINVAL, "unknown option '-%c'", optopt);
			else
				(void)err_set(err, errlen, -EINVAL, "unknown, ambiguous or misused "
				    "option '%s'", argv[optind - 1]);
			return CONFIG_ERROR;
		default:
			if (apply_option(cfg, c, optarg, err, errlen) < 0)
				return CONFIG_ERROR;
		}
	}
	if (optind < argc) {
		(void)err_set(err, errlen, -EINVAL, "unexpected argument '%s'", argv[optind]);
		return CONFIG_ERROR;
	}
	if (cfg->nports == 0)
		add_default_ports(cfg);
	if (check_addresses(cfg, err, errlen) < 0 ||
	    check_fleet(cfg, err, errlen) < 0)
		return CONFIG_ERROR;
	/* In the foreground without -l, log to stderr where the user looks. */
	if (cfg->foreground && !cfg->logfile_given)
		cfg->logfile = NULL;
	if (make_paths_absolute(cfg, err, errlen) < 0)
		return CONFIG_ERROR;
	return CONFIG_OK;
}
