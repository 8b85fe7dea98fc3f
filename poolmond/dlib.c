/*
 * Libraries loaded at run time (dlib.h): dlopen by soname, every symbol
 * of the table resolved at once, so that a library of another ABI is
 * refused at start-up, not at its first call.
 */
#include "dlib.h"

#include <dlfcn.h>
#include <errno.h>

#include "util.h"

static void
clear_api(struct dlib *lib)
{
	size_t i;

	for (i = 0; i < lib->nsyms; i++)
		*(void **)((char *)lib->api + lib->syms[i].offset) = NULL;
}

int
dlib_load(struct dlib *lib, const char *needed_by, char *err, size_t errlen)
{
	const char *why;
	void *h, *p;
	size_t i;

	if (lib->handle != NULL)
		return 0;
	/* Every relocation now: a broken library fails here, not later. */
	if ((h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		return err_set(err, errlen, -ENOENT, "%s needs %s: %s; install "
		    "the package %s", needed_by, lib->soname, why != NULL ?
		    why : "cannot be loaded", lib->package);
	}
	for (i = 0; i < lib->nsyms; i++) {
		(void)dlerror();
		if ((p = dlsym(h, lib->syms[i].name)) == NULL) {
			clear_api(lib);
			dlclose(h);
			return err_set(err, errlen, -ENOSYS, "%s needs %s: it "
			    "has no %s (another version?); install the "
			    "package %s", needed_by, lib->soname,
			    lib->syms[i].name, lib->package);
		}
		*(void **)((char *)lib->api + lib->syms[i].offset) = p;
	}
	lib->handle = h;
	return 0;
}

bool
dlib_loaded(const struct dlib *lib)
{
	return lib->handle != NULL;
}

void
dlib_unload(struct dlib *lib)
{
	if (lib->handle == NULL)
		return;
	clear_api(lib);
	dlclose(lib->handle);
	lib->handle = NULL;
}
