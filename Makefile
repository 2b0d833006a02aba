# sluice: build, test, run.  `make help` lists the targets.
#
# Everything builds into $(BUILD)/ (default build/); the sanitizer build goes
# into build-asan/ so both can coexist.  Dependencies are Debian packages: the
# `deps` targets install missing ones when run as root and otherwise print the
# exact apt-get line and stop.

BUILD    ?= build
CC       ?= gcc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
ifeq ($(CI),true)
WARN     += -Werror
endif
ifneq ($(WERROR),)
WARN     += -Werror
endif
SAN_FLAGS ?=
LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
PKGS     := libcares libsystemd
# apr-util checks the htpasswd hashes of its own (apr1-MD5, {SHA}); its
# pkg-config would drag LDAP in, so only apr's include path is taken.
APR_INC  := $(shell pkg-config --variable=includedir apr-1 2>/dev/null)
CPPFLAGS := -Iinclude -I$(LLHTTP_INC) $(if $(APR_INC),-I$(APR_INC)) -D_GNU_SOURCE
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARN) $(SAN_FLAGS) -pthread -MMD -MP
LDLIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -laprutil-1 -lapr-1 -lcrypt -lm -pthread

VERSION  := 0.1.0

# Packages needed to build, and the extra ones the tests drive.
BUILD_DEBS := gcc make pkg-config node-llhttp libc-ares-dev libsystemd-dev check libaprutil1-dev libcrypt-dev
TEST_DEBS  := curl apache2-utils varnish dnsmasq-base wrk iproute2 iptables openssl chromium mandoc man-db logrotate systemd haproxy prometheus jq squid tinyproxy
BENCH_DEBS := wrk apache2-utils nginx-light haproxy curl valgrind gnuplot-nox squid tinyproxy trafficserver
# Peers the bench starts itself: installing them must not start (or enable at
# boot) their system services, squid's on sluice's own port 3128 among them.
BENCH_DAEMONS := squid tinyproxy trafficserver

