/*
 * Libraries loaded at run time (poolmond/dlib.c): a table of symbols
 * resolved into a struct of function pointers, once; a missing library
 * or symbol refused with a message naming what needs it, the library
 * and the package, and nothing left loaded; unloading clears the struct.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "dlib.h"
#include "unit.h"

struct m_api {
	__typeof__(cos) *cos;
	__typeof__(sqrt) *sqrt;
};

static const struct dlib_sym m_syms[] = {
	DLIB_SYM(struct m_api, cos, cos),
	DLIB_SYM(struct m_api, sqrt, sqrt),
};

static char err[512];

static void
test_load_once(void)
{
	struct m_api m = { NULL, NULL };
	struct dlib lib = DLIB_INIT("libm.so.6", "libc6", m_syms, &m);
	void *handle;

	CHECK(!dlib_loaded(&lib));
	CHECK(dlib_load(&lib, "--test", err, sizeof(err)) == 0);
	CHECK(dlib_loaded(&lib));
	CHECK(m.cos != NULL && m.sqrt != NULL);
	if (m.sqrt != NULL)
		CHECK(m.sqrt(16.0) == 4.0);
	if (m.cos != NULL)
		CHECK(m.cos(0.0) == 1.0);
	/* Loaded once: a second load keeps the first handle. */
	handle = lib.handle;
	CHECK(dlib_load(&lib, "--test", err, sizeof(err)) == 0);
	CHECK(lib.handle == handle);
	dlib_unload(&lib);
	CHECK(!dlib_loaded(&lib));
	CHECK(m.cos == NULL && m.sqrt == NULL);
	dlib_unload(&lib);	/* nothing loaded: nothing */
}

static void
test_missing_library(void)
{
	struct m_api m = { NULL, NULL };
	struct dlib lib = DLIB_INIT("libpoolmon-no-such.so.7",
	    "libpoolmon-no-such7", m_syms, &m);

	CHECK(dlib_load(&lib, "--some-option", err, sizeof(err)) == -ENOENT);
	CHECK(!dlib_loaded(&lib));
	CHECK(m.cos == NULL && m.sqrt == NULL);
	CHECK(strncmp(err, "--some-option needs libpoolmon-no-such.so.7: ",
	    45) == 0);
	CHECK(strstr(err, "install the package libpoolmon-no-such7") != NULL);
}

static void
test_missing_symbol(void)
{
	static const struct dlib_sym bad[] = {
		DLIB_SYM(struct m_api, cos, cos),
		{ "poolmon_no_such_symbol", offsetof(struct m_api, sqrt) },
	};
	struct m_api m = { NULL, NULL };
	struct dlib lib = DLIB_INIT("libm.so.6", "libc6", bad, &m);

	CHECK(dlib_load(&lib, "--other", err, sizeof(err)) == -ENOSYS);
	CHECK(!dlib_loaded(&lib));
	/* The symbols found before are not left behind either. */
	CHECK(m.cos == NULL && m.sqrt == NULL);
	CHECK(strncmp(err, "--other needs libm.so.6: ", 25) == 0);
	CHECK(strstr(err, "poolmon_no_such_symbol") != NULL);
	CHECK(strstr(err, "install the package libc6") != NULL);
}

int
main(void)
{
	RUN(test_load_once);
	RUN(test_missing_library);
	RUN(test_missing_symbol);
	return UNIT_EXIT();
}
