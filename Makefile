# poolmon: poolmond (daemon) and poolmonctl (control tool).
# GNU make. `make SANITIZE=1 ...` builds with ASan+UBSan into build-san/.

PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
UNITDIR ?= /lib/systemd/system
CONFDIR ?= /etc/dovecot
DESTDIR ?=

CC      ?= gcc
PKGS    := openssl libprotobuf-c libsystemd
# Loaded at run time by the options that use them (poolmond/dlib.h):
# compiled against their headers, never linked: libmicrohttpd by
# --metrics-listen, libseccomp at start, c-ares for PTR names, the SQL
# client libraries by --lua-director.
DLOPEN_PKGS := libmicrohttpd libseccomp libcares sqlite3 libpq libmariadb

ifeq ($(SANITIZE),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer
else
BUILD   := build
SANFLAGS :=
endif

# pkg-config runs once, when first needed: after scripts/deps.sh has had
# the chance to install the -dev packages.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) \
	     $(DLOPEN_PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE \
	     -Icommon -Ipoolmond -I$(BUILD)/proto $(PKG_CFLAGS) -MMD -MP
# Symbols bound at start (-z now): a check process resolves none of its
# own on first call, writing no GOT page the daemon shares with it (and
# the GOT is read-only after start, as the Debian build has it).
ALL_LDFLAGS = -Wl,-z,relro,-z,now $(LDFLAGS) $(SANFLAGS)
# Each program links only the libraries it calls: a test tool or
# poolmonctl maps no libsystemd it does not use.
LIBS     = -Wl,--as-needed $(PKG_LIBS) -lpthread

COMMON_SRC   := $(wildcard common/*.c)
POOLMOND_SRC := $(wildcard poolmond/*.c)
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
TOOL_SRC     := $(wildcard tests/tools/*.c)
PROTO_SRC    := $(wildcard proto/*.proto)
POOLMONCTL_SRC := $(wildcard poolmonctl/*.c)

COMMON_OBJ   := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
POOLMOND_OBJ := $(POOLMOND_SRC:%.c=$(BUILD)/obj/%.o)
# Everything of poolmond but main(), for unit tests.
POOLMOND_LIB := $(filter-out $(BUILD)/obj/poolmond/main.o,$(POOLMOND_OBJ))
# protoc-c output goes to $(BUILD)/proto; it is never committed.
PROTO_C      := $(PROTO_SRC:proto/%.proto=$(BUILD)/proto/%.pb-c.c)
PROTO_H      := $(PROTO_C:.c=.h)
PROTO_OBJ    := $(PROTO_C:$(BUILD)/proto/%.c=$(BUILD)/obj/proto/%.o)
POOLMONCTL_OBJ := $(POOLMONCTL_SRC:%.c=$(BUILD)/obj/%.o)
# Everything of poolmonctl but main(), for unit tests.
POOLMONCTL_LIB := $(filter-out $(BUILD)/obj/poolmonctl/main.o,$(POOLMONCTL_OBJ))
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN     := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
# Hostile peers for the robustness tests (tests/hostile, issue 6).
HOSTILE_SRC  := $(wildcard tests/hostile/*.c)
HOSTILE_BIN  := $(HOSTILE_SRC:tests/hostile/%.c=$(BUILD)/tests/%)

# check, valgrind-check and fuzz-smoke build on every CPU.
NPROC := $(shell nproc 2>/dev/null || echo 1)

.PHONY: all deps test-deps check demo demo-lua install clean bench tests \
	valgrind-check deb deb-deps
.DEFAULT_GOAL := all

all: $(BUILD)/poolmond $(BUILD)/poolmonctl

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

# An object whose dependency file is missing is rebuilt: without the .d,
# make could not know which headers it needs.
$(BUILD)/obj/%.o: %.c $(BUILD)/obj/%.d | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

OBJ_DEPS := $(POOLMOND_OBJ:.o=.d) $(POOLMONCTL_OBJ:.o=.d) $(COMMON_OBJ:.o=.d)
$(OBJ_DEPS):

# One protoc-c run writes both files.
$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto | deps
	@mkdir -p $(dir $@)
	protoc-c --proto_path=proto --c_out=$(BUILD)/proto $<

$(BUILD)/obj/proto/%.o: $(BUILD)/proto/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Sources include the generated headers: generate them first.
$(POOLMOND_OBJ) $(POOLMONCTL_OBJ) $(COMMON_OBJ) $(UNIT_BIN) $(TOOL_BIN): \
    | $(PROTO_H)

$(BUILD)/poolmond: $(POOLMOND_OBJ) $(COMMON_OBJ) $(PROTO_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/poolmonctl: $(POOLMONCTL_OBJ) $(COMMON_OBJ) $(PROTO_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(POOLMOND_LIB) $(COMMON_OBJ) \
    $(POOLMONCTL_LIB) $(PROTO_OBJ) tests/unit/unit.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< \
	    $(POOLMOND_LIB) $(POOLMONCTL_LIB) $(COMMON_OBJ) $(PROTO_OBJ) $(LIBS)

# A test tool that speaks the control protocol, badly on purpose.
$(BUILD)/tests/ctl-raw: tests/tools/ctl-raw.c $(PROTO_OBJ) $(COMMON_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PROTO_OBJ) $(COMMON_OBJ) \
	    $(LIBS)

# The Lua director's router on a loop of its own (the driver's tests).
$(BUILD)/tests/luadir-run: tests/tools/luadir-run.c $(POOLMOND_LIB) \
    $(COMMON_OBJ) $(PROTO_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(POOLMOND_LIB) \
	    $(COMMON_OBJ) $(PROTO_OBJ) $(LIBS)

$(BUILD)/tests/%: tests/tools/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

# Hostile servers and clients; those speaking the control protocol need
# its generated code.
$(HOSTILE_BIN): | $(PROTO_H)
$(BUILD)/tests/%: tests/hostile/%.c $(PROTO_OBJ) $(COMMON_OBJ) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PROTO_OBJ) $(COMMON_OBJ) \
	    $(LIBS)

tests: $(UNIT_BIN) $(TOOL_BIN) $(HOSTILE_BIN)

# The README's test command: unit tests, then real-Dovecot integration.
# Built on every CPU, once test-deps has installed what is missing (two
# apt-gets at once would fight over dpkg's lock).
check: test-deps
	@$(MAKE) --no-print-directory -j$(NPROC) all tests
	@BUILD=$(BUILD) tests/run.sh

# poolmond under valgrind (memcheck) against a real director: fails on
# invalid accesses, definite leaks or descriptors left open at exit.
valgrind-check: test-deps
	@$(MAKE) --no-print-directory -j$(NPROC) all tests
	@BUILD=$(BUILD) tests/hostile/valgrind-check.sh

demo: test-deps all
	@scripts/demo.sh $(BUILD)/poolmond

# The same for Dovecot 2.4's Lua director: a proxy running the shipped
# script over an SQLite file, poolmond on its tables.
demo-lua: test-deps all
	@scripts/demo-lua.sh $(BUILD)/poolmond $(BUILD)/poolmonctl

# Prints figures; never fails on one. BENCH_SIZES="100 1000 5000".
bench: test-deps all
	@scripts/bench.sh $(BUILD)

DOVECOT_FILES := $(wildcard dovecot/*)

install: all
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(BUILD)/poolmond $(DESTDIR)$(SBINDIR)/poolmond
	ln -sf poolmond $(DESTDIR)$(SBINDIR)/poolmon
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BUILD)/poolmonctl $(DESTDIR)$(BINDIR)/poolmonctl
	install -m 0644 man/poolmond.8 man/poolmonctl.8 $(DESTDIR)$(MANDIR)/man8/
	# The unit names the binaries where this install puts them.
	sed -e 's|/usr/sbin/poolmond|$(SBINDIR)/poolmond|' \
	    -e 's|/usr/bin/poolmonctl|$(BINDIR)/poolmonctl|' \
	    systemd/poolmond.service >$(DESTDIR)$(UNITDIR)/poolmond.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/poolmond.service
	# An existing configuration is the administrator's: never replaced.
	[ -e $(DESTDIR)$(CONFDIR)/poolmon.conf ] || install -m 0644 \
	    systemd/poolmon.conf $(DESTDIR)$(CONFDIR)/poolmon.conf
	# The Lua director's routing script, schemas and examples, for the
	# Dovecot proxies (README: "Dovecot 2.4: the Lua director").
	install -d $(DESTDIR)$(DATADIR)/poolmon/dovecot
	install -m 0644 $(DOVECOT_FILES) $(DESTDIR)$(DATADIR)/poolmon/dovecot/

# The Debian package (debian/), built by dpkg-buildpackage in a copy of
# the sources under build-deb/ (its "clean" would remove build/, and it
# writes next to the tree), then copied here as poolmon_VERSION_ARCH.deb.
DEB_SRC     := common poolmond poolmonctl proto man systemd scripts debian \
	       dovecot Makefile README.md
DEB_VERSION = $(shell sed -n 's/^.define POOLMON_VERSION "\(.*\)"$$/\1/p' \
	      common/version.h)
DEB_ARCH    = $(shell dpkg-architecture -qDEB_HOST_ARCH)

deb-deps:
	@scripts/deps.sh deb

deb: deb-deps
	rm -rf build-deb
	mkdir -p build-deb/poolmon
	tar -cf - $(DEB_SRC) | tar -xf - -C build-deb/poolmon
	# Built with debian/rules' flags only: none of this make's variables
	# (SANITIZE=1, CFLAGS) reach it. The tests need root and Dovecot:
	# make check runs them, not the package build.
	cd build-deb/poolmon && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    DEB_BUILD_OPTIONS="nocheck $(DEB_BUILD_OPTIONS)" \
	    dpkg-buildpackage -b -us -uc
	cp build-deb/poolmon_$(DEB_VERSION)_$(DEB_ARCH).deb .

# Fuzzing with libFuzzer (clang), into build-fuzz/. Each target has a seed
# corpus under tests/fuzz/corpus/NAME; fuzz-smoke runs each for a bounded
# time (FUZZ_SECONDS) in a scratch copy of its corpus.
FUZZ        := build-fuzz
FUZZ_CC     := clang
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE $(FUZZ_SAN) $(WARN) \
	      -fsanitize=fuzzer-no-link -Icommon -Ipoolmond -Ipoolmonctl \
	      -I$(FUZZ)/proto $(PKG_CFLAGS) -MMD -MP
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ)/%)
FUZZ_LIBSRC := $(filter-out poolmond/main.c,$(POOLMOND_SRC)) \
	       $(filter-out poolmonctl/main.c,$(POOLMONCTL_SRC)) $(COMMON_SRC)
FUZZ_OBJ    := $(FUZZ_LIBSRC:%.c=$(FUZZ)/obj/%.o) \
	       $(PROTO_SRC:proto/%.proto=$(FUZZ)/obj/proto/%.pb-c.o)
FUZZ_SECONDS ?= 20

.PHONY: fuzz fuzz-deps fuzz-smoke
fuzz-deps:
	@scripts/deps.sh fuzz

$(FUZZ)/proto/%.pb-c.c $(FUZZ)/proto/%.pb-c.h: proto/%.proto | fuzz-deps
	@mkdir -p $(dir $@)
	protoc-c --proto_path=proto --c_out=$(FUZZ)/proto $<

$(FUZZ)/obj/proto/%.o: $(FUZZ)/proto/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ)/obj/%.o: %.c | fuzz-deps $(PROTO_SRC:proto/%.proto=$(FUZZ)/proto/%.pb-c.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) \
	    $(LIBS)

fuzz: $(FUZZ_BIN)

# Keep the fuzz objects (make would delete them as intermediates).
.SECONDARY: $(FUZZ_OBJ)

fuzz-smoke: fuzz-deps
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz
	@tests/fuzz/smoke.sh $(FUZZ) $(FUZZ_SECONDS)

clean:
	rm -rf build build-san build-fuzz build-deb

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/tests/*.d)
# Fuzz objects too, so that a header change rebuilds them.
-include $(wildcard $(FUZZ)/obj/*/*.d $(FUZZ)/*.d)