SRCS := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
LLHTTP_OBJS := $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o $(BUILD)/llhttp/llhttp.o
UNIT_SRCS := $(wildcard tests/unit/*.c)

.PHONY: all run test unit e2e asan-test tsan-test bench bench-quick soak soak-asan deps deps-test deps-bench clean help install fuzz

# Public targets first install what is missing, then build in a second make:
# make caches directory listings, so a make that installed llhttp's sources
# would not see them.
all: deps
	$(MAKE) $(BUILD)/sluice

help:
	@echo "make            build $(BUILD)/sluice"
	@echo "make run        build and run sluice on its built-in defaults (127.0.0.1:3128)"
	@echo "make test       build and run the unit and end-to-end tests"
	@echo "make asan-test  the same tests on an ASan+UBSan build (build-asan/)"
	@echo "make tsan-test  the end-to-end tests on a ThreadSanitizer build (build-tsan/)"
	@echo "make bench      sluice vs direct, squid, tinyproxy, Traffic Server, nginx, HAProxy (bench/README.md)"
	@echo "make soak       30 minutes of mixed traffic, RSS and fds watched (bench/soak; soak-asan: 3 min, ASan)"
	@echo "make fuzz       every fuzz target, gcc driver and libFuzzer, ASan+UBSan (tests/fuzz/README.md)"
	@echo "make install    install the binary, example config and systemd unit under DESTDIR"

# --- dependencies ---------------------------------------------------------------
# Installs what is missing (root) or prints the apt-get line (others).
# A temporary policy-rc.d keeps Debian from starting any service the install
# brings; $(2) lists services to leave disabled at boot as well.
define need_debs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    policy=; [ -e /usr/sbin/policy-rc.d ] || { policy=1; printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; }; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; rc=$$?; \
	    [ -z "$$policy" ] || rm -f /usr/sbin/policy-rc.d; \
	    [ $$rc = 0 ] || exit 1; \
	    for d in $(2); do case " $$missing " in *" $$d "*) \
	      echo "leaving the $$d service disabled (the tests and the bench start their own $$d)"; \
	      systemctl disable --quiet $$d 2>/dev/null || true; update-rc.d $$d disable >/dev/null 2>&1 || true;; esac; done; \
	  else \
	    echo "missing Debian packages; run as root:"; \
	    echo "  apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call need_debs,$(BUILD_DEBS))

# (haproxy, prometheus, squid, tinyproxy: the tests start their own; their
# services stay off)
deps-test: deps
	$(call need_debs,$(TEST_DEBS),haproxy prometheus squid tinyproxy)

deps-bench: deps
	$(call need_debs,$(BENCH_DEBS),$(BENCH_DAEMONS))

# --- build ----------------------------------------------------------------------
# llhttp in strict mode: Debian's sources default to lenient, which skips
# any two bytes after chunk data and takes any byte after a CR (sluice frames
# bodies itself since, but the heads it reads must be read strictly too).
LLHTTP_FLAGS := -DLLHTTP_STRICT_MODE=1

$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(CFLAGS) $(SAN_FLAGS) $(LLHTTP_FLAGS) -I$(LLHTTP_INC) -c -o $@ $<

$(BUILD)/libllhttp.a: $(LLHTTP_OBJS)
	ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DSLUICE_VERSION='"$(VERSION)"' $(ALL_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -c -o $@ $<

$(BUILD)/sluice: $(OBJS) $(BUILD)/libllhttp.a
	$(CC) $(ALL_CFLAGS) -o $@ $(OBJS) $(BUILD)/libllhttp.a $(LDLIBS)

$(BUILD)/unit: $(UNIT_SRCS) $(wildcard tests/common/*.h) $(LIB_OBJS) $(BUILD)/libllhttp.a
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(shell pkg-config --cflags check) -o $@ $(UNIT_SRCS) \
	  $(LIB_OBJS) $(BUILD)/libllhttp.a $(shell pkg-config --libs check) $(LDLIBS)

$(BUILD)/origin: tests/e2e/origin.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) $(SAN_FLAGS) -pthread -o $@ $<

$(BUILD)/dnsshim: tests/e2e/dnsshim.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) $(SAN_FLAGS) -o $@ $<

$(BUILD)/tunnelpeer: tests/e2e/tunnelpeer.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(CFLAGS) $(WARN) $(SAN_FLAGS) -pthread -o $@ $<

# sluice with the test hooks compiled in (service.c's SLUICE_TEST_HOOKS:
# SIGUSR2 wedges a worker, for the watchdog test); never installed
$(BUILD)/obj-hooks/service.o: src/service.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DSLUICE_TEST_HOOKS -DSLUICE_VERSION='"$(VERSION)"' $(ALL_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -c -o $@ $<

$(BUILD)/sluice-hooks: $(filter-out $(BUILD)/obj/service.o,$(OBJS)) $(BUILD)/obj-hooks/service.o $(BUILD)/libllhttp.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

E2E_TOOLS = $(BUILD)/sluice $(BUILD)/sluice-hooks $(BUILD)/origin $(BUILD)/dnsshim $(BUILD)/tunnelpeer

-include $(OBJS:.o=.d) $(wildcard $(BUILD)/obj-hooks/*.d)

# --- run and test ---------------------------------------------------------------
run: deps
	$(MAKE) $(BUILD)/sluice
	./$(BUILD)/sluice

test: deps-test
	$(MAKE) $(BUILD)/unit $(E2E_TOOLS)
	./$(BUILD)/unit
	tests/e2e/run $(BUILD)

unit: deps-test
	$(MAKE) $(BUILD)/unit
	./$(BUILD)/unit

e2e: deps-test
	$(MAKE) $(E2E_TOOLS)
	tests/e2e/run $(BUILD)

asan-test:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

# sluice side by side with direct and the peers (bench/README.md); writes
# bench/RESULTS.md and bench/plots/.  `make bench-quick` checks the harness.
bench: deps-bench
	$(MAKE) $(BUILD)/sluice
	bench/run

bench-quick: deps-bench
	$(MAKE) $(BUILD)/sluice
	bench/run --quick

# Long-running mixed traffic, watched (bench/soak): SOAK_SECS (30 minutes)
# on the normal build; soak-asan: 2 minutes under ASan+UBSan (CI runs it;
# 3 until the fresh-chroot CI took 1,620 of its 1,800 s).
SOAK_SECS ?= 1800
soak: deps-test
	$(MAKE) $(BUILD)/sluice $(BUILD)/origin $(BUILD)/tunnelpeer
	bench/soak --build $(BUILD) --secs $(SOAK_SECS) --out bench/soak-out

soak-asan: deps-test
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  build-asan/sluice build-asan/origin build-asan/tunnelpeer
	ASAN_OPTIONS=quarantine_size_mb=16 bench/soak --build build-asan --secs 120 --out build-asan/soak-out

# ThreadSanitizer over the threaded paths: the acceptor hand-off, the
# workers, and everything the e2e tests drive through them.  Left out (they
# run under the plain and the ASan build): tests whose time goes into one
# worker's data path or into tools, not into threads meeting: big bodies
# (96 s under TSan), bulk, copied and idle tunnels, origin and client
# resets, the DNS flood, the docs, install, unit, logrotate, Prometheus and
# browser tests, the namespaces of the transparent setup and the real squid
# and tinyproxy parents (t_parent_chain runs parents under TSan).  CI must
# stay under 30 minutes.
TSAN_SKIP  := t_load_bigbody t_tunnel_bulk t_tunnel_copy t_tunnel_idle t_fault_origin_reset t_fault_client_rst \
              t_dns_flood t_docs_man t_docs_map t_install t_unit_security t_ops_logrotate t_mon_prometheus \
              t_tunnel_ws_browser t_transparent t_parent_peers
TSAN_TESTS ?= $(filter-out $(TSAN_SKIP),$(basename $(notdir $(wildcard tests/e2e/t_*.sh))))
tsan-test:
	$(MAKE) deps-test
	$(MAKE) BUILD=build-tsan CFLAGS="-O1 -g" SAN_FLAGS="-fsanitize=thread" build-tsan/sluice build-tsan/sluice-hooks build-tsan/origin build-tsan/dnsshim build-tsan/tunnelpeer
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" tests/e2e/run build-tsan $(TSAN_TESTS)

# Debian's layout, staged under DESTDIR (packaging; tests/e2e/t_install.sh):
# the binary in $(PREFIX)/sbin, the units in SYSTEMDDIR, the config and the
# logrotate file under SYSCONFDIR, man pages gzipped.  The unit's paths
# follow SBINDIR, SYSCONFDIR and DOCDIR.  Files under SYSCONFDIR are the
# admin's: one already there is left as it is, and when it differs from the
# shipped one, that goes beside it as FILE.dist (make says so).  `make
# uninstall` removes the rest and leaves them.
PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
SYSTEMDDIR ?= /lib/systemd/system
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/sluice
# install_conf SRC DEST: SRC to DEST, unless DEST exists (then DEST.dist)
define install_conf
	@if [ ! -e $(2) ]; then \
	  echo "install $(1) -> $(2)"; install -D -m 0644 $(1) $(2); \
	elif cmp -s $(1) $(2); then :; \
	else \
	  install -m 0644 $(1) $(2).dist; \
	  echo "kept $(2) as it is; the shipped version is $(2).dist"; \
	fi
endef

install: $(BUILD)/sluice
	install -D -m 0755 $(BUILD)/sluice $(DESTDIR)$(SBINDIR)/sluice
	install -d $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	sed -e 's|/usr/sbin/sluice|$(SBINDIR)/sluice|g' -e 's|/etc/sluice/|$(SYSCONFDIR)/sluice/|g' \
	  -e 's|/usr/share/doc/sluice/|$(DOCDIR)/|g' systemd/sluice.service >$(DESTDIR)$(SYSTEMDDIR)/sluice.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/sluice.service
	install -m 0644 systemd/sluice.socket $(DESTDIR)$(SYSTEMDDIR)/sluice.socket
	$(call install_conf,systemd/sluice.conf,$(DESTDIR)$(SYSCONFDIR)/sluice/sluice.conf)
	$(call install_conf,systemd/sluice.logrotate,$(DESTDIR)$(SYSCONFDIR)/logrotate.d/sluice)
	gzip -9n -c doc/sluice.8 >$(DESTDIR)$(MANDIR)/man8/sluice.8.gz
	gzip -9n -c doc/sluice.conf.5 >$(DESTDIR)$(MANDIR)/man5/sluice.conf.5.gz
	chmod 0644 $(DESTDIR)$(MANDIR)/man8/sluice.8.gz $(DESTDIR)$(MANDIR)/man5/sluice.conf.5.gz
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@[ -n "$(DESTDIR)" ] || echo "then: systemctl daemon-reload; systemctl enable --now sluice.service (or sluice.socket)"

.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/sluice $(DESTDIR)$(SYSTEMDDIR)/sluice.service $(DESTDIR)$(SYSTEMDDIR)/sluice.socket \
	  $(DESTDIR)$(MANDIR)/man8/sluice.8.gz $(DESTDIR)$(MANDIR)/man5/sluice.conf.5.gz $(DESTDIR)$(DOCDIR)/README.md
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@echo "left $(DESTDIR)$(SYSCONFDIR)/sluice/ and $(DESTDIR)$(SYSCONFDIR)/logrotate.d/sluice (yours to remove)"

clean:
	rm -rf build build-asan build-tsan

# --- fuzzing --------------------------------------------------------------------
# Every target in FUZZ_TARGETS is tests/fuzz/fuzz_NAME.c (a libFuzzer entry
# point that aborts on a broken promise, tests/fuzz/README.md), seeded from
# tests/fuzz/corpus/NAME/ and, when there is one, tests/fuzz/dict/NAME.dict.
# It is built twice against all of src/ but main.c, and llhttp, with ASan
# and UBSan: $(BUILD)/fuzz_NAME with gcc and tests/fuzz/driver.c, which
# runs FUZZ_ITERATIONS inputs mutated deterministically from the seeds (the
# same FUZZ_SEED gives the same inputs), and $(BUILD)/fuzz_NAME_libfuzzer
# with clang, run for as many inputs or FUZZ_TIME seconds, whichever ends
# first; its new inputs go to $(BUILD)/fuzz-corpus/NAME/ (not into the
# repository).  `make fuzz` fails on any finding and prints the reproducer.
# Adding a target is adding its name here.
FUZZ_TARGETS    := tls_hello config authority request response body proxy
FUZZ_ITERATIONS ?= 500000
FUZZ_SEED       ?= 1
FUZZ_TIME       ?= 15
# the long run (README "Long run"): libFuzzer only, FUZZ_LONG_TIME s a target
FUZZ_LONG_TIME  ?= 720
FUZZ_DEBS  := clang libclang-rt-14-dev
FUZZ_SAN   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_FLAGS  = $(CPPFLAGS) -DSLUICE_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
              -std=gnu11 $(WARN) $(FUZZ_SAN) -pthread
FUZZ_LLHTTP_FLAGS = -std=gnu11 $(FUZZ_SAN) $(LLHTTP_FLAGS) -I$(LLHTTP_INC)
FUZZ_LIB_OBJS = $(LIB_SRCS:src/%.c=$(BUILD)/fuzz/$(1)/src/%.o) \
                $(LLHTTP_OBJS:$(BUILD)/llhttp/%=$(BUILD)/fuzz/$(1)/llhttp/%)
FUZZ_HDRS  := tests/fuzz/target.h $(wildcard tests/common/*.h include/sluice/*.h)

.PHONY: deps-fuzz fuzz-long

# the library every target links, once per compiler; the linker takes the
# objects a target needs from it
$(BUILD)/fuzz/gcc/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FUZZ_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/gcc/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FUZZ_LLHTTP_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/clang/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/clang/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_LLHTTP_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/gcc/libsluice.a: $(call FUZZ_LIB_OBJS,gcc)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/clang/libsluice.a: $(call FUZZ_LIB_OBJS,clang)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(FUZZ_HDRS) $(BUILD)/fuzz/gcc/libsluice.a
	$(CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/driver.c $< $(BUILD)/fuzz/gcc/libsluice.a $(LDLIBS)

$(BUILD)/fuzz_%_libfuzzer: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $(BUILD)/fuzz/clang/libsluice.a
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/fuzz/clang/libsluice.a $(LDLIBS)

-include $(wildcard $(BUILD)/fuzz/*/*/*.d)

# clang and libFuzzer (in libclang-rt-14-dev, only recommended by clang)
deps-fuzz: deps
	$(call need_debs,$(FUZZ_DEBS))

fuzz: deps-fuzz
	$(MAKE) $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%) $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%_libfuzzer)
	tests/fuzz/run $(BUILD) $(FUZZ_SEED) $(FUZZ_ITERATIONS) $(FUZZ_TIME) $(FUZZ_TARGETS)

# An hour of one core with the defaults; run it under nice (README).
fuzz-long: deps-fuzz
	$(MAKE) $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%_libfuzzer)
	tests/fuzz/run --libfuzzer-only $(BUILD) $(FUZZ_SEED) -1 $(FUZZ_LONG_TIME) $(FUZZ_TARGETS)
