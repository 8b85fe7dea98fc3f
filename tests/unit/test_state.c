/* The state file: parsing, atomic save and reload, corrupt files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "unit.h"

static char dir[64];

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		abort();
	close(fd);
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

static void
test_parse_bad(void)
{
	static const char *const bad[] = {
		"", "garbage\n", "poolmon-state 2\n",
		"poolmon-state 1\ndown\tnot-an-ip\n",
		"poolmon-state 1\ndown\t10.0.0.1\ndown\t10.0.0.1\n",
		"poolmon-state 1\nup\t10.0.0.1\n",
		"poolmon-state 1\nhold\t10.0.0.1\tx\t1\t0\tr\n",
		"poolmon-state 1\nhold\t10.0.0.1\t0\t1\t2\tr\n",
		"poolmon-state 1\nhold\t10.0.0.1\t0\t1\t0\n",
		"poolmon-state 1\ndown\t10.0.0.1",
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
	CHECK(state_parse(&st, "poolmon-state 1\n\0x\n", 19, why,
	    sizeof(why)) == -EINVAL);
	state_free(&st);
}

static void
test_save_load(void)
{
	struct state st = { 0 }, back = { 0 };
	struct hold_info h = { .uid = 7, .since = 42, .flush = false };
	char path[128];
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
	CHECK(st.n == 1 && !st.entries[0].pending);
	state_free(&st);
	CHECK(state_parse(&st, "poolmon-state 1\ndown\t10.0.0.1\tdone\n",
	    35, why, sizeof(why)) == -EINVAL);
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

static void
test_corrupt_moved_aside(void)
{
	struct state st = { 0 };
	char path[128], aside[140];

	snprintf(path, sizeof(path), "%s/corrupt", dir);
	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	write_file(path, "poolmon-state 1\ndown\tbogus\n");
	CHECK(state_load(&st, path) == 0);
	CHECK(st.n == 0);
	CHECK(access(path, F_OK) < 0);
	CHECK(access(aside, F_OK) == 0);
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
	RUN(test_save_load);
	RUN(test_pending_intent);
	RUN(test_corrupt_moved_aside);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return UNIT_EXIT();
}
