/*
 * Give back what start-up only needed (lean.h): the resident pages of
 * the dynamic linker's tables of every loaded object, found from the
 * addresses its PT_DYNAMIC gives.
 */
#include "lean.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/*
 * Tables at most this far apart are one run (alignment padding between
 * sections), and a run ending this close to the end of its segment's
 * file data runs to it: what follows on that page is no section.
 */
#define TABLE_GAP	64
#define TABLES_MAX	12
/* Ranges of one object: a few, split only by a page kept. */
#define RANGES_MAX	8
/* Entries of /proc/self/pagemap read at a time: 2 MiB of pages. */
#define PAGEMAP_CHUNK	512

/* A /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap). */
#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)
#define PM_FILE		(1ULL << 61)

struct span {
	uintptr_t start, end;
};

/* One loaded object, as its program headers and PT_DYNAMIC say. */
struct object {
	const struct dl_phdr_info *info;
	uintptr_t page;			/* the page size */
	uintptr_t lo, hi;		/* of its PT_LOADs, absolute */
	const ElfW(Dyn) *dyn;
	size_t ndyn;
};

/* What PT_DYNAMIC says of the tables: addresses absolute, 0 if none. */
struct dyn_tables {
	uintptr_t hash, gnu_hash, symtab, strtab, versym, verdef, verneed;
	uintptr_t rela, rel, jmprel, relr;
	size_t syment, strsz, verdefnum, verneednum;
	size_t relasz, relsz, pltrelsz, relrsz;
	bool textrel;
};

struct tables {
	struct span t[TABLES_MAX];
	size_t n;
};

static uintptr_t
page_down(const struct object *o, uintptr_t a)
{
	return a & ~(o->page - 1);
}

static uintptr_t
page_up(const struct object *o, uintptr_t a)
{
	return (a + o->page - 1) & ~(o->page - 1);
}

static bool
overlaps(uintptr_t s1, uintptr_t e1, uintptr_t s2, uintptr_t e2)
{
	return s1 < e2 && s2 < e1;
}

static bool
object_init(struct object *o, const struct dl_phdr_info *info)
{
	const ElfW(Phdr) *ph, *dyn = NULL;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	size_t i;

	memset(o, 0, sizeof(*o));
	o->info = info;
	o->page = (uintptr_t)sysconf(_SC_PAGESIZE);
	for (i = 0; i < info->dlpi_phnum; i++) {
		ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_DYNAMIC)
			dyn = ph;
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_vaddr < lo)
			lo = ph->p_vaddr;
		if (ph->p_vaddr + ph->p_memsz > hi)
			hi = ph->p_vaddr + ph->p_memsz;
	}
	if (dyn == NULL || hi <= lo)
		return false;
	/*
	 * The dynamic linker may have made PT_DYNAMIC's addresses absolute
	 * (glibc does where it is writable): one inside the object is taken
	 * as absolute. Loaded below its own extent, an object could not
	 * tell the two apart: left alone.
	 */
	if (info->dlpi_addr != 0 && info->dlpi_addr < hi)
		return false;
	o->lo = info->dlpi_addr + lo;
	o->hi = info->dlpi_addr + hi;
	o->dyn = (const ElfW(Dyn) *)(info->dlpi_addr + dyn->p_vaddr);
	o->ndyn = dyn->p_memsz / sizeof(ElfW(Dyn));
	return true;
}

static uintptr_t
dyn_addr(const struct object *o, uintptr_t v)
{
	if (v == 0 || (v >= o->lo && v < o->hi))
		return v;
	return o->info->dlpi_addr + v;
}

/* The PT_LOAD whose file data hold [a, a + len), or NULL. */
static const ElfW(Phdr) *
segment_of(const struct object *o, uintptr_t a, size_t len)
{
	const ElfW(Phdr) *ph;
	uintptr_t s;
	size_t i;

	for (i = 0; i < o->info->dlpi_phnum; i++) {
		ph = &o->info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		s = o->info->dlpi_addr + ph->p_vaddr;
		if (a >= s && a - s <= ph->p_filesz &&
		    len <= ph->p_filesz - (a - s))
			return ph;
	}
	return NULL;
}

/* Whether [a, a + len) may be read: loaded from the file, readable. */
static bool
readable(const struct object *o, uintptr_t a, size_t len)
{
	const ElfW(Phdr) *ph = segment_of(o, a, len);

	return a != 0 && ph != NULL && (ph->p_flags & PF_R);
}

