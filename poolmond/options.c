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
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "luadir.h"
#include "policy.h"
#include "state.h"
#include "util.h"
#include "version.h"

enum long_only_opt {
	OPT_VERSION = 256,
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
	OPT_LUA_DIRECTOR,
	OPT_PROXY,
	OPT_PROTO,	/* + enum proto_opt: the protocols' own options */
};

#define HELP_INDENT	25	/* --help's column of the options' texts */
#define HELP_WIDTH	79

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
	{ "lua-director",	required_argument, NULL, OPT_LUA_DIRECTOR },
	{ "proxy",		required_argument, NULL, OPT_PROXY },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* The plain ports of the protocols checked by default, by number. */
static size_t
default_ports(struct portspec out[PROTO_COUNT])
{
	size_t n = 0, i;
	int proto;

	for (proto = PROTO_BANNER + 1; proto < PROTO_COUNT; proto++) {
		const struct protocol *p = protocol_get(proto);

		if (!p->by_default || p->port == 0)
			continue;
		for (i = n; i > 0 && out[i - 1].port > p->port; i--)
			out[i] = out[i - 1];
		out[i] = (struct portspec){ p->port, proto, false };
		n++;
	}
	return n;
}

/* Append to buf of size len what fmt says; the text is cut at the end. */
static void __attribute__((format(printf, 3, 4)))
append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Words of text, wrapped in the column of the options' texts. */
static void
usage_wrap(FILE *out, const char *text)
{
	size_t col = 0, n;

	for (text += strspn(text, " "); *text != '\0';
	    text += strspn(text, " ")) {
		n = strcspn(text, " ");
		if (col > 0 && col + 1 + n > HELP_WIDTH - HELP_INDENT) {
			fputc('\n', out);
			col = 0;
		}
		if (col == 0)
			fprintf(out, "%*s", HELP_INDENT, "");
		else {
			fputc(' ', out);
			col++;
		}
		col += fwrite(text, 1, n, out);
		text += n;
	}
	if (col > 0)
		fputc('\n', out);
}

/* What a PORT of -p and -s is, and which protocol a number means. */
static void
usage_ports(FILE *out)
{
	char text[1024] = "PORT is NUMBER or PROTO:NUMBER, PROTO one of";
	bool first = true;
	int proto;

	for (proto = PROTO_BANNER + 1; proto < PROTO_COUNT; proto++)
		append(text, sizeof(text), "%s %s", proto > PROTO_BANNER + 1 ?
		    "," : "", protocol_get(proto)->name);
	append(text, sizeof(text), " (any case).");
	for (proto = PROTO_BANNER + 1; proto < PROTO_COUNT; proto++) {
		const struct protocol *p = protocol_get(proto);

		if (p->port == 0 && p->tls_port == 0)
			continue;
		append(text, sizeof(text), "%s ", first ? "" : ",");
		if (p->port != 0)
			append(text, sizeof(text), "%u", p->port);
		if (p->port != 0 && p->tls_port != 0)
			append(text, sizeof(text), " and ");
		if (p->tls_port != 0)
			append(text, sizeof(text), "%u", p->tls_port);
		append(text, sizeof(text), "%s %s", first ? " are" : "",
		    p->name);
		first = false;
	}
	append(text, sizeof(text), "; other ports need any banner line.");
	usage_wrap(out, text);
}

static void
usage_option(FILE *out, const char *name, const char *arg, const char *help)
{
	int n = fprintf(out, "      --%s=%s", name, arg);

	if (n < 0)
		return;
	if (n >= HELP_INDENT) {
		fputc('\n', out);
		n = 0;
	}
	fprintf(out, "%*s%s\n", HELP_INDENT - n, "", help);
}

/* The protocols' own options, in the table's order. */
static void
usage_proto_options(FILE *out)
{
	size_t i;
	int proto;

	for (proto = PROTO_BANNER; proto < PROTO_COUNT; proto++) {
		const struct protocol *p = protocol_get(proto);

		for (i = 0; i < p->noptions; i++)
			usage_option(out, p->options[i].name,
			    p->options[i].arg, p->options[i].help);
	}
}

