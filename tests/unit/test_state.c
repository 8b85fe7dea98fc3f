/* The state file: parsing, atomic save and reload, corrupt files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "util.h"
#include "unit.h"

static char dir[64];

static char *read_all(const char *path);

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		abort();
	close(fd);
}

/* Files in d whose name starts with prefix, but for . and .. */
static int
count_files(const char *d, const char *prefix)
{
	struct dirent *de;
	DIR *dp = opendir(d);
	int n = 0;

	if (dp == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(dp);
	return n;
}

static void
test_parse(void)
{
	static const char good[] = "poolmon-state 1\n# comment\n"
	    "down\t10.0.0.1\nhold\t10.0.0.2\t1000\t1700000000\t1\t"
	    "disk swap\001tnow\n";
	struct state st = { 0 };
	struct state_entry *e;
	char why[128];

	CHECK(state_parse(&st, good, strlen(good), why, sizeof(why)) == 0);
	CHECK(st.n == 2);
	e = state_find(&st, "10.0.0.1");
	CHECK(e != NULL && e->owner == OWNER_POOLMOND);
	e = state_find(&st, "10.0.0.2");
	CHECK(e != NULL && e->owner == OWNER_HOLD);
	if (e != NULL) {
		CHECK(e->hold.uid == 1000 && e->hold.since == 1700000000);
		CHECK(e->hold.flush);
		CHECK_STR(e->hold.reason, "disk swap\tnow");
	}
	CHECK(state_find(&st, "10.0.0.3") == NULL);
	state_free(&st);
}

/* No state file at all: refused whole (moved aside by state_load). */
static void
test_parse_bad(void)
{
	static const char *const bad[] = {
		"", "garbage\n", "poolmon-state\n", "poolmon-state x\n",
		"poolmon-state 0\n", "poolmon-state 1",
	};
	struct state st = { 0 };
	char why[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		CHECK(state_parse(&st, bad[i], strlen(bad[i]), why,
		    sizeof(why)) == -EINVAL);
		CHECK(why[0] != '\0');
		state_free(&st);
	}
}

/*
 * Issue 19 item 2: one unreadable record costs that record only; the
 * others, before and after it, are kept.
 */
static void
test_bad_line_costs_itself(void)
{
	static const char *const bad[] = {
		"down\tnot-an-ip\n",
		"down\t10.0.0.1\n",			/* listed twice */
		"up\t10.0.0.7\n",			/* unknown kind */
		"hold\t10.0.0.7\tx\t1\t0\tr\n",		/* v1: bad uid */
		"hold\t10.0.0.7\t0\t1\t2\tr\n",		/* v1: bad flag */
		"hold\t10.0.0.7\t0\t1\t0\n",		/* v1: short */
		"down\t10.0.0.7\tdone\n",		/* v1: unknown */
		"down\t10.0.0.7\tat=soon\n",
		"hold\t10.0.0.7\tr\001x\n",		/* bad escape */
		"down\t10.0.0.7",			/* cut short */
	};
	static const char nul[] = "poolmon-state 2\ndown\t10.0.0.3\n\0x\n"
	    "down\t10.0.0.4\n";
	struct state st = { 0 };
	char buf[256], why[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "poolmon-state 1\ndown\t10.0.0.1\n"
		    "%shold\t10.0.0.2\t0\t1\t0\tr\n", bad[i]);
		/* The cut-short line is the last one. */
		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			snprintf(buf, sizeof(buf), "poolmon-state 1\ndown\t"
			    "10.0.0.1\nhold\t10.0.0.2\t0\t1\t0\tr\n%s",
			    bad[i]);
		CHECK(state_parse(&st, buf, strlen(buf), why,
		    sizeof(why)) == 0);
		CHECK(st.skipped == 1);
		CHECK(state_find(&st, "10.0.0.1") != NULL);
		CHECK(state_find(&st, "10.0.0.2") != NULL &&
		    state_find(&st, "10.0.0.2")->owner == OWNER_HOLD);
		CHECK(state_record(&st, "10.0.0.7") == NULL);
		state_free(&st);
	}
	/* A NUL byte costs its line. */
	CHECK(state_parse(&st, nul, sizeof(nul) - 1, why, sizeof(why)) == 0);
	CHECK(st.skipped == 1 && st.n == 2);
	state_free(&st);
}

