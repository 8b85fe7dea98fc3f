/*
 * Libraries loaded at run time, by the configurations that use them only
 * (as systemd loads its optional libraries): the daemon runs as root, and
 * a library an option it was not given would need, with everything that
 * library brings along, is never mapped into it nor into its check
 * processes. Each library is compiled against its -dev headers, for the
 * types, and linked against nothing.
 *
 * A library is described once, where it is used: its soname, the package
 * that ships it, and a table of the symbols used, each resolved into a
 * field of a struct of function pointers of its own:
 *
 *	struct mhd_api {
 *		__typeof__(MHD_run) *run;
 *		...
 *	};
 *	static struct mhd_api mhd;
 *	static const struct dlib_sym mhd_syms[] = {
 *		DLIB_SYM(struct mhd_api, run, MHD_run),
 *		...
 *	};
 *	static struct dlib mhd_lib = DLIB_INIT("libmicrohttpd.so.12",
 *	    "libmicrohttpd12", mhd_syms, &mhd);
 *
 *	if (dlib_load(&mhd_lib, "--metrics-listen", err, errlen) < 0)
 *		... err says what to install ...
 *	mhd.run(daemon);
 *
 * The __typeof__ of each field makes every call type-checked against the
 * header. A library is a process's: its struct dlib and its struct of
 * pointers are static in the one file that uses it, loaded at most once.
 */
#ifndef POOLMOND_DLIB_H
#define POOLMOND_DLIB_H

#include <stdbool.h>
#include <stddef.h>

struct dlib_sym {
	const char *name;	/* as exported, e.g. "MHD_run" */
	size_t offset;		/* of its pointer in the library's struct */
};

#define DLIB_SYM(type, field, symbol) \
	{ #symbol, offsetof(type, field) }

struct dlib {
	const char *soname;	/* "libmicrohttpd.so.12": the ABI compiled for */
	const char *package;	/* what ships it, for the error message */
	const struct dlib_sym *syms;
	size_t nsyms;
	void *api;		/* the struct of pointers syms fill */
	void *handle;		/* dlopen()'s; NULL: not loaded */
};

#define DLIB_INIT(soname, package, syms, api) \
	{ (soname), (package), (syms), sizeof(syms) / sizeof((syms)[0]), \
	    (api), NULL }

/*
 * Load lib and resolve every symbol of its table into its api; a library
 * already loaded: 0 at once. needed_by names what needs it (an option,
 * "the check processes' sandbox") for the message. 0, or -ENOENT (the
 * library cannot be loaded) or -ENOSYS (a symbol is missing: another
 * ABI) with err naming needed_by, the library, why, and the package to
 * install; then nothing stays loaded and api is cleared.
 */
int dlib_load(struct dlib *lib, const char *needed_by, char *err,
    size_t errlen);

bool dlib_loaded(const struct dlib *lib);

/*
 * Unload a library needed for a while only (at start-up, say), so that
 * it is mapped no longer; its api is cleared. Nothing loaded: nothing.
 */
void dlib_unload(struct dlib *lib);

#endif