static void
read_dynamic(const struct object *o, struct dyn_tables *d)
{
	const ElfW(Dyn) *e;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->syment = sizeof(ElfW(Sym));
	for (i = 0; i < o->ndyn && o->dyn[i].d_tag != DT_NULL; i++) {
		e = &o->dyn[i];
		switch (e->d_tag) {
		case DT_HASH: d->hash = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_GNU_HASH:
			d->gnu_hash = dyn_addr(o, e->d_un.d_ptr);
			break;
		case DT_SYMTAB: d->symtab = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_SYMENT: d->syment = e->d_un.d_val; break;
		case DT_STRTAB: d->strtab = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_STRSZ: d->strsz = e->d_un.d_val; break;
		case DT_VERSYM: d->versym = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_VERDEF: d->verdef = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_VERDEFNUM: d->verdefnum = e->d_un.d_val; break;
		case DT_VERNEED:
			d->verneed = dyn_addr(o, e->d_un.d_ptr);
			break;
		case DT_VERNEEDNUM: d->verneednum = e->d_un.d_val; break;
		case DT_RELA: d->rela = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_RELASZ: d->relasz = e->d_un.d_val; break;
		case DT_REL: d->rel = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_RELSZ: d->relsz = e->d_un.d_val; break;
		case DT_JMPREL: d->jmprel = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_PLTRELSZ: d->pltrelsz = e->d_un.d_val; break;
#ifdef DT_RELR
		case DT_RELR: d->relr = dyn_addr(o, e->d_un.d_ptr); break;
		case DT_RELRSZ: d->relrsz = e->d_un.d_val; break;
#endif
		case DT_TEXTREL: d->textrel = true; break;
		case DT_FLAGS:
			if (e->d_un.d_val & DF_TEXTREL)
				d->textrel = true;
			break;
		default:
			break;
		}
	}
}

/* A table of the object's: kept if it is all in the object's file data. */
static void
add_table(struct tables *t, const struct object *o, uintptr_t a, size_t len)
{
	if (len == 0 || t->n == TABLES_MAX || !readable(o, a, len))
		return;
	t->t[t->n].start = a;
	t->t[t->n].end = a + len;
	t->n++;
}

/* .hash: nbucket, nchain (the number of symbols), buckets, chains. */
static bool
hash_size(const struct object *o, uintptr_t a, size_t *size, size_t *nsyms)
{
	const Elf_Symndx *h = (const Elf_Symndx *)a;

	if (!readable(o, a, 2 * sizeof(*h)))
		return false;
	*nsyms = h[1];
	*size = (2 + (size_t)h[0] + h[1]) * sizeof(*h);
	return true;
}

/*
 * .gnu.hash: nbuckets, symoffset, bloom words, bloom shift, the bloom
 * filter, buckets, then one chain word per symbol from symoffset on, the
 * last of each chain marked by its low bit. The symbols are counted
 * from the highest bucket's chain.
 */