/*
 * What a newer poolmond wrote: records of kinds this one does not know
 * are skipped, fields it does not know ignored, the rest read.
 */
static void
test_newer_file(void)
{
	static const char newer[] = "poolmon-state 7\n"
	    "down\t10.0.0.1\tat=5\tlc=2\tby=127.0.0.2:9094\tweight=3\n"
	    "quota\t10.0.0.2\tmax=9\n"
	    "hold\t10.0.0.3\tuid=4\treason=r\tcolour=blue\n";
	struct state st = { 0 };
	struct state_entry *e;
	char why[128];

	CHECK(state_parse(&st, newer, strlen(newer), why, sizeof(why)) == 0);
	CHECK(st.skipped == 1 && st.n == 2);
	e = state_find(&st, "10.0.0.1");
	CHECK(e != NULL && e->at.ms == 5 && e->at.count == 2);
	CHECK_STR(e != NULL ? e->origin : NULL, "127.0.0.2:9094");
	e = state_find(&st, "10.0.0.3");
	CHECK(e != NULL && e->owner == OWNER_HOLD && e->hold.uid == 4);
	/* What is done here orders after every stamp the file holds. */
	CHECK(st.hlc.last.ms >= 5);
	state_free(&st);
}

/*
 * Item 2: everything an operator can type in a reason, and the fleet's
 * fields, survive a save and a load word for word; a version 1 file
 * whose hold reason reads like a fleet field is read right.
 */
static void
test_reasons_round_trip(void)
{
	static const char *const reasons[] = {
		"by=alice: disk swap", "at=1700000000000", "by=", "at=",
		"tab\there\tand\tthere", "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x94\xa7",
		"\001", "pending", "reason=x=y", "", "trailing tab\t",
	};
	static const char v1[] = "poolmon-state 1\n"
	    "hold\t10.0.0.1\t0\t1\t0\tby=alice: disk swap\n"
	    "hold\t10.0.0.2\t0\t1\t1\tat=5\tat=77\tby=127.0.0.2:9094\n";
	struct state st = { .fleet = true, .self = "127.0.0.1:9094" };
	struct state back = { .fleet = true };
	struct hold_info h = { .uid = 1000, .since = 1700000000 };
	char path[128], ip[32], why[128];
	const struct state_entry *e;
	size_t i;

	snprintf(path, sizeof(path), "%s/reasons", dir);
	st.path = path;
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(ip, sizeof(ip), "10.1.0.%zu", i + 1);
		str_copy(h.reason, reasons[i], sizeof(h.reason));
		CHECK(state_set(&st, ip, OWNER_HOLD, &h) == 0);
	}
	CHECK(state_save(&st) == 0);
	CHECK(state_load(&back, path) == 0);
	CHECK(back.skipped == 0 && back.n == st.n);
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(ip, sizeof(ip), "10.1.0.%zu", i + 1);
		e = state_find(&back, ip);
		CHECK(e != NULL && e->owner == OWNER_HOLD &&
		    e->hold.uid == 1000);
		CHECK_STR(e != NULL ? e->hold.reason : NULL, reasons[i]);
		CHECK_STR(e != NULL ? e->origin : NULL, "127.0.0.1:9094");
		CHECK(e != NULL && hlc_cmp(e->at,
		    state_find(&st, ip)->at) == 0);
	}
	state_free(&st);
	state_free(&back);

	CHECK(state_parse(&back, v1, strlen(v1), why, sizeof(why)) == 0);
	CHECK(back.skipped == 0 && back.n == 2);
	e = state_find(&back, "10.0.0.1");
	CHECK_STR(e != NULL ? e->hold.reason : NULL, "by=alice: disk swap");
	e = state_find(&back, "10.0.0.2");
	CHECK_STR(e != NULL ? e->hold.reason : NULL, "at=5");
	CHECK(e != NULL && e->at.ms == 77 && e->hold.flush);
	state_free(&back);
}

