# kube-eventer -- see README.md.
#
#   make               build/kube-eventer: static (musl), stripped
#   make test          every test suite (unit x2, integration, fuzz replay)
#   make bench         benchmarks; figures for the README
#   make FLAVOR=san    the same code on glibc with ASan + UBSan (build/san/)
#   make FLAVOR=vg     glibc, no sanitizers, for valgrind (build/vg/)
#   make fuzz          libFuzzer targets with clang (build/fuzz/)
#   make lint          banned functions, clang-format check, cppcheck
#
# Third-party libraries come from scripts/deps.sh, which builds them from
# pinned upstream sources into a cache outside the work tree.

VERSION   := 0.1.0
GIT_REV   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
FLAVOR    ?= musl
BUILD     ?= build

WARN      := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
             -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wno-format-nonliteral
CPPFLAGS  := -D_GNU_SOURCE -Iinclude -DKE_VERSION='"$(VERSION)"' -DKE_GIT_REV='"$(GIT_REV)"'
LIBS      := -lcurl -lmbedtls -lmbedx509 -lmbedcrypto -lcjson -lyaml -llz4frame -llz4 -lz -lpthread

ifeq ($(FLAVOR),musl)
  CC      := musl-gcc
  B       := $(BUILD)
  DEPSK   := musl
  OPT     := -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables
  LDOPT   := -static -Wl,--gc-sections
else ifeq ($(FLAVOR),san)
  CC      := gcc
  B       := $(BUILD)/san
  DEPSK   := glibc
  OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDOPT   := -fsanitize=address,undefined
else ifeq ($(FLAVOR),vg)
  CC      := gcc
  B       := $(BUILD)/vg
  DEPSK   := glibc
  OPT     := -O1 -g -fno-omit-frame-pointer
  LDOPT   :=
else
  $(error FLAVOR must be musl, san or vg)
endif

# SRCS and UNIT_SRCS can be narrowed on the command line to build one module's
# tests in isolation, e.g. make BUILD=build/x SRCS="src/util.c src/buf.c" ...
SRCS      ?= $(filter-out src/main.c,$(wildcard src/*.c src/sinks/*.c))
OBJS      := $(SRCS:src/%.c=$(B)/obj/%.o)
UNIT_SRCS ?= $(wildcard tests/unit/*.c)
UNIT_OBJS := $(UNIT_SRCS:tests/unit/%.c=$(B)/unit/%.o)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

NOBUILD_GOALS := clean distclean lint format help
ifneq ($(filter-out $(NOBUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
# Generated once per flavor: DEPS_PREFIX := <installed prefix>
-include $(B)/deps.mk
endif

CFLAGS    := $(WARN) $(OPT) -isystem $(DEPS_PREFIX)/include -MMD -MP
LDFLAGS   := $(LDOPT) -L$(DEPS_PREFIX)/lib

.PHONY: all test bench fuzz lint format clean distclean help unit image image-context demo
all: $(B)/kube-eventer

$(B)/deps.mk: scripts/deps.sh $(wildcard scripts/patches/*.patch)
	@mkdir -p $(B)
	@p=$$(scripts/deps.sh $(DEPSK)) && echo "DEPS_PREFIX := $$p" > $@

$(B)/obj/%.o: src/%.c $(B)/deps.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/libke.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/kube-eventer: $(B)/obj/main.o $(B)/libke.a
	$(CC) $(LDFLAGS) $^ $(LIBS) -o $@
ifeq ($(FLAVOR),musl)
	strip --strip-all $@
endif

# suites.h lists every tests/unit/test_<suite>.c; nobody edits it by hand.
$(B)/unit/suites.h: $(UNIT_SRCS)
	@mkdir -p $(dir $@)
	@for f in $(sort $(filter tests/unit/test_%.c,$(UNIT_SRCS))); do \
	  s=$${f#tests/unit/test_}; echo "SUITE($${s%.c})"; done > $@.tmp && mv $@.tmp $@

$(B)/unit/%.o: tests/unit/%.c $(B)/deps.mk $(B)/unit/suites.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit -I$(B)/unit $(CFLAGS) -c $< -o $@

$(B)/unit-tests: $(UNIT_OBJS) $(B)/libke.a
	$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

# Fuzz targets linked with a replay main: runs a corpus without libFuzzer.
$(B)/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c $(B)/libke.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) tests/fuzz/$*.c tests/fuzz/replay.c $(B)/libke.a $(LIBS) -o $@

# Test tools (yaml2json for checking configs/ from Python, lz4block for the SLS emulator; netprobe
# drives net.c).
$(B)/tools/netprobe: tests/tools/netprobe.c $(B)/libke.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

# kafkamock: librdkafka's mock cluster (Debian's librdkafka-dev, glibc) for the kafka tests;
# built when the library is installed (scripts/test-deps.sh installs it).
KAFKAMOCK := $(if $(wildcard /usr/include/librdkafka/rdkafka_mock.h),$(B)/tools/kafkamock)
$(B)/tools/kafkamock: tests/tools/kafkamock.c
	@mkdir -p $(dir $@)
	gcc -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror $< -lrdkafka -o $@

$(B)/tools/%: tests/tools/%.c $(B)/deps.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $< -lyaml -llz4 -o $@

unit: $(B)/unit-tests $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%) $(B)/kube-eventer $(B)/tools/yaml2json \
      $(B)/tools/netprobe $(B)/tools/lz4block $(KAFKAMOCK)

test:
	@scripts/test.sh

demo: $(B)/kube-eventer
	@scripts/demo.sh

# The scratch image's build context: binary, CA bundle, zoneinfo, passwd.
image-context: build/kube-eventer
	@rm -rf build/image && mkdir -p build/image
	cp build/kube-eventer Containerfile build/image/
	cp /etc/ssl/certs/ca-certificates.crt build/image/
	cp -rL /usr/share/zoneinfo build/image/zoneinfo
	rm -rf build/image/zoneinfo/posix build/image/zoneinfo/right
	printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' > build/image/passwd
	printf 'root:x:0:\nnonroot:x:65532:\n' > build/image/group

image: image-context
	podman --storage-driver vfs build -t localhost/kube-eventer:$(VERSION) -f build/image/Containerfile build/image

bench:
	@scripts/bench.sh

fuzz:
	@scripts/fuzz.sh

lint:
	@scripts/lint.sh

format:
	clang-format -i src/*.c src/sinks/*.c include/*.h include/sinks/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/bench/*.c tests/tools/*.c

clean:
	rm -rf build

help:
	@sed -n '2,12p' Makefile

-include $(OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(B)/obj/main.d
