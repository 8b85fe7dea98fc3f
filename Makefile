# poolmon: poolmond (daemon) and poolmonctl (control tool).
# GNU make. `make SANITIZE=1 ...` builds with ASan+UBSan into build-san/.

PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= /lib/systemd/system
CONFDIR ?= /etc/dovecot
DESTDIR ?=

CC      ?= gcc
PKGS    := openssl libprotobuf-c libsystemd

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
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE \
	     -Icommon -Ipoolmond -I$(BUILD)/proto $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)
LIBS     = $(PKG_LIBS) -lpthread

COMMON_SRC   := $(wildcard common/*.c)
POOLMOND_SRC := $(wildcard poolmond/*.c)
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
TOOL_SRC     := $(wildcard tests/tools/*.c)

COMMON_OBJ   := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
POOLMOND_OBJ := $(POOLMOND_SRC:%.c=$(BUILD)/obj/%.o)
# Everything of poolmond but main(), for unit tests.
POOLMOND_LIB := $(filter-out $(BUILD)/obj/poolmond/main.o,$(POOLMOND_OBJ))
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN     := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps check demo install clean bench
.DEFAULT_GOAL := all

all: $(BUILD)/poolmond

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/poolmond: $(POOLMOND_OBJ) $(COMMON_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(POOLMOND_LIB) $(COMMON_OBJ) \
    tests/unit/unit.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< \
	    $(POOLMOND_LIB) $(COMMON_OBJ) $(LIBS)

$(BUILD)/tests/%: tests/tools/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

tests: $(UNIT_BIN) $(TOOL_BIN)

# The README's test command: unit tests, then real-Dovecot integration.
check: test-deps all tests
	@BUILD=$(BUILD) tests/run.sh

demo: test-deps all
	@scripts/demo.sh $(BUILD)/poolmond

install: all
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(BUILD)/poolmond $(DESTDIR)$(SBINDIR)/poolmond
	ln -sf poolmond $(DESTDIR)$(SBINDIR)/poolmon

clean:
	rm -rf build build-san

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/tests/*.d)