static void
test_save_load(void)
{
	struct state st = { 0 }, back = { 0 };
	struct hold_info h = { .uid = 7, .since = 42, .flush = false };
	char path[128], sub[80];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/sub/state", dir);
	snprintf(h.reason, sizeof(h.reason), "new\nline\ttab");
	CHECK(state_load(&st, path) == 0);	/* missing: first start */
	CHECK(st.n == 0);
	CHECK(state_set(&st, "10.0.0.9", OWNER_POOLMOND, NULL) == 0);
	CHECK(state_set(&st, "::1", OWNER_HOLD, &h) == 0);
	CHECK(state_save(&st) == 0);	/* creates sub/ */
	/* Not readable by others: it names hosts and who holds them. */
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 007) == 0);
	snprintf(path + strlen(path), 8, ".tmp");
	CHECK(access(path, F_OK) < 0);	/* no temp file left */
	path[strlen(path) - 4] = '\0';
	/* Nothing else in sub/: no temporary file of ours left over. */
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CHECK(count_files(sub, "") == 1);
	CHECK(state_load(&back, path) == 0);
	CHECK(back.n == 2);
	CHECK(state_find(&back, "10.0.0.9") != NULL);
	if (state_find(&back, "::1") != NULL)
		CHECK_STR(state_find(&back, "::1")->hold.reason,
		    "new\nline\ttab");
	CHECK(state_remove(&back, "10.0.0.9"));
	CHECK(!state_remove(&back, "10.0.0.9"));
	CHECK(back.n == 1);
	state_free(&st);
	state_free(&back);
}

/*
 * An intent (HOST-DOWN about to be sent) is written with its mark and
 * read back with it; a confirmed entry and an old file (no mark) load
 * as confirmed; a mark other than "pending" is corrupt.
 */
static void
test_pending_intent(void)
{
	static const char old[] = "poolmon-state 1\ndown\t10.0.0.1\n";
	struct state st = { 0 }, back = { 0 };
	char path[128], why[128];

	CHECK(state_parse(&st, old, strlen(old), why, sizeof(why)) == 0);
	CHECK(st.n == 1 && !state_find(&st, "10.0.0.1")->pending);
	state_free(&st);
	/* A mark other than "pending" costs its record. */
	CHECK(state_parse(&st, "poolmon-state 1\ndown\t10.0.0.1\tdone\n",
	    35, why, sizeof(why)) == 0);
	CHECK(st.n == 0 && st.skipped == 1);
	state_free(&st);

	snprintf(path, sizeof(path), "%s/intent", dir);
	CHECK(state_load(&st, path) == 0);
	CHECK(state_set(&st, "10.0.0.1", OWNER_POOLMOND, NULL) == 0);
	CHECK(state_set(&st, "10.0.0.2", OWNER_POOLMOND, NULL) == 0);
	state_find(&st, "10.0.0.2")->pending = true;
	CHECK(state_save(&st) == 0);
	CHECK(state_load(&back, path) == 0);
	CHECK(back.n == 2);
	CHECK(state_find(&back, "10.0.0.1") != NULL &&
	    !state_find(&back, "10.0.0.1")->pending);
	CHECK(state_find(&back, "10.0.0.2") != NULL &&
	    state_find(&back, "10.0.0.2")->pending &&
	    state_find(&back, "10.0.0.2")->owner == OWNER_POOLMOND);
	/* Set again (a new batch, a hold): no longer an intent. */
	CHECK(state_set(&back, "10.0.0.2", OWNER_POOLMOND, NULL) == 0);
	CHECK(!state_find(&back, "10.0.0.2")->pending);
	state_free(&st);
	state_free(&back);
}

/* No state file at all (its header): moved aside, start empty. */
static void
test_corrupt_moved_aside(void)
{
	struct state st = { 0 };
	char path[128], aside[140];

	snprintf(path, sizeof(path), "%s/corrupt", dir);
	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	write_file(path, "not a state file\ndown\t10.0.0.1\n");
	CHECK(state_load(&st, path) == 0);
	CHECK(st.n == 0);
	CHECK(access(path, F_OK) < 0);
	CHECK(access(aside, F_OK) == 0);
	state_free(&st);
}

