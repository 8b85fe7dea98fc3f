/*
 * Giving back the dynamic linker's tables (poolmond/lean.c): the pages
 * chosen are in read-only segments only, never the ELF header's, the
 * program headers' or one another program header points at; given
 * back, libcrypto's tables are no longer resident (/proc/self/pagemap's
 * present bit), read back the same bytes, and lookups in them (dlsym,
 * dlvsym, and a dlopen of libmariadb, which binds against libssl and
 * libcrypto) still work; a page written to (no longer the file's) is
 * never dropped.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lean.h"
#include "unit.h"

#define PM_PRESENT	(1ULL << 63)
#define PM_FILE		(1ULL << 61)
#define RANGES		8

static uintptr_t page;

/* The /proc/self/pagemap entry of the page at a; 0 if unreadable. */
static uint64_t
pagemap_entry(uintptr_t a)
{
	uint64_t e;
	int fd;

	if ((fd = open("/proc/self/pagemap", O_RDONLY)) < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)(a / page * sizeof(e))) !=
	    sizeof(e))
		e = 0;
	close(fd);
	return e;
}

/* How many pages of the ranges are resident. */
static size_t
resident(const struct lean_range *r, size_t n)
{
	size_t i, count = 0;
	uintptr_t p;

	for (i = 0; i < n; i++)
		for (p = r[i].start; p < r[i].start + r[i].len; p += page)
			count += (pagemap_entry(p) & PM_PRESENT) != 0;
	return count;
}

struct found {
	const char *name;
	struct dl_phdr_info info;
	bool ok;
};

static int
find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct found *f = arg;

	(void)size;
	if (strstr(info->dlpi_name, f->name) == NULL)
		return 0;
	memset(&f->info, 0, sizeof(f->info));
	f->info.dlpi_addr = info->dlpi_addr;
	f->info.dlpi_name = info->dlpi_name;
	f->info.dlpi_phdr = info->dlpi_phdr;
	f->info.dlpi_phnum = info->dlpi_phnum;
	f->ok = true;
	return 1;
}

static bool
find(const char *name, struct dl_phdr_info *info)
{
	struct found f = { .name = name };

	dl_iterate_phdr(find_object, &f);
	*info = f.info;
	return f.ok;
}

static bool
overlaps(uintptr_t s1, uintptr_t e1, uintptr_t s2, uintptr_t e2)
{
	return s1 < e2 && s2 < e1;
}

/* Every range of an object: whole pages the rules allow. */
static int
check_ranges(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lean_range r[RANGES];
	const ElfW(Phdr) *ph;
	uintptr_t s, e, lo = UINTPTR_MAX, phdrs;
	size_t i, j, n;
	bool in_ro;

	(void)size;
	(void)arg;
	n = lean_table_pages(info, r, RANGES);
	for (j = 0; j < info->dlpi_phnum; j++)
		if (info->dlpi_phdr[j].p_type == PT_LOAD &&
		    info->dlpi_phdr[j].p_vaddr < lo)
			lo = info->dlpi_phdr[j].p_vaddr;
	lo = (info->dlpi_addr + lo) & ~(page - 1);
	phdrs = (uintptr_t)info->dlpi_phdr & ~(page - 1);
	for (i = 0; i < n; i++) {
		s = r[i].start;
		e = s + r[i].len;
		CHECK(r[i].len > 0 && s % page == 0 && r[i].len % page == 0);
		CHECK(!overlaps(s, e, lo, lo + page));
		CHECK(!overlaps(s, e, phdrs, phdrs + page));
		in_ro = false;
		for (j = 0; j < info->dlpi_phnum; j++) {
			ph = &info->dlpi_phdr[j];
			if (ph->p_type == PT_LOAD) {
				if (ph->p_flags == PF_R && s >= info->dlpi_addr +
				    ph->p_vaddr && e <= ((info->dlpi_addr +
				    ph->p_vaddr + ph->p_filesz + page - 1) &
				    ~(page - 1)))
					in_ro = true;
			} else if (ph->p_memsz > 0)
				CHECK(!overlaps(s, e, (info->dlpi_addr +
				    ph->p_vaddr) & ~(page - 1), info->dlpi_addr +
				    ph->p_vaddr + ph->p_memsz));
		}
		if (!in_ro)
			fprintf(stderr, "%s: range %#lx+%#zx in no read-only "
			    "segment\n", info->dlpi_name, (unsigned long)s,
			    r[i].len);
		CHECK(in_ro);
	}
	return 0;
}

static void
test_pages_chosen(void)
{
	struct lean_range r[RANGES];
	struct dl_phdr_info info;
	const ElfW(Phdr) *ph = NULL;
	size_t i, n, len = 0;

	dl_iterate_phdr(check_ranges, NULL);
	/* libcrypto's first segment is its tables but the ELF header. */
	CHECK(find("libcrypto.so", &info));
	n = lean_table_pages(&info, r, RANGES);
	CHECK(n >= 1);
	for (i = 0; i < n; i++)
		len += r[i].len;
	for (i = 0; i < info.dlpi_phnum; i++)
		if (info.dlpi_phdr[i].p_type == PT_LOAD) {
			ph = &info.dlpi_phdr[i];
			break;
		}
	CHECK(ph != NULL && ph->p_flags == PF_R);
	if (ph != NULL)
		CHECK(len >= ph->p_filesz - 2 * page);
	/* And libc's too. */
	CHECK(find("libc.so", &info));
	CHECK(lean_table_pages(&info, r, RANGES) >= 1);
}