static bool
gnu_hash_size(const struct object *o, uintptr_t a, size_t *size,
    size_t *nsyms)
{
	const uint32_t *h = (const uint32_t *)a, *buckets, *chain;
	uint32_t nbuckets, symoffset, nbloom, last = 0, i;
	size_t head = 4 * sizeof(uint32_t);

	if (!readable(o, a, head))
		return false;
	nbuckets = h[0];
	symoffset = h[1];
	nbloom = h[2];
	buckets = (const uint32_t *)(a + head + (size_t)nbloom *
	    sizeof(ElfW(Addr)));
	if (!readable(o, (uintptr_t)buckets, (size_t)nbuckets *
	    sizeof(uint32_t)))
		return false;
	chain = buckets + nbuckets;
	for (i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		*nsyms = symoffset;
	else {
		for (;; last++) {
			if (!readable(o, (uintptr_t)&chain[last - symoffset],
			    sizeof(uint32_t)))
				return false;
			if (chain[last - symoffset] & 1)
				break;
		}
		*nsyms = (size_t)last + 1;
	}
	*size = (uintptr_t)(chain + (*nsyms - symoffset)) - a;
	return true;
}

/*
 * .gnu.version_d and .gnu.version_r have one shape: num entries, each
 * with its count of aux entries, linked by byte offsets. Where each
 * table's fields are.
 */
struct version_shape {
	size_t entry;		/* sizeof the entry */
	size_t cnt, aux, next;	/* offsets of its count, first aux, next */
	size_t aux_size, aux_next;	/* an aux entry, and its next */
};

static const struct version_shape verdef_shape = {
	sizeof(ElfW(Verdef)), offsetof(ElfW(Verdef), vd_cnt),
	offsetof(ElfW(Verdef), vd_aux), offsetof(ElfW(Verdef), vd_next),
	sizeof(ElfW(Verdaux)), offsetof(ElfW(Verdaux), vda_next),
};

static const struct version_shape verneed_shape = {
	sizeof(ElfW(Verneed)), offsetof(ElfW(Verneed), vn_cnt),
	offsetof(ElfW(Verneed), vn_aux), offsetof(ElfW(Verneed), vn_next),
	sizeof(ElfW(Vernaux)), offsetof(ElfW(Vernaux), vna_next),
};

static uint32_t
word_at(uintptr_t p)
{
	uint32_t v;

	memcpy(&v, (const void *)p, sizeof(v));
	return v;
}

static uint16_t
half_at(uintptr_t p)
{
	uint16_t v;

	memcpy(&v, (const void *)p, sizeof(v));
	return v;
}

/* Where the last byte of a version table of that shape ends. */
static size_t
version_size(const struct object *o, uintptr_t a, size_t num,
    const struct version_shape *sh)
{
	uintptr_t p = a, aux, end = a;
	size_t i, j, cnt;

	for (i = 0; i < num; i++) {
		if (!readable(o, p, sh->entry))
			return 0;
		if (p + sh->entry > end)
			end = p + sh->entry;
		cnt = half_at(p + sh->cnt);
		for (j = 0, aux = p + word_at(p + sh->aux); j < cnt; j++) {
			if (!readable(o, aux, sh->aux_size))
				return 0;
			if (aux + sh->aux_size > end)
				end = aux + sh->aux_size;
			if (word_at(aux + sh->aux_next) == 0)
				break;
			aux += word_at(aux + sh->aux_next);
		}
		if (word_at(p + sh->next) == 0)
			break;
		p += word_at(p + sh->next);
	}
	return end - a;
}

/* The tables of the object; false for one with text relocations. */
static bool
find_tables(const struct object *o, struct tables *t)
{
	struct dyn_tables d;
	size_t size, nsyms = 0;
	bool counted = false;

	read_dynamic(o, &d);
	/* Its read-only segments were written to at load time. */
	if (d.textrel)
		return false;
	memset(t, 0, sizeof(*t));
	if (d.gnu_hash != 0 && gnu_hash_size(o, d.gnu_hash, &size, &nsyms)) {
		add_table(t, o, d.gnu_hash, size);
		counted = true;
	}
	if (d.hash != 0 && hash_size(o, d.hash, &size, &nsyms)) {
		add_table(t, o, d.hash, size);
		counted = true;
	}
	/* Without a hash table the symbols cannot be counted. */
	if (counted) {
		add_table(t, o, d.symtab, nsyms * d.syment);
		add_table(t, o, d.versym, nsyms * sizeof(ElfW(Versym)));
	}
	add_table(t, o, d.strtab, d.strsz);
	if (d.verdef != 0)
		add_table(t, o, d.verdef, version_size(o, d.verdef,
		    d.verdefnum, &verdef_shape));
	if (d.verneed != 0)
		add_table(t, o, d.verneed, version_size(o, d.verneed,
		    d.verneednum, &verneed_shape));
	add_table(t, o, d.rela, d.relasz);
	add_table(t, o, d.rel, d.relsz);
	add_table(t, o, d.jmprel, d.pltrelsz);
	add_table(t, o, d.relr, d.relrsz);
	return true;
}

/* Sorted, and tables at most TABLE_GAP apart joined. */
static void
merge_tables(struct tables *t)
{
	struct span s;
	size_t i, j, n;

	for (i = 1; i < t->n; i++) {
		s = t->t[i];
		for (j = i; j > 0 && t->t[j - 1].start > s.start; j--)
			t->t[j] = t->t[j - 1];
		t->t[j] = s;
	}
	for (i = 1, n = t->n > 0; i < t->n; i++) {
		if (t->t[i].start <= t->t[n - 1].end + TABLE_GAP) {
			if (t->t[i].end > t->t[n - 1].end)
				t->t[n - 1].end = t->t[i].end;
		} else
			t->t[n++] = t->t[i];
	}
	t->n = n;
}

/*
 * Whether page p may be given back: in a read-only segment loaded whole
 * from the file, not the ELF header's page, not the program headers',
 * not a page anything another program header points at shares.
 */
static bool
page_allowed(const struct object *o, uintptr_t p)
{
	const struct dl_phdr_info *info = o->info;
	const ElfW(Phdr) *ph;
	uintptr_t s, e = p + o->page, phdrs = (uintptr_t)info->dlpi_phdr;
	bool read_only = false;
	size_t i;

	if (p == page_down(o, o->lo) || overlaps(p, e, page_down(o, phdrs),
	    page_up(o, phdrs + info->dlpi_phnum * sizeof(ElfW(Phdr)))))
		return false;
	for (i = 0; i < info->dlpi_phnum; i++) {
		ph = &info->dlpi_phdr[i];
		s = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD) {
			if (ph->p_flags == PF_R &&
			    ph->p_filesz == ph->p_memsz && p >= s &&
			    e <= page_up(o, s + ph->p_filesz))
				read_only = true;
		} else if (ph->p_type != PT_NULL && ph->p_memsz > 0 &&
		    overlaps(p, e, page_down(o, s), page_up(o, s +
		    ph->p_memsz)))
			return false;
	}
	return read_only;
}

