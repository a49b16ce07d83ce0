# Junction - plain non-recursive Makefile. Outputs go under $(BUILD).
#
#   make            build build/junction
#   make run        install what is missing, build, run on conf/junction.conf
#   make test       install test dependencies, build, run every test
#   make san        the test suite under ASan + UBSan (build/san)
#   make check-deps fail when an include crosses the layers in STYLE.md
#   make format-check / make format
#   make bench      Junction vs Mosquitto and RabbitMQ STOMP (bench/RESULTS.md)
#   make fuzz       build the libFuzzer targets (clang) under build/fuzz

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
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
NET_OBJ   := $(NET_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%)
ITEST_BIN := $(ITEST_SRC:%.c=$(BUILD)/%)
LIB       := $(BUILD)/libjunction.a
JUNCTION  := $(BUILD)/junction
JBENCH    := $(BUILD)/jbench

# Fuzz targets: clang with libFuzzer; the pure layers are rebuilt with
# coverage instrumentation into their own library.
FUZZ_CC    := clang
FUZZ_FLAGS := -g -O1 -fsanitize=address,undefined -I. -D_GNU_SOURCE -std=c11
FUZZ_DIR   := build/fuzz
FUZZ_LOBJ  := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_LIB   := $(FUZZ_DIR)/libjunction-fuzz.a
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)

.PHONY: all run test test-run san check-deps format format-check deps-run \
	deps-test bench clean tests fuzz

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

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LOBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB)

fuzz: $(FUZZ_BIN)

tests: $(JUNCTION) $(UNIT_BIN) $(ITEST_BIN) $(if $(BENCH_SRC),$(JBENCH)) \
	$(if $(SAN),,$(FUZZ_BIN))

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

# Never part of `make test`: minutes long and machine-dependent. run.sh
# ends by printing where the results are.
bench:
	@scripts/deps.sh bench
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