typedef unsigned long version_fn(void);
typedef unsigned char *sha256_fn(const unsigned char *, size_t,
    unsigned char *);
typedef const char *client_info_fn(void);

static void
test_release_and_lookups(void)
{
	static const unsigned char abc_sha256[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41,
		0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3,
		0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
		0x15, 0xad,
	};
	struct lean_range r[RANGES];
	struct dl_phdr_info info;
	unsigned char md[32], *copy[RANGES] = { NULL };
	void *crypto, *maria;
	version_fn *version;
	sha256_fn *sha256;
	client_info_fn *client_info;
	unsigned long v;
	size_t i, n, pages = 0;
	ssize_t given;
	uintptr_t p;

	crypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	CHECK(crypto != NULL);
	if (crypto == NULL)
		return;
	version = (version_fn *)dlsym(crypto, "OpenSSL_version_num");
	CHECK(version != NULL);
	v = version != NULL ? version() : 0;
	CHECK(find("libcrypto.so", &info));
	n = lean_table_pages(&info, r, RANGES);
	CHECK(n >= 1);
	/* Resident now, whatever came before; their bytes kept aside. */
	for (i = 0; i < n; i++) {
		for (p = r[i].start; p < r[i].start + r[i].len; p += page) {
			(void)*(volatile const char *)p;
			pages++;
		}
		copy[i] = malloc(r[i].len);
		CHECK(copy[i] != NULL);
		if (copy[i] != NULL)
			memcpy(copy[i], (const void *)r[i].start, r[i].len);
	}
	CHECK(resident(r, n) == pages);

	given = lean_release_tables();
	CHECK(given >= (ssize_t)(pages * page));
	CHECK(resident(r, n) == 0);

	/* The same bytes fault back in. */
	for (i = 0; i < n; i++)
		if (copy[i] != NULL) {
			CHECK(memcmp(copy[i], (const void *)r[i].start,
			    r[i].len) == 0);
			free(copy[i]);
		}
	CHECK(lean_release_tables() >= (ssize_t)(pages * page));
	CHECK(resident(r, n) == 0);

	/* Lookups in the tables given back: by name, by version. */
	version = (version_fn *)dlsym(crypto, "OpenSSL_version_num");
	CHECK(version != NULL && version() == v);
	CHECK(dlvsym(crypto, "OpenSSL_version_num", "OPENSSL_3.0.0") ==
	    (void *)version);
	sha256 = (sha256_fn *)dlsym(crypto, "SHA256");
	CHECK(sha256 != NULL);
	if (sha256 != NULL) {
		CHECK(sha256((const unsigned char *)"abc", 3, md) == md);
		CHECK(memcmp(md, abc_sha256, sizeof(md)) == 0);
	}
	/* A library binding against libssl and libcrypto's tables. */
	maria = dlopen("libmariadb.so.3", RTLD_NOW | RTLD_LOCAL);
	if (maria == NULL)
		fprintf(stderr, "dlopen libmariadb.so.3: %s\n", dlerror());
	CHECK(maria != NULL);
	if (maria != NULL) {
		client_info = (client_info_fn *)dlsym(maria,
		    "mysql_get_client_info");
		CHECK(client_info != NULL && client_info()[0] != '\0');
		dlclose(maria);
	}
	dlclose(crypto);
}

/*
 * A table's page written to is no longer the file's: dropping it would
 * lose what was written. The same byte written back over itself makes
 * it so, then release leaves it resident.
 */
static void
test_written_page_kept(void)
{
	struct lean_range r[RANGES];
	struct dl_phdr_info info;
	volatile char *c;
	void *h;
	uint64_t e;
	size_t n;

	h = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL);
	if (h == NULL)
		return;
	CHECK(find("libsqlite3.so", &info));
	n = lean_table_pages(&info, r, RANGES);
	CHECK(n >= 1);
	if (n < 1) {
		dlclose(h);
		return;
	}
	c = (volatile char *)r[0].start;
	CHECK(mprotect((void *)r[0].start, page, PROT_READ | PROT_WRITE) ==
	    0);
	*c = *c;
	CHECK(mprotect((void *)r[0].start, page, PROT_READ) == 0);
	e = pagemap_entry(r[0].start);
	CHECK((e & PM_PRESENT) && !(e & PM_FILE));
	CHECK(lean_release_tables() >= 0);
	e = pagemap_entry(r[0].start);
	CHECK((e & PM_PRESENT) && !(e & PM_FILE));
	/* Its neighbours, still the file's, were given back. */
	if (r[0].len > page)
		CHECK(!(pagemap_entry(r[0].start + page) & PM_PRESENT));
	dlclose(h);
}

int
main(void)
{
	page = (uintptr_t)sysconf(_SC_PAGESIZE);
	RUN(test_pages_chosen);
	RUN(test_release_and_lookups);
	RUN(test_written_page_kept);
	return UNIT_EXIT();
}