/* One bad record: the others loaded, the file left in place and a copy
 * of it as it was kept beside it. */
static void
test_bad_record_kept_aside(void)
{
	static const char text[] = "poolmon-state 2\ndown\tbogus\n"
	    "hold\t10.0.0.2\tuid=0\treason=keep me\n";
	struct state st = { 0 };
	char path[128], aside[140];

	snprintf(path, sizeof(path), "%s/onebad", dir);
	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	write_file(path, text);
	CHECK(state_load(&st, path) == 0);
	CHECK(st.n == 1 && st.skipped == 1);
	CHECK(state_find(&st, "10.0.0.2") != NULL);
	CHECK(access(path, F_OK) == 0);
	CHECK_STR(read_all(aside), text);
	state_free(&st);
}

static char *
read_all(const char *path)
{
	static char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

/*
 * Someone who can write the state directory plants PATH.tmp, a symlink
 * to a file of theirs or to one of root's: the save neither follows nor
 * reuses it, and still succeeds.
 */
static void
test_planted_tmp(void)
{
	struct state st = { 0 }, back = { 0 };
	char path[128], tmp[140], victim[140];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/planted", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	write_file(victim, "precious\n");
	CHECK(symlink(victim, tmp) == 0);
	CHECK(state_load(&st, path) == 0);
	CHECK(state_set(&st, "10.0.0.1", OWNER_POOLMOND, NULL) == 0);
	CHECK(state_save(&st) == 0);
	CHECK(lstat(tmp, &sb) == 0 && S_ISLNK(sb.st_mode));
	CHECK_STR(read_all(victim), "precious\n");
	CHECK(state_load(&back, path) == 0 && back.n == 1);
	state_free(&back);

	/* A planted regular file: not truncated, not renamed over PATH. */
	CHECK(unlink(tmp) == 0);
	write_file(tmp, "theirs\n");
	CHECK(state_set(&st, "10.0.0.2", OWNER_POOLMOND, NULL) == 0);
	CHECK(state_save(&st) == 0);
	CHECK_STR(read_all(tmp), "theirs\n");
	CHECK(state_load(&back, path) == 0 && back.n == 2);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
	/* PATH, PATH.tmp, and no temporary file of ours left over. */
	CHECK(count_files(dir, "planted") == 2);
	state_free(&back);
	state_free(&st);
}

#define MANY	STATE_MAX_ENTRIES

static double
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The i-th address of the big file: IPv4 and IPv6, in no useful order. */
static void
many_ip(unsigned int i, char *buf, size_t len)
{
	unsigned int k = (i * 40503u) % MANY;	/* a permutation of 0..MANY */

	if (k % 4 == 0)
		snprintf(buf, len, "2001:db8::%x:%x", k >> 16, k & 0xffff);
	else
		snprintf(buf, len, "10.%u.%u.%u", (k >> 16) & 0xff,
		    (k >> 8) & 0xff, k & 0xff);
}

/*
 * 65536 entries, the most a file may hold: the load (the O(n^2 log n)
 * insertion of old took ~100 s for these, 24.8 s for half) and as many
 * insertions one by one. No assertion on time: the alarm only ends a
 * run that hangs, far beyond any normal one; the figures are printed.
 */
static void
test_many_entries(void)
{
	struct state st = { 0 }, back = { 0 };
	struct timespec t0;
	char path[128], ip[INET6_ADDRSTRLEN];
	struct state_entry *e;
	unsigned int i, found = 0, right = 0;
	double load_ms, set_ms;
	FILE *f;

	snprintf(path, sizeof(path), "%s/many", dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "poolmon-state 1\n");
	for (i = 0; i < MANY; i++) {
		many_ip(i, ip, sizeof(ip));
		if (i % 2 == 0)
			fprintf(f, "down\t%s\n", ip);
		else
			fprintf(f, "hold\t%s\t%u\t1700000000\t0\tr%u\n", ip,
			    i, i);
	}
	fclose(f);
	alarm(60);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(state_load(&st, path) == 0);
	load_ms = elapsed_ms(&t0);
	CHECK(st.n == MANY);
	for (i = 0; i < MANY; i++) {
		many_ip(i, ip, sizeof(ip));
		if ((e = state_find(&st, ip)) == NULL)
			continue;
		found++;
		if (i % 2 == 0 ? e->owner == OWNER_POOLMOND :
		    e->owner == OWNER_HOLD && e->hold.uid == i)
			right++;
	}
	CHECK(found == MANY && right == MANY);
	/* One more is refused: the file's limit. */
	CHECK(state_set(&st, "192.0.2.1", OWNER_POOLMOND, NULL) == -ENOSPC);

	/* Saved sorted, reloaded the same: the format is unchanged. */
	CHECK(state_save(&st) == 0);
	CHECK(state_load(&back, path) == 0 && back.n == MANY);
	state_free(&back);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < MANY; i++) {
		many_ip(MANY - 1 - i, ip, sizeof(ip));
		CHECK(state_set(&back, ip, OWNER_POOLMOND, NULL) == 0);
	}
	set_ms = elapsed_ms(&t0);
	alarm(0);
	CHECK(back.n == MANY);
	for (i = 0; i < MANY; i += 2) {
		many_ip(i, ip, sizeof(ip));
		CHECK(state_remove(&back, ip));
	}
	CHECK(back.n == MANY / 2);
	many_ip(1, ip, sizeof(ip));
	CHECK(state_find(&back, ip) != NULL);
	many_ip(2, ip, sizeof(ip));
	CHECK(state_find(&back, ip) == NULL);
	printf("# state: load of %d entries %.1f ms, %d insertions %.1f ms\n",
	    MANY, load_ms, MANY, set_ms);
	state_free(&back);
	state_free(&st);
}

