# Junction - plain non-recursive Makefile. Outputs go under $(BUILD).
#
#   make            build build/junction
#   make run        install what is missing, build, run on conf/junction.conf
#   make test       install test dependencies, build, run every test
#   make san        the test suite under ASan + UBSan (build/san)
#   make check-deps fail when an include crosses the layers in STYLE.md
#   make format-check / make format
#   make bench      benchmark against Mosquitto (bench/RESULTS.md)

BUILD   ?= build
CC      ?= cc
SAN     ?=

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wwrite-strings \
	   -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 $(WARN) -fstack-protector-strong -D_GNU_SOURCE \
	   -I. -MMD -MP
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -D_FORTIFY_SOURCE=2
endif

NET_LIBS  := -levent -lmbedtls -lmbedx509 -lmbedcrypto -lpthread
TEST_LIBS := -lcmocka

# Pure layers go into one static library that unit tests link against.
LIB_SRC   := $(wildcard core/*.c conf/*.c protocols/*/*.c bridge/*.c)
NET_SRC   := $(wildcard net/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
ITEST_SRC := $(wildcard tests/integration/*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
NET_OBJ   := $(NET_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%)
ITEST_BIN := $(ITEST_SRC:%.c=$(BUILD)/%)
LIB       := $(BUILD)/libjunction.a
JUNCTION  := $(BUILD)/junction
JBENCH    := $(BUILD)/jbench

.PHONY: all run test test-run san check-deps format format-check deps-run \
	deps-test bench clean tests

all: $(JUNCTION)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(JUNCTION): $(NET_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(NET_OBJ) $(LIB) $(NET_LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(TEST_LIBS)

$(BUILD)/tests/integration/%: tests/integration/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) -lpaho-mqtt3a -lpthread

$(JBENCH): $(BENCH_SRC) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(BENCH_SRC) $(LIB) -lm

tests: $(JUNCTION) $(UNIT_BIN) $(ITEST_BIN) $(if $(BENCH_SRC),$(JBENCH))

deps-run:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

run: deps-run
	@$(MAKE) --no-print-directory all
	$(JUNCTION) -c conf/junction.conf

# The whole suite; the last line of output is "N passed, M failed".
test: deps-test
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) scripts/run-tests.sh

san: deps-test
	@$(MAKE) --no-print-directory BUILD=build/san SAN=1 tests
	@BUILD=build/san SAN=1 scripts/run-tests.sh

bench: deps-test
	@$(MAKE) --no-print-directory $(JUNCTION) $(JBENCH)
	@BUILD=$(BUILD) bench/run.sh

check-deps:
	@scripts/check-deps.sh

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES)

format:
	@clang-format -i $(FORMAT_FILES)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
