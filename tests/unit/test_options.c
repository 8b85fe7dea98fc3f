/* Command-line and port parsing: every poolmon 0.7 form and every bad one. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static struct config cfg;
static char err[512];

/* Parse a NULL-terminated argument list after "poolmond". */
static enum config_parse_result
parse(const char *first, ...)
{
	char *argv[32];
	int argc = 0;
	const char *a;
	va_list ap;

	argv[argc++] = (char *)"poolmond";
	va_start(ap, first);
	for (a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	config_free(&cfg);
	config_defaults(&cfg);
	err[0] = '\0';
	return config_parse_args(&cfg, argc, argv, err, sizeof(err));
}

static void
test_defaults(void)
{
	CHECK(parse(NULL) == CONFIG_OK);
	CHECK(cfg.nports == 2);
	CHECK(cfg.ports[0].port == 110 && cfg.ports[0].proto == PROTO_POP3);
	CHECK(cfg.ports[1].port == 143 && cfg.ports[1].proto == PROTO_IMAP);
	CHECK(!cfg.ports[0].tls && !cfg.ports[1].tls);
	CHECK(cfg.timeout_s == 5);
	CHECK(cfg.interval_s == 30);
	CHECK(cfg.ssl_verify);
	CHECK_STR(cfg.logfile, "/var/log/poolmon.log");
	CHECK_STR(cfg.lockfile, "/var/run/poolmon.pid");
	CHECK_STR(cfg.director_socket, "/var/run/dovecot/director-admin");
	CHECK(cfg.max_children == 256);
	CHECK(cfg.retries == 3);
	CHECK(cfg.retry_delay_ms == 500);
	CHECK(!cfg.dry_run && !cfg.foreground && !cfg.debug);
	CHECK(cfg.credfile == NULL && cfg.proto_opts[POPT_LMTP_TO] == NULL);
	CHECK_STR(cfg.proto_opts[POPT_LMTP_FROM], "");
}

static void
test_ports(void)
{
	CHECK(parse("-p", "143", "--port=POP3:1110", "-p", "lmtp:24",
	    "-s", "993", "--ssl", "995", "-s", "Imap:9993", "-p", "4190",
	    "-p24", NULL) == CONFIG_OK);
	CHECK(cfg.nports == 8);
	CHECK(cfg.ports[0].port == 143 && cfg.ports[0].proto == PROTO_IMAP);
	CHECK(cfg.ports[1].port == 1110 && cfg.ports[1].proto == PROTO_POP3);
	CHECK(cfg.ports[2].port == 24 && cfg.ports[2].proto == PROTO_LMTP);
	CHECK(cfg.ports[3].port == 993 && cfg.ports[3].proto == PROTO_IMAP &&
	    cfg.ports[3].tls);
	CHECK(cfg.ports[4].port == 995 && cfg.ports[4].proto == PROTO_POP3 &&
	    cfg.ports[4].tls);
	CHECK(cfg.ports[5].port == 9993 && cfg.ports[5].proto == PROTO_IMAP &&
	    cfg.ports[5].tls);
	CHECK(cfg.ports[6].port == 4190 &&
	    cfg.ports[6].proto == PROTO_SIEVE && !cfg.ports[6].tls);
	CHECK(cfg.ports[7].port == 24 && cfg.ports[7].proto == PROTO_LMTP);
	/* SIEVE has no implicit-TLS port of its own: -s SIEVE:PORT. */
	CHECK(parse("-s", "sieve:5190", "-p", "4191", NULL) == CONFIG_OK);
	CHECK(cfg.ports[0].port == 5190 && cfg.ports[0].proto == PROTO_SIEVE &&
	    cfg.ports[0].tls);
	CHECK(cfg.ports[1].proto == PROTO_BANNER);
	/* Only -s given: no default plain ports are added. */
	CHECK(parse("-s", "993", NULL) == CONFIG_OK);
	CHECK(cfg.nports == 1);
}

static void
test_bad_ports(void)
{
	static const char *const bad[] = {
		"0", "65536", "-1", "abc", "", "143x", "IMAP:", "SMTP:25",
		"IMAP:0", "POP3:70000", ":143", "IMAP:143:1", " 143",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(parse("-p", bad[i], NULL) == CONFIG_ERROR);
		CHECK(strstr(err, "--port") != NULL);
		CHECK(strstr(err, bad[i]) != NULL);
		CHECK(parse("--ssl", bad[i], NULL) == CONFIG_ERROR);
		CHECK(strstr(err, "--ssl") != NULL);
	}
	CHECK(parse("-p", "65536", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "range") != NULL);
	CHECK(parse("-s", "SMTP:25", NULL) == CONFIG_ERROR);
	CHECK_STR(err, "--ssl 'SMTP:25': unknown protocol (expected IMAP, "
	    "POP3, LMTP or SIEVE)");
	/* The banner-only check is no protocol a spec names. */
	CHECK(parse("-p", "TCP:25", NULL) == CONFIG_ERROR);
}

static void
test_numbers(void)
{
	CHECK(parse("-t", "0", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--timeout") && strstr(err, "'0'"));
	CHECK(parse("--timeout=abc", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--timeout") && strstr(err, "abc"));
	CHECK(parse("-i", "0", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--interval") != NULL);
	CHECK(parse("--interval=-5", NULL) == CONFIG_ERROR);
	CHECK(parse("-v", "2", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--ssl-verify") != NULL);
	CHECK(parse("--max-children=0", NULL) == CONFIG_ERROR);
	CHECK(parse("--retries=-1", NULL) == CONFIG_ERROR);
	CHECK(parse("--retry-delay=x", NULL) == CONFIG_ERROR);
	CHECK(parse("-t", "7", "-i", "2", "-v", "0", "--retries=0",
	    "--retry-delay=100", "--max-children", "3", NULL) == CONFIG_OK);
	CHECK(cfg.timeout_s == 7 && cfg.interval_s == 2 && !cfg.ssl_verify);
	CHECK(cfg.retries == 0 && cfg.retry_delay_ms == 100 &&
	    cfg.max_children == 3);
}

static void
test_flags_and_paths(void)
{
	CHECK(parse("-d", "-f", "-n", "-l", "syslog", "-k", "/tmp/p.pid",
	    "-S", "/tmp/sock", "-c", "/tmp/cred", "--lmtp-from=a@b",
	    "--lmtp-to", "c@d", NULL) == CONFIG_OK);
	CHECK(cfg.debug && cfg.foreground && cfg.dry_run);
	CHECK_STR(cfg.logfile, "syslog");
	CHECK_STR(cfg.lockfile, "/tmp/p.pid");
	CHECK_STR(cfg.director_socket, "/tmp/sock");
	CHECK_STR(cfg.credfile, "/tmp/cred");
	CHECK_STR(cfg.proto_opts[POPT_LMTP_FROM], "a@b");
	CHECK_STR(cfg.proto_opts[POPT_LMTP_TO], "c@d");
	/* Long names as 0.7 spelt them, and bundled short options. */
	CHECK(parse("--debug", "--foreground", "--dry-run", "--logfile=/x",
	    "--lockfile=/y", "--socket=/z", "--credfile=/c", NULL) ==
	    CONFIG_OK);
	CHECK(cfg.debug && cfg.foreground && cfg.dry_run);
	CHECK_STR(cfg.logfile, "/x");
	CHECK(parse("-dfn", NULL) == CONFIG_OK);
	CHECK(cfg.debug && cfg.foreground && cfg.dry_run);
	/* -f without -l logs to stderr. */
	CHECK(cfg.logfile == NULL);
}

static void
test_bad_options(void)
{
	CHECK(parse("--bogus", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--bogus") != NULL);
	CHECK(parse("-x", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "-x") != NULL);
	CHECK(parse("-p", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "-p") != NULL && strstr(err, "argument"));
	CHECK(parse("--port", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--port") != NULL);
	CHECK(parse("--debug=1", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--debug") != NULL);
	CHECK(parse("extra", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "extra") != NULL);
	CHECK(parse("--lmtp-to=a\r\nDATA", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--lmtp-to") != NULL);
	CHECK(parse("--lmtp-to=", NULL) == CONFIG_ERROR);
	CHECK_STR(err, "--lmtp-to '': invalid address");
	CHECK(parse("--lmtp-from=<a>", NULL) == CONFIG_ERROR);
	CHECK_STR(err, "--lmtp-from '<a>': invalid address");
	/* The last one given counts, as for every option. */
	CHECK(parse("--lmtp-to=", "--lmtp-to=x@y", NULL) == CONFIG_OK);
	CHECK_STR(cfg.proto_opts[POPT_LMTP_TO], "x@y");
	CHECK(parse("--lmtp", "x", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "ambiguous") != NULL);
}

static void
test_tls_options(void)
{
	CHECK(parse(NULL) == CONFIG_OK);
	CHECK(cfg.ssl_ca == NULL && cfg.ssl_name == NULL && !cfg.no_ptr);
	CHECK(parse("--ssl-ca=/etc/ca.pem", "--ssl-name", "imap.example.org",
	    "--no-ptr", NULL) == CONFIG_OK);
	CHECK_STR(cfg.ssl_ca, "/etc/ca.pem");
	CHECK_STR(cfg.ssl_name, "imap.example.org");
	CHECK(cfg.no_ptr);
	CHECK(parse("--ssl-name=192.0.2.7", NULL) == CONFIG_OK);
	CHECK_STR(cfg.ssl_name, "192.0.2.7");
	CHECK(parse("--ssl-name=2001:db8::1", NULL) == CONFIG_OK);
	CHECK(parse("--ssl-name=", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--ssl-name") != NULL);
	CHECK(parse("--ssl-name=a b", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--ssl-name 'a b'") != NULL);
	CHECK(parse("--ssl-name=x\r\n", NULL) == CONFIG_ERROR);
	CHECK(parse("--ssl-name=-x", NULL) == CONFIG_ERROR);
	CHECK(parse("--ssl-ca", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--ssl-ca") && strstr(err, "argument"));
	CHECK(parse("--no-ptr=1", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--no-ptr") != NULL);
}

static void
test_usage_mentions_tls_options(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	config_usage(f);
	fclose(f);
	CHECK(strstr(text, "--ssl-ca=FILE") != NULL);
	CHECK(strstr(text, "--ssl-name=NAME") != NULL);
	CHECK(strstr(text, "--no-ptr") != NULL);
	free(text);
}

/* --help's protocol lines come from the table, 0.7's words for its own. */
static void
test_usage_protocols(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	config_usage(f);
	fclose(f);
	CHECK(strstr(text, "\n  -p, --port=PORT        Port to check; repeat "
	    "for several (default: 110, 143)\n"
	    "  -s, --ssl=PORT         Port with implicit TLS; repeat for "
	    "several\n"
	    "                         PORT is NUMBER or PROTO:NUMBER, PROTO "
	    "one of IMAP,\n"
	    "                         POP3, LMTP, SIEVE (any case). 143 and 993 "
	    "are IMAP,\n"
	    "                         110 and 995 POP3, 24 LMTP, 4190 SIEVE; "
	    "other ports\n"
	    "                         need any banner line.\n"
	    "  -v, --ssl-verify=0|1") != NULL);
	CHECK(strstr(text, "not readable by others\n"
	    "      --lmtp-from=ADDR   LMTP sender address (default: empty)\n"
	    "      --lmtp-to=ADDR     LMTP recipient; makes the LMTP check a "
	    "transaction\n"
	    "  -S, --socket=PATH") != NULL);
	free(text);
}

/*
 * The table keeps what its readers count on: a name and a port mean one
 * protocol each, every option slot has its option, and a protocol that
 * logs in names its login's step and the upgrade a plain port must offer.
 */
static void
test_protocol_table(void)
{
	const struct protocol *p, *q;
	enum mail_proto found;
	int i, j;

	for (i = 0; i < POPT_COUNT; i++) {
		CHECK(protocol_option(i) != NULL);
		CHECK(protocol_option(i)->slot == (enum proto_opt)i);
	}
	for (i = PROTO_BANNER; i < PROTO_COUNT; i++) {
		p = protocol_get(i);
		CHECK(p->name != NULL && p->tls_name != NULL);
		CHECK(p->check != NULL);
		CHECK(p->login == LOGIN_NONE ||
		    (p->login_step != NULL && p->starttls != NULL));
		if (i == PROTO_BANNER)
			continue;
		CHECK(protocol_by_name(p->name, strlen(p->name), &found) == 0);
		CHECK(found == (enum mail_proto)i);
		if (p->port != 0)
			CHECK(protocol_by_port(p->port) == (enum mail_proto)i);
		if (p->tls_port != 0)
			CHECK(protocol_by_port(p->tls_port) ==
			    (enum mail_proto)i);
		for (j = PROTO_BANNER + 1; j < i; j++) {
			q = protocol_get(j);
			CHECK(strcasecmp(p->name, q->name) != 0);
		}
	}
	CHECK(protocol_by_name("TCP", 3, &found) < 0);
	CHECK(protocol_by_name("imap", 4, &found) == 0 && found == PROTO_IMAP);
	CHECK(protocol_by_name("IMAPX", 4, &found) == 0);
	CHECK(protocol_by_name("IMA", 3, &found) < 0);
	CHECK(protocol_by_port(0) == PROTO_BANNER);
	CHECK(protocol_by_port(25) == PROTO_BANNER);
	CHECK(protocol_get(PROTO_COUNT) == protocol_get(PROTO_BANNER));
}

static void
test_proto_names(void)
{
	CHECK_STR(mail_proto_name(PROTO_IMAP, false), "IMAP");
	CHECK_STR(mail_proto_name(PROTO_IMAP, true), "IMAPS");
	CHECK_STR(mail_proto_name(PROTO_POP3, true), "POP3S");
	CHECK_STR(mail_proto_name(PROTO_LMTP, false), "LMTP");
	CHECK_STR(mail_proto_name(PROTO_SIEVE, false), "SIEVE");
	CHECK_STR(mail_proto_name(PROTO_SIEVE, true), "SIEVES");
	CHECK_STR(mail_proto_name(PROTO_BANNER, false), "TCP");
}

static void
test_control_options(void)
{
	CHECK(parse(NULL) == CONFIG_OK);
	CHECK_STR(cfg.control_socket, "/run/poolmon/poolmond.sock");
	CHECK_STR(cfg.control_group, "root");
	CHECK(parse("--control-socket=/tmp/x/ctl.sock", "--control-group",
	    "mailadm", NULL) == CONFIG_OK);
	CHECK_STR(cfg.control_socket, "/tmp/x/ctl.sock");
	CHECK_STR(cfg.control_group, "mailadm");
	CHECK(parse("--control-socket=", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--control-socket") != NULL);
	CHECK(parse("--control-socket=/0123456789012345678901234567890123456789"
	    "01234567890123456789012345678901234567890123456789012345678901234"
	    "56789", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "107") != NULL);
	CHECK(parse("--control-group=", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--control-group") != NULL);
	CHECK(parse("--control-group", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "argument") != NULL);
}

/*
 * A daemon changes to /: relative paths are made absolute against the
 * directory poolmond was started in, before it forks.
 */
static void
test_relative_paths(void)
{
	char cwd[PATH_MAX], want[PATH_MAX + 64], longdir[200];
	char *old = getcwd(cwd, sizeof(cwd));

	CHECK(old != NULL && chdir("/tmp") == 0);
	CHECK(parse("-S", "run/director-admin", "-c", "./cred", "-k",
	    "pm.pid", "-l", "log/poolmon.log", "--state-file", "st",
	    "--control-socket", "ctl.sock", NULL) == CONFIG_OK);
	CHECK_STR(cfg.director_socket, "/tmp/run/director-admin");
	CHECK_STR(cfg.credfile, "/tmp/cred");
	CHECK_STR(cfg.lockfile, "/tmp/pm.pid");
	CHECK_STR(cfg.logfile, "/tmp/log/poolmon.log");
	CHECK_STR(cfg.state_file, "/tmp/st");
	CHECK_STR(cfg.control_socket, "/tmp/ctl.sock");
	/* Absolute ones, syslog and the defaults are left as they are. */
	CHECK(parse("-S", "/a/b", "-l", "syslog", NULL) == CONFIG_OK);
	CHECK_STR(cfg.director_socket, "/a/b");
	CHECK_STR(cfg.logfile, "syslog");
	CHECK_STR(cfg.state_file, "/var/lib/poolmon/state");
	CHECK(parse("-l", "journal", NULL) == CONFIG_OK);
	CHECK_STR(cfg.logfile, "journal");
	CHECK(cfg.credfile == NULL);
	CHECK(chdir("/") == 0);
	CHECK(parse("-k", "x.pid", NULL) == CONFIG_OK);
	CHECK_STR(cfg.lockfile, "/x.pid");
	/* A socket path too long once absolute names the option. */
	snprintf(longdir, sizeof(longdir), "/tmp/poolmon-unit-options-%0100d",
	    0);
	CHECK(mkdir(longdir, 0700) == 0 && chdir(longdir) == 0);
	CHECK(parse("--control-socket", "ctl.sock", NULL) == CONFIG_ERROR);
	snprintf(want, sizeof(want), "--control-socket '%s/ctl.sock': must "
	    "be a path of at most 107 bytes (absolute)", longdir);
	CHECK_STR(err, want);
	CHECK(chdir("/") == 0 && rmdir(longdir) == 0);
	CHECK(old == NULL || chdir(cwd) == 0);
}

/* The fleet's options come together; bad ones name themselves. */
static void
test_fleet_options(void)
{
	CHECK(parse("--fleet-listen=192.0.2.1", "--fleet-peer=ring",
	    "--fleet-peer=192.0.2.2:9000", "--fleet-peer=[2001:db8::3]",
	    "--fleet-key=/etc/k", "--fleet-quorum=2",
	    "--source-address=192.0.2.1", NULL) == CONFIG_OK);
	CHECK_STR(cfg.fleet_listen, "192.0.2.1");
	CHECK(cfg.fleet_ring && cfg.nfleet_peers == 2);
	CHECK_STR(cfg.fleet_peers[1], "[2001:db8::3]");
	CHECK(cfg.fleet_quorum == 2);
	CHECK_STR(cfg.source_address, "192.0.2.1");
	/* Each without --fleet-listen, and --fleet-listen without them. */
	CHECK(parse("--fleet-peer=ring", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--fleet-peer needs --fleet-listen") != NULL);
	CHECK(parse("--fleet-key=/k", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--fleet-key") != NULL);
	CHECK(parse("--fleet-listen=192.0.2.1", "--fleet-peer=ring",
	    NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--fleet-key") != NULL);
	CHECK(parse("--fleet-listen=192.0.2.1", "--fleet-key=/k",
	    NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--fleet-peer") != NULL);
	/* Wildcards, itself, twice, not addresses, out of range. */
	CHECK(parse("--fleet-listen=0.0.0.0", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--fleet-listen '0.0.0.0'") != NULL);
	CHECK(parse("--fleet-listen=192.0.2.1", "--fleet-key=/k",
	    "--fleet-peer=192.0.2.1:9094", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "this monitor") != NULL);
	CHECK(parse("--fleet-listen=192.0.2.1", "--fleet-key=/k",
	    "--fleet-peer=192.0.2.2", "--fleet-peer=192.0.2.2:9094",
	    NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "given twice") != NULL);
	CHECK(parse("--fleet-peer=dir2.example", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--fleet-peer 'dir2.example'") != NULL);
	CHECK(parse("--fleet-listen=192.0.2.1:0", NULL) == CONFIG_ERROR);
	CHECK(parse("--fleet-quorum=0", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--fleet-quorum") != NULL);
	CHECK(parse("--source-address=host", NULL) == CONFIG_ERROR);
	CHECK(strstr(err, "--source-address 'host'") != NULL);
}

int
main(void)
{
	RUN(test_defaults);
	RUN(test_ports);
	RUN(test_bad_ports);
	RUN(test_numbers);
	RUN(test_flags_and_paths);
	RUN(test_bad_options);
	RUN(test_tls_options);
	RUN(test_usage_mentions_tls_options);
	RUN(test_usage_protocols);
	RUN(test_protocol_table);
	RUN(test_proto_names);
	RUN(test_control_options);
	RUN(test_relative_paths);
	RUN(test_fleet_options);
	config_free(&cfg);
	return UNIT_EXIT();
}
