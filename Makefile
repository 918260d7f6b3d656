# evkit build. `make` builds build/evkit; `make run` and `make test` are the
# two set-up commands of the README (each installs what is missing first).
CC      ?= cc
BUILD   ?= build
SAN     ?=
PKGS    := libmicrohttpd jansson yaml-0.1 sqlite3 lua5.4 libcurl openssl libpcre2-8 libnats libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
VERSION := 0.1.0

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Isrc -DEVKIT_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm
# FUZZ=1 (with CC=clang): the library instrumented for libFuzzer, under ASan+UBSan.
ifeq ($(FUZZ),1)
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(shell find src -name '*.c' ! -name main.c | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/console_assets.o \
            $(BUILD)/obj/gen/nodejs_files.o
# The web console's files, embedded in the binary (scripts/embed-console.py).
CONSOLE_FILES := $(shell find console -type f ! -name '.*' 2>/dev/null | sort)
# The Node.js launcher and preload, embedded likewise (scripts/embed-nodejs.py).
NODEJS_FILES := $(sort $(wildcard nodejs/*.js))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# libFuzzer harnesses (tests/fuzz), built with FUZZ=1 into build/fuzz.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzzers/%)
FUZZ_SECONDS ?= 60

.PHONY: all deps run test unit e2e clean bench asan valgrind fuzz fuzz-bins
all: $(BUILD)/evkit

# V=1 shows the full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $(BUILD)/$<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/gen/console_assets.c: scripts/embed-console.py $(CONSOLE_FILES)
	@$(if $(Q),echo "  GEN   $@")
	$(Q)python3 scripts/embed-console.py console $@

$(BUILD)/obj/gen/console_assets.o: $(BUILD)/gen/console_assets.c src/http/console.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/nodejs_files.c: scripts/embed-nodejs.py $(NODEJS_FILES)
	@$(if $(Q),echo "  GEN   $@")
	$(Q)python3 scripts/embed-nodejs.py nodejs $@

$(BUILD)/obj/gen/nodejs_files.o: $(BUILD)/gen/nodejs_files.c src/runtime/nodejs.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libevkit.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/evkit: $(BUILD)/obj/src/main.o $(BUILD)/libevkit.a
	@$(if $(Q),echo "  LINK  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libevkit.a tests/unit/testutil.h tests/unit/tu_store.h tests/unit/tu_nats.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST  $@")
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libevkit.a $(LDLIBS) -lcmocka

unit-bins: $(UNIT_BIN)

$(BUILD)/fuzzers/%: tests/fuzz/%.c $(BUILD)/libevkit.a tests/fuzz/fuzz.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ  $@")
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -Itests/fuzz $(LDFLAGS) -o $@ $< $(BUILD)/libevkit.a $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

# Each harness for FUZZ_SECONDS (default 60) from its committed corpus
# (tests/fuzz/corpus/<harness>); what it finds new goes to build/fuzz/corpus/.
fuzz: deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build/fuzz FUZZ=1 fuzz-bins
	@scripts/fuzz.sh run $(FUZZ_SECONDS)

deps:
	@scripts/deps.sh

# Serve the bundled sample app on 127.0.0.1:8080, journal in var/.
run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/evkit serve --app app --data var --listen 127.0.0.1:8080

# Every test: gcc build (unit, valgrind, e2e), clang build (unit), ASan+UBSan (unit, e2e).
test: deps
	@$(MAKE) --no-print-directory all unit-bins
	@$(MAKE) --no-print-directory CC=clang BUILD=build/clang all unit-bins
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 all unit-bins
	@$(MAKE) --no-print-directory CC=clang BUILD=build/fuzz FUZZ=1 fuzz-bins
	@scripts/run-tests.sh

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/scalegen
	@bench/run.sh

# The store generator of bench/scale, linked against the library.
$(BUILD)/bench/scalegen: bench/scalegen.c $(BUILD)/libevkit.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK  $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libevkit.a $(LDLIBS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
