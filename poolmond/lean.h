/*
 * Give back what start-up only needed. Loading a shared object, the
 * dynamic linker reads its tables (.gnu.hash, .dynsym, .dynstr, the
 * symbol versions, the relocations) and leaves their pages mapped: for
 * OpenSSL's libcrypto alone some 800 KiB of the idle daemon's resident
 * memory. Once every library the configuration uses is loaded, nothing
 * reads them but a later dlopen() binding against them or dladdr(); the
 * pages are clean, private and never written (relocations are applied to
 * other segments), so giving them back with MADV_DONTNEED costs nothing
 * but a refault from the page cache, the same bytes, should one of those
 * ever read them.
 */
#ifndef POOLMOND_LEAN_H
#define POOLMOND_LEAN_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Whole pages: start page-aligned, len a multiple of the page size. */
struct lean_range {
	uintptr_t start;
	size_t len;
};

/*
 * The pages of one loaded object that hold the dynamic linker's tables
 * and nothing else: inside a read-only (R, not W nor X) PT_LOAD, never a
 * page any other program header points at (RELRO, the program headers,
 * .eh_frame_hdr, notes, the TLS image) nor the one holding the ELF
 * header, never part of a page a table shares with other data. Up to max
 * ranges into r; how many. None for an object with text relocations.
 */
size_t lean_table_pages(const struct dl_phdr_info *info,
    struct lean_range *r, size_t max);

/*
 * Give back the resident pages of the tables of every object loaded: the
 * bytes given back, or -errno (nothing is given back without
 * /proc/self/pagemap, which tells that each page is still the file's).
 * What a later load or lookup reads faults back in.
 */
ssize_t lean_release_tables(void);

/*
 * Once start-up is over: the tables. Logs at debug level what was given
 * back; a failure is logged and ignored.
 */
void lean_after_startup(void);

#endif