/* Backends that offered STARTTLS are remembered beside the entries. */
static void
test_tls_memory(void)
{
	struct state st = { 0 }, back = { 0 };
	char path[128], why[128];

	snprintf(path, sizeof(path), "%s/tls", dir);
	CHECK(state_load(&st, path) == 0);
	CHECK(!state_tls_seen(&st, "10.0.0.1"));
	CHECK(state_tls_mark(&st, "10.0.0.1") == 1);
	CHECK(state_tls_mark(&st, "10.0.0.1") == 0);
	CHECK(state_tls_mark(&st, "::1") == 1);
	CHECK(state_set(&st, "10.0.0.1", OWNER_POOLMOND, NULL) == 0);
	CHECK(state_save(&st) == 0);
	CHECK(state_load(&back, path) == 0);
	CHECK(state_tls_seen(&back, "10.0.0.1") && state_tls_seen(&back, "::1"));
	CHECK(!state_tls_seen(&back, "10.0.0.2"));
	/* Its own record: the entry's owner is untouched. */
	CHECK(state_find(&back, "10.0.0.1")->owner == OWNER_POOLMOND);
	CHECK(state_find(&back, "::1") == NULL);
	state_free(&back);
	/* Listed twice: the second costs itself. */
	CHECK(state_parse(&back, "poolmon-state 1\ntls\t10.0.0.1\n"
	    "tls\t10.0.0.1\n", 39, why, sizeof(why)) == 0);
	CHECK(back.skipped == 1 && state_tls_seen(&back, "10.0.0.1"));
	state_free(&back);
	state_free(&st);
}

int
main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/poolmon-unit-state.%ld",
	    (long)getpid());
	mkdir(dir, 0700);
	log_init("test", "/dev/null", false);
	RUN(test_parse);
	RUN(test_parse_bad);
	RUN(test_bad_line_costs_itself);
	RUN(test_newer_file);
	RUN(test_reasons_round_trip);
	RUN(test_save_load);
	RUN(test_pending_intent);
	RUN(test_corrupt_moved_aside);
	RUN(test_bad_record_kept_aside);
	RUN(test_planted_tmp);
	RUN(test_many_entries);
	RUN(test_tls_memory);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return UNIT_EXIT();
}