void
config_usage(FILE *out)
{
	struct portspec defaults[PROTO_COUNT];
	size_t i, n = default_ports(defaults);

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
"  -p, --port=PORT        Port to check; repeat for several (default:",
	    DEFAULT_INTERVAL_S, DEFAULT_LOCKFILE, DEFAULT_LOGFILE);
	for (i = 0; i < n; i++)
		fprintf(out, "%s %u", i > 0 ? "," : "", defaults[i].port);
	fprintf(out, ")\n"
"  -s, --ssl=PORT         Port with implicit TLS; repeat for several\n");
	usage_ports(out);
	fprintf(out,
"  -v, --ssl-verify=0|1   Verify TLS certificates (default: 1)\n"
"  -c, --credfile=PATH    File with a user name (line 1) and password (line 2)\n"
"                         to log in with; owned by root (or poolmond's user),\n"
"                         not a symlink, not readable by others\n");
	usage_proto_options(out);
	fprintf(out,
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
"      --lua-director=DSN Dovecot 2.4's Lua director instead of a director\n"
"                         (-S): its tables in sqlite:PATH,\n"
"                         postgresql://[USER@]HOST[:PORT]/DB[?OPTIONS] or\n"
"                         mariadb://[USER@]HOST[:PORT]/DB; never a password\n"
"                         (libpq's password file, a MariaDB option file)\n"
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
"      --proxy=CONF       With --lua-director: a Dovecot proxy beside this\n"
"                         poolmond, whose sessions to a backend going out of\n"
"                         service are kicked; repeat for several (default:\n"
"                         %s if it exists)\n"
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
	    DEFAULT_DIRECTOR_SOCKET, DEFAULT_TIMEOUT_S, DEFAULT_CONTROL_GROUP,
	    DEFAULT_CONTROL_SOCKET, DEFAULT_FALL, DEFAULT_FLEET_PORT,
	    DEFAULT_MAX_CHILDREN,
	    DEFAULT_MAX_DOWN_PCT, DEFAULT_PROXY_CONF, DEFAULT_RETRIES,
	    DEFAULT_RETRY_DELAY_MS,
	    DEFAULT_RISE, DEFAULT_STATE_FILE);
}

