/* poolmonctl's JSON: the writer's escaping and the keys of each reply. */
#include <stdlib.h>

#include "../../poolmonctl/json.h"
#include "../../poolmonctl/output.h"
#include "unit.h"

static char *buf;
static size_t buflen;

static FILE *
mem_open(void)
{
	free(buf);
	buf = NULL;
	return open_memstream(&buf, &buflen);
}

static const char *
escaped(const char *s)
{
	FILE *f = mem_open();

	json_write_string(f, s);
	fclose(f);
	return buf;
}

static void
test_escaping(void)
{
	CHECK_STR(escaped("plain"), "\"plain\"");
	CHECK_STR(escaped("a\"b\\c"), "\"a\\\"b\\\\c\"");
	CHECK_STR(escaped("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
	CHECK_STR(escaped("\001\037\177"), "\"\\u0001\\u001f\\u007f\"");
	CHECK_STR(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7"),
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\"");
	/* Not UTF-8: a stray byte, an overlong '/', a surrogate, a cut. */
	CHECK_STR(escaped("x\xffy"), "\"x\\ufffdy\"");
	CHECK_STR(escaped("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
	CHECK_STR(escaped("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
	CHECK_STR(escaped("\xe2\x82"), "\"\\ufffd\\ufffd\"");
	CHECK_STR(escaped(NULL), "null");
}

static void
test_nesting(void)
{
	FILE *f = mem_open();
	struct json j;

	json_init(&j, f);
	json_object_begin(&j);
	json_key(&j, "a");
	json_int(&j, -5);
	json_key(&j, "empty");
	json_array_begin(&j);
	json_array_end(&j);
	json_key(&j, "list");
	json_array_begin(&j);
	json_bool(&j, true);
	json_null(&j);
	json_object_begin(&j);
	json_object_end(&j);
	json_array_end(&j);
	json_key(&j, "u");
	json_uint(&j, 18446744073709551615ull);
	json_key(&j, "min");
	json_int(&j, INT64_MIN);
	json_key(&j, "zero");
	json_uint(&j, 0);
	json_object_end(&j);
	json_finish(&j);
	fclose(f);
	CHECK_STR(buf, "{\n  \"a\": -5,\n  \"empty\": [],\n  \"list\": [\n"
	    "    true,\n    null,\n    {}\n  ],\n"
	    "  \"u\": 18446744073709551615,\n"
	    "  \"min\": -9223372036854775808,\n  \"zero\": 0\n}\n");
}

/* A status reply in two parts, as a large pool would send it. */
static Poolmon__PortCheck pc_ok, pc_bad, pc_new;
static Poolmon__PortCheck *checks_a[] = { &pc_ok, &pc_bad };
static Poolmon__PortCheck *checks_b[] = { &pc_new };
static Poolmon__Backend be_a, be_b;
static Poolmon__Backend *part1_b[] = { &be_a };
static Poolmon__Backend *part2_b[] = { &be_b };
static Poolmon__Summary summary;
static Poolmon__StatusReply st1, st2;
static Poolmon__Response r1, r2;

static void
build_status(void)
{
	poolmon__port_check__init(&pc_ok);
	pc_ok.port = 143;
	pc_ok.protocol = (char *)"IMAP";
	pc_ok.has_checked = pc_ok.checked = 1;
	pc_ok.has_ok = pc_ok.ok = 1;
	pc_ok.status = (char *)"ok";
	pc_ok.has_latency_ms = 1;
	pc_ok.latency_ms = 4;
	pc_ok.has_tries = 1;
	pc_ok.tries = 1;
	poolmon__port_check__init(&pc_bad);
	pc_bad.port = 995;
	pc_bad.protocol = (char *)"POP3";
	pc_bad.has_tls = pc_bad.tls = 1;
	pc_bad.has_checked = pc_bad.checked = 1;
	pc_bad.has_ok = 1;
	pc_bad.status = (char *)"connect failed";
	pc_bad.reason = (char *)"connect: Connection refused";
	pc_bad.tries = 4;
	poolmon__port_check__init(&pc_new);
	pc_new.port = 143;
	pc_new.protocol = (char *)"IMAP";
	poolmon__backend__init(&be_a);
	be_a.address = (char *)"127.0.6.1";
	be_a.tag = (char *)"blue\"tag";
	be_a.has_director_up = 1;
	be_a.has_vhost_count = 1;
	be_a.vhost_count = 100;
	be_a.users = 7;
	be_a.has_health = 1;
	be_a.health = POOLMON__HEALTH__HEALTH_FAILED;
	be_a.reason = (char *)"POP3S:995 connect: Connection refused";
	be_a.has_last_check = 1;
	be_a.last_check = 1700000000;
	be_a.n_checks = 2;
	be_a.checks = checks_a;
	poolmon__backend__init(&be_b);
	be_b.address = (char *)"127.0.6.2";
	be_b.has_director_up = be_b.director_up = 1;
	be_b.has_router_state = 1;
	be_b.router_state = 2;
	be_b.n_checks = 1;
	be_b.checks = checks_b;
	poolmon__summary__init(&summary);
	summary.daemon_version = (char *)"0.9.0";
	summary.director_socket = (char *)"/run/dovecot/director-admin";
	summary.has_director_reachable = summary.director_reachable = 1;
	summary.has_dry_run = summary.dry_run = 1;
	summary.has_scans_completed = 1;
	summary.scans_completed = 3;
	summary.backends_total = 2;
	poolmon__status_reply__init(&st1);
	st1.summary = &summary;
	st1.n_backends = 1;
	st1.backends = part1_b;
	poolmon__status_reply__init(&st2);
	st2.n_backends = 1;
	st2.backends = part2_b;
	poolmon__response__init(&r1);
	r1.success = 1;
	r1.has_more = r1.more = 1;
	r1.result_case = POOLMON__RESPONSE__RESULT_STATUS;
	r1.status = &st1;
	poolmon__response__init(&r2);
	r2.success = 1;
	r2.result_case = POOLMON__RESPONSE__RESULT_STATUS;
	r2.status = &st2;
}

static const char *
render(struct ctl_reply *reply, bool json)
{
	FILE *f = mem_open();

	ctl_print_reply(f, reply, json);
	fclose(f);
	return buf;
}

static void
test_status_keys(void)
{
	Poolmon__Response *parts[] = { &r1, &r2 };
	struct ctl_reply reply = { parts, 2 };
	const char *out;

	build_status();
	out = render(&reply, true);
	CHECK(strstr(out, "\"dry_run\": true,") != NULL);
	CHECK(strstr(out, "\"scans_completed\": 3,") != NULL);
	CHECK(strstr(out, "\"director_reachable\": true,") != NULL);
	CHECK(strstr(out, "\"director_error\": null,") != NULL);
	CHECK(strstr(out, "\"backends\": [") != NULL);
	/* Both parts' backends, in order. */
	CHECK(strstr(out, "127.0.6.1") != NULL &&
	    strstr(out, "127.0.6.2") > strstr(out, "127.0.6.1"));
	CHECK(strstr(out, "\"tag\": \"blue\\\"tag\",") != NULL);
	CHECK(strstr(out, "\"director_state\": \"down\",") != NULL);
	CHECK(strstr(out, "\"director_state\": \"up\",") != NULL);
	CHECK(strstr(out, "\"vhost_count\": 100,\n      \"router_state\": "
	    "null,") != NULL);
	/* The Lua director's backend: no vhosts, the state column. */
	CHECK(strstr(out, "\"vhost_count\": null,\n      \"router_state\": "
	    "2,") != NULL);
	/* An older daemon says nothing of its router: a director. */
	CHECK(strstr(out, "\"router\": {\n    \"kind\": \"director\",") !=
	    NULL);
	CHECK(strstr(out, "\"users\": 7,") != NULL);
	CHECK(strstr(out, "\"healthy\": false,") != NULL);
	CHECK(strstr(out, "\"healthy\": null,") != NULL);
	CHECK(strstr(out, "\"last_check\": 1700000000,") != NULL);
	CHECK(strstr(out, "\"last_check\": null,") != NULL);
	CHECK(strstr(out, "\"reason\": \"POP3S:995 connect: Connection "
	    "refused\",") != NULL);
	CHECK(strstr(out, "\"port\": 995,") != NULL);
	CHECK(strstr(out, "\"protocol\": \"POP3\",") != NULL);
	CHECK(strstr(out, "\"tls\": true,") != NULL);
	CHECK(strstr(out, "\"ok\": false,") != NULL);
	CHECK(strstr(out, "\"ok\": true,") != NULL);
	CHECK(strstr(out, "\"ok\": null,") != NULL);
	CHECK(strstr(out, "\"latency_ms\": 4,") != NULL);
	CHECK(strstr(out, "\"error\": \"connect: Connection refused\",")
	    != NULL);
	CHECK(strstr(out, "\"error\": null,") != NULL);
	CHECK(out[strlen(out) - 1] == '\n' && out[strlen(out) - 2] == '}');
	out = render(&reply, false);
	CHECK(strstr(out, "dry-run:   on") != NULL);
	CHECK(strstr(out, "ADDRESS") != NULL);
	CHECK(strstr(out, "127.0.6.2") != NULL);
	CHECK(strstr(out, "unchecked") != NULL);
}

static void
test_other_replies(void)
{
	Poolmon__Response r = POOLMON__RESPONSE__INIT, *parts[] = { &r };
	Poolmon__SetDryRunReply dr = POOLMON__SET_DRY_RUN_REPLY__INIT;
	Poolmon__VersionReply vr = POOLMON__VERSION_REPLY__INIT;
	Poolmon__RecheckReply rr = POOLMON__RECHECK_REPLY__INIT;
	Poolmon__ShowReply sr = POOLMON__SHOW_REPLY__INIT;
	char *nf[] = { (char *)"127.0.6.9" };
	struct ctl_reply reply = { parts, 1 };

	build_status();
	dr.dry_run = 1;
	r.result_case = POOLMON__RESPONSE__RESULT_SET_DRY_RUN;
	r.set_dry_run = &dr;
	CHECK_STR(render(&reply, true), "{\n  \"dry_run\": true,\n"
	    "  \"previous\": false\n}\n");
	CHECK_STR(render(&reply, false), "dry-run on (was off)\n");
	vr.daemon_version = (char *)"0.9.0";
	vr.protocol_version = 1;
	vr.pid = 42;
	r.result_case = POOLMON__RESPONSE__RESULT_VERSION_INFO;
	r.version_info = &vr;
	CHECK(strstr(render(&reply, true), "\"protocol_version\": 1,"));
	CHECK(strstr(buf, "\"client_version\": \"") != NULL);
	rr.has_scan_id = 1;
	rr.scan_id = 5;
	rr.n_backends = 1;
	rr.backends = part2_b;
	rr.n_not_found = 1;
	rr.not_found = nf;
	r.result_case = POOLMON__RESPONSE__RESULT_RECHECK;
	r.recheck = &rr;
	CHECK(strstr(render(&reply, true), "\"scan_id\": 5,"));
	CHECK(strstr(buf, "\"queued\": false,") != NULL);
	CHECK(strstr(buf, "\"not_found\": [\n    \"127.0.6.9\"\n  ]"));
	sr.backend = &be_a;
	r.result_case = POOLMON__RESPONSE__RESULT_SHOW;
	r.show = &sr;
	CHECK(strstr(render(&reply, true), "{\n  \"address\": \"127.0.6.1\""));
	CHECK(strstr(render(&reply, false), "POP3S:995") != NULL);
	CHECK(strstr(buf, "4 tries") != NULL);
	/* A bare error carries no result: nothing on stdout. */
	r.result_case = POOLMON__RESPONSE__RESULT__NOT_SET;
	CHECK_STR(render(&reply, true), "");
}

/* Under the Lua director: "router" says so, the text says which. */
static void
test_router_lua(void)
{
	Poolmon__Response *parts[] = { &r1, &r2 };
	struct ctl_reply reply = { parts, 2 };
	Poolmon__Router router = POOLMON__ROUTER__INIT;
	const char *out;

	build_status();
	router.kind = (char *)"lua-director";
	router.target = (char *)"postgresql://poolmon@db1/mail";
	router.has_reachable = 1;
	summary.router = &router;
	summary.director_reachable = 0;
	out = render(&reply, true);
	CHECK(strstr(out, "\"router\": {\n    \"kind\": \"lua-director\",\n"
	    "    \"target\": \"postgresql://poolmon@db1/mail\",\n"
	    "    \"reachable\": false\n  },") != NULL);
	out = render(&reply, false);
	CHECK(strstr(out, "router:    lua-director postgresql://poolmon@db1/"
	    "mail, unreachable") != NULL);
	summary.router = NULL;
}

/* A status with the summary's policy, so text prints the ring line. */
static const char *
render_status(bool json)
{
	Poolmon__Response *parts[] = { &r1, &r2 };
	struct ctl_reply reply = { parts, 2 };

	summary.has_fall = 1;
	return render(&reply, json);
}

/*
 * ring_synced is null while the ring is unknown (the director is
 * unreachable); an older daemon's bool, or none at all, still reads.
 */
static void
test_ring_state(void)
{
	build_status();
	summary.has_ring_state = 1;
	summary.ring_state = POOLMON__RING_STATE__RING_UNKNOWN;
	summary.has_ring_synced = summary.ring_synced = 1;
	summary.director_reachable = 0;
	CHECK(strstr(render_status(true), "\"ring_synced\": null,") != NULL);
	CHECK(strstr(buf, "\"ring_state\": \"unknown\",") != NULL);
	CHECK(strstr(render_status(false), "ring:      unknown: the director "
	    "is unreachable\n") != NULL);
	summary.director_reachable = 1;
	CHECK(strstr(render_status(false), "ring:      unknown: not asked "
	    "since the director was unreachable") != NULL);
	summary.ring_state = POOLMON__RING_STATE__RING_NOT_SYNCED;
	CHECK(strstr(render_status(true), "\"ring_synced\": false,") != NULL);
	CHECK(strstr(buf, "\"ring_state\": \"not_synced\",") != NULL);
	CHECK(strstr(render_status(false), "ring:      not synced") != NULL);
	summary.ring_state = POOLMON__RING_STATE__RING_SYNCED;
	CHECK(strstr(render_status(true), "\"ring_synced\": true,") != NULL);
	CHECK(strstr(buf, "\"ring_state\": \"synced\",") != NULL);
	CHECK(strstr(render_status(false), "ring:      synced\n") != NULL);
	/* A value this client does not know yet: unknown, never synced. */
	summary.ring_state = (Poolmon__RingState)7;
	CHECK(strstr(render_status(true), "\"ring_synced\": null,") != NULL);
	/* An older daemon: its bool, and without one no ring gate at all. */
	summary.has_ring_state = 0;
	summary.ring_synced = 0;
	CHECK(strstr(render_status(true), "\"ring_synced\": false,") != NULL);
	CHECK(strstr(buf, "\"ring_state\": \"not_synced\",") != NULL);
	summary.has_ring_synced = 0;
	CHECK(strstr(render_status(true), "\"ring_synced\": true,") != NULL);
	CHECK(strstr(render_status(false), "ring:      synced\n") != NULL);
}

/* The Owner enum, and an older daemon's owner name, read alike. */
static void
test_owner(void)
{
	static const struct {
		Poolmon__Owner owner;
		const char *name, *json, *text;
	} cases[] = {
		{ POOLMON__OWNER__OWNER_HOLD, "hold", "\"owner\": \"hold\",",
		    "held (uid 0 since never)" },
		{ POOLMON__OWNER__OWNER_POOLMOND, "poolmond",
		    "\"owner\": \"poolmond\",", "down by poolmond" },
		{ POOLMON__OWNER__OWNER_OPERATOR, "operator",
		    "\"owner\": \"operator\",", "down by operator" },
		{ POOLMON__OWNER__OWNER_NONE, "", "\"owner\": null,", NULL },
	};
	size_t i, old;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (old = 0; old < 2; old++) {
			build_status();
			be_a.hold_reason = (char *)"";
			if (old)
				be_a.owner = (char *)cases[i].name;
			else {
				be_a.has_ownership = 1;
				be_a.ownership = cases[i].owner;
			}
			CHECK(strstr(render_status(true), cases[i].json));
			CHECK((strstr(buf, "\"hold_reason\": \"\",") != NULL) ==
			    (cases[i].owner == POOLMON__OWNER__OWNER_HOLD));
			if (cases[i].text != NULL)
				CHECK(strstr(render_status(false),
				    cases[i].text) != NULL);
		}
	}
	/* The enum wins over the name. */
	build_status();
	be_a.owner = (char *)"operator";
	be_a.has_ownership = 1;
	be_a.ownership = POOLMON__OWNER__OWNER_NONE;
	CHECK(strstr(render_status(true), "\"owner\": null,") != NULL);
}

/* A fleet of three: one peer live and trusted, one refused. */
static Poolmon__FleetPeer peer_ok, peer_bad;
static Poolmon__FleetPeer *peers[] = { &peer_ok, &peer_bad };
static Poolmon__Fleet fleet;
static Poolmon__Verdict v_self, v_ok, v_unknown;
static Poolmon__Verdict *verdicts[] = { &v_self, &v_ok, &v_unknown };

static void
build_fleet(void)
{
	build_status();
	poolmon__fleet_peer__init(&peer_ok);
	peer_ok.address = (char *)"127.0.9.2:9094";
	peer_ok.has_live = peer_ok.live = 1;
	peer_ok.has_trusted = peer_ok.trusted = 1;
	peer_ok.has_last_seen = 1;
	peer_ok.last_seen = 1700000100;
	peer_ok.has_clock_skew_ms = 1;
	peer_ok.clock_skew_ms = -1200;
	poolmon__fleet_peer__init(&peer_bad);
	peer_bad.address = (char *)"[::1]:9094";
	peer_bad.has_live = peer_bad.live = 1;
	peer_bad.error = (char *)"authentication failed";
	poolmon__fleet__init(&fleet);
	fleet.self = (char *)"127.0.9.1:9094";
	fleet.has_quorum = 1;
	fleet.quorum = 2;
	fleet.has_live = 1;
	fleet.live = 2;
	fleet.n_peers = 2;
	fleet.peers = peers;
	summary.fleet = &fleet;
	poolmon__verdict__init(&v_self);
	v_self.monitor = (char *)"127.0.9.1:9094";
	v_self.has_health = 1;
	v_self.health = POOLMON__HEALTH__HEALTH_FAILED;
	v_self.reason = (char *)"IMAP:143 connect: timed out after 1 s";
	v_self.has_at = 1;
	v_self.at = 1700000050;
	poolmon__verdict__init(&v_ok);
	v_ok.monitor = (char *)"127.0.9.2:9094";
	v_ok.has_health = 1;
	v_ok.health = POOLMON__HEALTH__HEALTH_OK;
	v_ok.at = 1700000060;
	/* Not checked yet: HEALTH_UNKNOWN reads as "unknown" too. */
	poolmon__verdict__init(&v_unknown);
	v_unknown.monitor = (char *)"[::1]:9094";
	v_unknown.has_health = 1;
	v_unknown.health = POOLMON__HEALTH__HEALTH_UNKNOWN;
	be_a.actor = (char *)"127.0.9.1:9094";
	be_a.n_verdicts = 3;
	be_a.verdicts = verdicts;
}

/* Without fleet options: "fleet" null, each backend's actor null and no
 * verdicts; nothing about a fleet in the text. */
static void
test_fleet_absent(void)
{
	build_status();
	render_status(true);
	CHECK(strstr(buf, "\n  \"fleet\": null,\n  \"backends\": [") != NULL);
	CHECK(strstr(buf, "\"actor\": null,\n      \"verdicts\": []\n    }")
	    != NULL);
	CHECK(strstr(strstr(buf, "127.0.6.2"), "\"actor\": null,\n"
	    "      \"verdicts\": []\n    }") != NULL);
	render_status(false);
	CHECK(strstr(buf, "fleet") == NULL && strstr(buf, "actor") == NULL);
}

static void
test_fleet_json(void)
{
	build_fleet();
	render_status(true);
	CHECK(strstr(buf, "\n  \"fleet\": {\n"
	    "    \"self\": \"127.0.9.1:9094\",\n"
	    "    \"quorum\": 2,\n"
	    "    \"live\": 2,\n"
	    "    \"isolated\": false,\n"
	    "    \"peers\": [\n"
	    "      {\n"
	    "        \"address\": \"127.0.9.2:9094\",\n"
	    "        \"live\": true,\n"
	    "        \"trusted\": true,\n"
	    "        \"last_seen\": 1700000100,\n"
	    "        \"error\": null,\n"
	    "        \"clock_skew_ms\": -1200,\n"
	    "        \"dry_run\": false\n"
	    "      },\n"
	    "      {\n"
	    "        \"address\": \"[::1]:9094\",\n"
	    "        \"live\": true,\n"
	    "        \"trusted\": false,\n"
	    "        \"last_seen\": null,\n"
	    "        \"error\": \"authentication failed\",\n"
	    "        \"clock_skew_ms\": null,\n"
	    "        \"dry_run\": false\n"
	    "      }\n"
	    "    ]\n"
	    "  },\n  \"backends\": [") != NULL);
	CHECK(strstr(buf, "\"actor\": \"127.0.9.1:9094\",\n"
	    "      \"verdicts\": [\n"
	    "        {\n"
	    "          \"monitor\": \"127.0.9.1:9094\",\n"
	    "          \"health\": \"failed\",\n"
	    "          \"reason\": \"IMAP:143 connect: timed out after 1 s\",\n"
	    "          \"at\": 1700000050\n"
	    "        },\n"
	    "        {\n"
	    "          \"monitor\": \"127.0.9.2:9094\",\n"
	    "          \"health\": \"ok\",\n"
	    "          \"reason\": null,\n"
	    "          \"at\": 1700000060\n"
	    "        },\n"
	    "        {\n"
	    "          \"monitor\": \"[::1]:9094\",\n"
	    "          \"health\": \"unknown\",\n"
	    "          \"reason\": null,\n"
	    "          \"at\": null\n"
	    "        }\n"
	    "      ]\n    }") != NULL);
	/* HEALTH_UNDETERMINED says the same. */
	v_unknown.health = POOLMON__HEALTH__HEALTH_UNDETERMINED;
	CHECK(strstr(render_status(true), "\"health\": \"unknown\",\n"
	    "          \"reason\": null,\n          \"at\": null") != NULL);
	fleet.isolated = 1;
	CHECK(strstr(render_status(true), "\"isolated\": true,") != NULL);
}

static void
test_fleet_text(void)
{
	Poolmon__Response r = POOLMON__RESPONSE__INIT, *parts[] = { &r };
	Poolmon__ShowReply sr = POOLMON__SHOW_REPLY__INIT;
	struct ctl_reply reply = { parts, 1 };

	build_fleet();
	render_status(false);
	CHECK(strstr(buf, "\nfleet: self 127.0.9.1:9094, 2 of 2 peers live, "
	    "quorum 2\n") != NULL);
	CHECK(strstr(buf, "  peer [::1]:9094: live, not trusted, last seen "
	    "never; authentication failed\n") != NULL);
	CHECK(strstr(buf, "\n    actor 127.0.9.1:9094 (this monitor); "
	    "verdicts: 127.0.9.1:9094 failed, 127.0.9.2:9094 ok, "
	    "[::1]:9094 unknown\n") != NULL);
	fleet.isolated = 1;
	peer_ok.live = 0;
	CHECK(strstr(render_status(false), "fleet: self 127.0.9.1:9094, 1 of "
	    "2 peers live, quorum 2, isolated: no peer trusts this "
	    "monitor\n") != NULL);
	sr.backend = &be_a;
	r.result_case = POOLMON__RESPONSE__RESULT_SHOW;
	r.show = &sr;
	render(&reply, false);
	CHECK(strstr(buf, "  actor:          127.0.9.1:9094\n  verdicts:\n")
	    != NULL);
	CHECK(strstr(buf, "    127.0.9.1:9094         failed   ") != NULL);
	CHECK(strstr(buf, "  IMAP:143 connect: timed out after 1 s\n") != NULL);
	CHECK(strstr(buf, "    [::1]:9094             unknown  never"
	    "                -\n") != NULL);
}

int
main(void)
{
	RUN(test_escaping);
	RUN(test_nesting);
	RUN(test_status_keys);
	RUN(test_router_lua);
	RUN(test_other_replies);
	RUN(test_ring_state);
	RUN(test_owner);
	RUN(test_fleet_absent);
	RUN(test_fleet_json);
	RUN(test_fleet_text);
	free(buf);
	return UNIT_EXIT();
}