size_t
lean_table_pages(const struct dl_phdr_info *info, struct lean_range *r,
    size_t max)
{
	const ElfW(Phdr) *seg;
	struct object o;
	struct tables t;
	uintptr_t p, start, end, seg_end;
	size_t i, n = 0;

	if (!object_init(&o, info) || !find_tables(&o, &t))
		return 0;
	merge_tables(&t);
	for (i = 0; i < t.n; i++) {
		start = page_up(&o, t.t[i].start);
		end = t.t[i].end;
		if ((seg = segment_of(&o, t.t[i].start, 0)) == NULL)
			continue;
		seg_end = info->dlpi_addr + seg->p_vaddr + seg->p_filesz;
		end = seg_end - end < TABLE_GAP ? page_up(&o, seg_end) :
		    page_down(&o, end);
		for (p = start; p < end; p += o.page) {
			if (!page_allowed(&o, p))
				continue;
			if (n > 0 && r[n - 1].start + r[n - 1].len == p)
				r[n - 1].len += o.page;
			else if (n < max) {
				r[n].start = p;
				r[n].len = o.page;
				n++;
			} else
				return n;
		}
	}
	return n;
}

struct release {
	int pagemap;		/* /proc/self/pagemap */
	uintptr_t page;
	size_t bytes;		/* resident, given back */
	int err;		/* the first error, -errno */
};

/*
 * Give back the pages of run [start, start + len) that are still the
 * file's: never one written to (anonymous: present but not the file's,
 * or swapped out), whose contents would be lost.
 */
static void
release_run(struct release *rel, uintptr_t start, size_t len,
    const uint64_t *pm)
{
	uintptr_t from = start, p;
	size_t i, npages = len / rel->page, resident = 0;
	bool ok;

	for (i = 0; i <= npages; i++) {
		p = start + i * rel->page;
		ok = i < npages && !(pm[i] & PM_SWAPPED) &&
		    (!(pm[i] & PM_PRESENT) || (pm[i] & PM_FILE));
		if (ok) {
			resident += (pm[i] & PM_PRESENT) != 0;
			continue;
		}
		if (resident > 0) {
			if (madvise((void *)from, p - from, MADV_DONTNEED) == 0)
				rel->bytes += resident * rel->page;
			else if (rel->err == 0)
				rel->err = -errno;
		}
		from = p + rel->page;
		resident = 0;
	}
}

static void
release_range(struct release *rel, const struct lean_range *r)
{
	uint64_t pm[PAGEMAP_CHUNK];
	uintptr_t a;
	size_t n, want;
	ssize_t got;

	for (a = r->start; a < r->start + r->len; a += n * rel->page) {
		n = (r->start + r->len - a) / rel->page;
		if (n > PAGEMAP_CHUNK)
			n = PAGEMAP_CHUNK;
		want = n * sizeof(pm[0]);
		got = pread(rel->pagemap, pm, want,
		    (off_t)(a / rel->page * sizeof(pm[0])));
		if (got != (ssize_t)want) {
			if (rel->err == 0)
				rel->err = got < 0 ? -errno : -EIO;
			return;
		}
		release_run(rel, a, n * rel->page, pm);
	}
}

static int
release_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lean_range r[RANGES_MAX];
	size_t i, n;

	(void)size;
	n = lean_table_pages(info, r, RANGES_MAX);
	for (i = 0; i < n; i++)
		release_range(arg, &r[i]);
	return 0;
}

ssize_t
lean_release_tables(void)
{
	struct release rel = { .page = (uintptr_t)sysconf(_SC_PAGESIZE) };

	if ((rel.pagemap = open("/proc/self/pagemap", O_RDONLY |
	    O_CLOEXEC)) < 0)
		return -errno;
	dl_iterate_phdr(release_object, &rel);
	close(rel.pagemap);
	if (rel.bytes == 0 && rel.err < 0)
		return rel.err;
	return (ssize_t)rel.bytes;
}

void
lean_after_startup(void)
{
	ssize_t n;

	/* Only memory is at stake: said, not warned. */
	if ((n = lean_release_tables()) < 0)
		log_info("the dynamic linker's tables not given back: %s",
		    strerror((int)-n));
	else
		log_debug("start-up over: %zd KiB of the dynamic linker's "
		    "tables given back", n / 1024);
}