void
config_defaults(struct config *cfg)
{
	int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->ssl_verify = true;
	cfg->timeout_s = DEFAULT_TIMEOUT_S;
	cfg->interval_s = DEFAULT_INTERVAL_S;
	cfg->logfile = DEFAULT_LOGFILE;
	cfg->lockfile = DEFAULT_LOCKFILE;
	cfg->director_socket = DEFAULT_DIRECTOR_SOCKET;
	for (i = 0; i < POPT_COUNT; i++)
		cfg->proto_opts[i] = protocol_option(i)->dflt;
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

/* The names a port spec may give, as "A, B or C". */
static void
proto_names(char *buf, size_t len)
{
	int proto;

	buf[0] = '\0';
	for (proto = PROTO_BANNER + 1; proto < PROTO_COUNT; proto++)
		append(buf, len, "%s%s", proto == PROTO_BANNER + 1 ? "" :
		    proto + 1 == PROTO_COUNT ? " or " : ", ",
		    protocol_get(proto)->name);
}

int
portspec_parse(const char *arg, bool tls, struct portspec *out, char *err,
    size_t errlen)
{
	const char *opt = tls ? "--ssl" : "--port";
	const char *colon = strchr(arg, ':'), *num = arg;
	char names[256];
	long port;

	out->tls = tls;
	out->proto = PROTO_BANNER;
	if (colon != NULL) {
		if (protocol_by_name(arg, (size_t)(colon - arg),
		    &out->proto) < 0) {
			proto_names(names, sizeof(names));
			(void)err_set(err, errlen, -EINVAL, "%s '%s': unknown "
			    "protocol (expected %s)", opt, arg, names);
			return -EINVAL;
		}
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
	if (colon == NULL)
		out->proto = protocol_by_port(out->port);
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
	struct portspec defaults[PROTO_COUNT];

	cfg->nports = default_ports(defaults);
	memcpy(cfg->ports, defaults, cfg->nports * sizeof(defaults[0]));
}

/* The option as the user spelt it, for error messages. */
static const char *
option_name(int c, char *buf, size_t len)
{
	size_t i;

	if (c >= OPT_PROTO && c < OPT_PROTO + POPT_COUNT) {
		snprintf(buf, len, "--%s",
		    protocol_option(c - OPT_PROTO)->name);
		return buf;
	}
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
	/* Checked once all are given (check_proto_opts): the last counts. */
	if (c >= OPT_PROTO && c < OPT_PROTO + POPT_COUNT) {
		cfg->proto_opts[c - OPT_PROTO] = arg;
		return 0;
	}
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
	case 'S':
		cfg->director_socket = arg;
		cfg->director_socket_given = true;
		return 0;
	case 'c': cfg->credfile = arg; return 0;
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
	case OPT_LUA_DIRECTOR:
		/* Its syntax now, and never a password: the DSN is shown. */
		if (luadir_dsn_check(arg, err, errlen) < 0)
			return -EINVAL;
		cfg->lua_director = arg;
		return 0;
	case OPT_PROXY:
		if (cfg->nproxies == PROXIES_MAX)
			return err_set(err, errlen, -EINVAL, "%s: at most %d",
			    name, PROXIES_MAX);
		if (set_path_opt(name, arg, &cfg->proxies[cfg->nproxies], err,
		    errlen) < 0)
			return -EINVAL;
		cfg->nproxies++;
		return 0;
	case OPT_USER:
		/* Looked up at start-up (sandbox_prepare), once. */
		return set_nonempty_opt(name, arg, &cfg->user, err, errlen);
	}
	(void)err_set(err, errlen, -EINVAL, "internal error: option %d not handled", c);
	return -EINVAL;
}

/* One router: a director (-S) or the Lua director, and what goes with it. */
static int
check_router(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->lua_director == NULL) {
		if (cfg->nproxies > 0)
			return err_set(err, errlen, -EINVAL, "--proxy needs "
			    "--lua-director (its sessions are kicked when a "
			    "backend goes out of service)");
		return 0;
	}
	if (cfg->director_socket_given)
		return err_set(err, errlen, -EINVAL, "--lua-director and "
		    "-S/--socket: give one of them (Dovecot 2.4's Lua "
		    "director, or a director's admin socket)");
	if (cfg->fleet_ring)
		return err_set(err, errlen, -EINVAL, "--fleet-peer=ring needs "
		    "a director's ring; with --lua-director, list the other "
		    "monitors (--fleet-peer=ADDR, repeated)");
	return 0;
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

/* The protocols' own options, given or defaulted (protocol.h's table). */
static int
check_proto_opts(const struct config *cfg, char *err, size_t errlen)
{
	const struct proto_option *o;
	const char *why;
	int i;

	for (i = 0; i < POPT_COUNT; i++) {
		o = protocol_option(i);
		if (cfg->proto_opts[i] == NULL || o->invalid == NULL ||
		    (why = o->invalid(cfg->proto_opts[i])) == NULL)
			continue;
		return err_set(err, errlen, -EINVAL, "--%s '%s': %s", o->name,
		    cfg->proto_opts[i], why);
	}
	return 0;
}

/* long_opts and the protocols' own options, for getopt_long(). */
static void
all_options(struct option opts[ARRAY_SIZE(long_opts) + POPT_COUNT])
{
	size_t n = ARRAY_SIZE(long_opts) - 1;
	int i;

	memcpy(opts, long_opts, n * sizeof(opts[0]));
	for (i = 0; i < POPT_COUNT; i++)
		opts[n++] = (struct option){ protocol_option(i)->name,
		    required_argument, NULL, OPT_PROTO + i };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
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
	struct option opts[ARRAY_SIZE(long_opts) + POPT_COUNT];
	int c;

	all_options(opts);
	optind = 0;	/* glibc: full reset, so unit tests can parse again */
	opterr = 0;	/* errors are reported below, naming the option */
	while ((c = getopt_long(argc, argv, short_opts, opts, NULL)) != -1) {
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
	if (check_proto_opts(cfg, err, errlen) < 0 ||
	    check_fleet(cfg, err, errlen) < 0 ||
	    check_router(cfg, err, errlen) < 0)
		return CONFIG_ERROR;
	/* In the foreground without -l, log to stderr where the user looks. */
	if (cfg->foreground && !cfg->logfile_given)
		cfg->logfile = NULL;
	if (make_paths_absolute(cfg, err, errlen) < 0)
		return CONFIG_ERROR;
	return CONFIG_OK;
}
