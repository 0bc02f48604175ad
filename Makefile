# Kinora build. `make` builds the CLI and both libraries; `make check` runs the unit tests plainly and
# under ASan/UBSan; `make test` runs everything CI runs except the fuzzers; `make fuzz`, `make bench`.
CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O2
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -fPIC -pthread -Iinclude -Isrc \
              $(shell pkg-config --cflags jansson libpng libjpeg libavcodec libavformat libavutil libswscale libswresample sqlite3 libmicrohttpd freetype2 2>/dev/null)
LIBS    = $(shell pkg-config --libs jansson libpng libjpeg libavcodec libavformat libavutil libswscale libswresample sqlite3 libmicrohttpd freetype2 2>/dev/null) -lm -pthread
SAN     = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Per-ISA flags: a file named *_avx2.c or *_avx512.c is compiled for that ISA and only ever called
# after run-time CPU detection (src/core/cpu.c); everything else stays baseline x86-64.
AVX2_FLAGS   = -mavx2 -mfma -mf16c
AVX512_FLAGS = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni -mfma -mf16c -mavx2

LIB_SRC  = $(sort $(wildcard src/core/*.c src/io/*.c src/models/*.c src/sched/*.c src/pipeline/*.c \
             src/interp/*.c src/train/*.c src/eval/*.c src/serve/*.c src/check/*.c))
CLI_SRC  = $(sort $(wildcard src/cli/*.c))
TEST_SRC = $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC = $(sort $(wildcard bench/bench_*.c))
FUZZ_SRC = $(sort $(wildcard fuzz/fuzz_*.c))
TOOL_SRC = $(sort $(wildcard tools/*.c))

LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
SLIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/san/%.o)
TESTS    = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SANTESTS = $(TEST_SRC:tests/unit/%.c=$(BUILD)/santests/%)
BENCHES  = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
TOOLS    = $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)

isa_flags = $(if $(findstring _avx512,$(1)),$(AVX512_FLAGS),$(if $(findstring _avx2,$(1)),$(AVX2_FLAGS),))
# The interpolation engine's per-pixel loops are baseline C; -O3 vectorises more of them (cup.mp4,
# 1 thread: 19.6 s against 21.8 s of CPU, byte-identical frames). Only when OPT is the default.
interp_opt = $(if $(and $(findstring src/interp/,$(1)),$(filter -O2,$(OPT))),-O3,)

.PHONY: all check test unit santest tools fuzz bench install clean
all: $(BUILD)/kinora $(BUILD)/libkinora.a $(BUILD)/libkinora.so

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(call interp_opt,$<) $(call isa_flags,$<) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(SAN) -O1 $(call isa_flags,$<) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libkinora.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libkinora-san.a: $(SLIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libkinora.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LIBS)

$(BUILD)/kinora: $(CLI_OBJ) $(BUILD)/libkinora.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libkinora.a $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkinora.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -Itests/unit $< -o $@ $(BUILD)/libkinora.a $(LIBS)

$(BUILD)/santests/%: tests/unit/%.c $(BUILD)/libkinora-san.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(SAN) -O1 $(CFLAGS) -Itests/unit $< -o $@ $(BUILD)/libkinora-san.a $(LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libkinora.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $< -o $@ $(BUILD)/libkinora.a $(LIBS)

# Measurement programs quoted in docs/ (built by `make check` so that they keep compiling).
$(BUILD)/tools/%: tools/%.c $(BUILD)/libkinora.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $< -o $@ $(BUILD)/libkinora.a $(LIBS)

tools: $(TOOLS)

unit: all $(TESTS) $(TOOLS)
	@tests/run_unit.sh $(BUILD)/tests

santest: $(SANTESTS)
	@ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run_unit.sh $(BUILD)/santests

check: unit santest

test: check
	@scripts/test.sh --no-setup

# libFuzzer harnesses (clang). FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

bench: all $(BENCHES)
	@scripts/bench.sh
	@scripts/bench-train.sh
	@scripts/bench-unet.sh
	@tools/eval-interp-opencv.sh
	@tools/eval-interp-timesteps.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/kinora $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/kinora $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libkinora.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libkinora.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/kinora/*.h $(DESTDIR)$(PREFIX)/include/kinora/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBS@|$(LIBS)|' kinora.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/kinora.pc

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
