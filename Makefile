# SPDX-License-Identifier: MIT
# xcmod - see README.md.  `make setup` once on a fresh Debian 12 or 13
# machine (as root), then `make test`.  Everything built lands in build/.

# Python: a virtual environment made by `make setup` from Debian's own
# python3 (PEP 668 keeps pip out of the system interpreter).  Every target
# runs in it; `. .venv/bin/activate` gives a shell the same `python3 -m xcmod`
# and `xcmod`.
SYSTEM_PYTHON ?= /usr/bin/python3
VENV      ?= .venv
PYTHON    ?= $(VENV)/bin/python3
CC        ?= gcc
CLANG     ?= clang
CFLAGS    ?= -O2 -g
WARN      := -std=c11 -Wall -Wextra -Werror
BUILD     := build
FUZZ_SECONDS ?= 60
# Caches outside the clone (firmware builds, the packaging test's wheels).
XCMOD_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/xcmod
WHEELHOUSE  := $(XCMOD_CACHE)/wheelhouse

# Debian packages the project and its tests need, by the same name on every
# Debian release.  libvirt: virt-xml-validate (libvirt-clients) checks every
# exported document; virt-qemu-run (libvirt-daemon-driver-qemu) boots one,
# and its QEMU driver needs the libvirt-qemu user that libvirt-daemon-system
# creates (no daemon is started); the rig runs libvirtd with the libxl driver
# (libvirt-daemon-driver-xen) in its dom0, never on this machine.
# python3-construct (with python3-cffi-backend): what `make install`'s xcmod
# runs on with Debian's python3 (tests/test_packaging.py runs it).
# autoconf, libyajl-dev, zlib1g-dev, libncurses-dev (tools/configure requires a
# curses even for libxl and xl; with uuid-dev, python3-dev, pkg-config):
# make xl-series's build of Xen's tools/libs and xl (configure made afresh:
# Debian's xen source ships none).
DEB_PACKAGES := build-essential clang libxen-dev dmidecode acpica-tools \
                qemu-system-x86 seabios ovmf ipxe-qemu python3-dev python3-cffi-backend \
                qemu-system-xen dpkg-dev patch python3-venv debootstrap nasm uuid-dev \
                libvirt-clients libxml2-utils libvirt-daemon-driver-qemu libvirt-daemon-system \
                libvirt-daemon-driver-xen python3-construct pkg-config man-db \
                autoconf libyajl-dev zlib1g-dev libncurses-dev
# The two whose names carry a version, as the release's own apt metadata
# names them: the runtime of its default clang (clang depends on clang-N:
# libclang-rt-N-dev; bookworm 14, trixie 19) and the toolstack of its default
# Xen (xen-system-ARCH depends on xen-utils-X.Y; bookworm 4.17, trixie 4.20).
DEB_VERSIONED = $$(apt-cache depends clang | \
                   sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$$/libclang-rt-\1-dev/p') \
                $$(apt-cache depends xen-system-$$(dpkg --print-architecture) | \
                   sed -n 's/^ *Depends: \(xen-utils-[0-9][0-9.]*\)$$/\1/p')
READER_SRC := csrc/xcmod_reader.c
READER_HDR := csrc/xcmod_reader.h csrc/xcmod_module.h

.PHONY: all ffi setup test soak test-xen test-xen-installed xen-run fuzz bench clean freestanding fake-xen hvmloader \
        ovmf ovmf-rig install install-files man completion dist deb

all: $(BUILD)/xcmod-read freestanding

setup:
	apt-get update
	@versioned="$(DEB_VERSIONED)"; set -- $$versioned; \
	    [ $$# = 2 ] || { echo "make setup: apt names no libclang-rt-N-dev and xen-utils-X.Y" \
	                          "(got: '$$versioned'): is apt-get update's mirror a Debian one?"; exit 1; }; \
	    echo "make setup: this release's versioned packages: $$versioned"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	        $(DEB_PACKAGES) $$versioned
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip 'setuptools>=77' wheel 'cffi>=1.16'
	$(PYTHON) -m pip install --quiet --prefer-binary --no-build-isolation -e '.[test]'
	@mkdir -p $(BUILD) && touch $(BUILD_EXT)

# --prefer-binary: without build isolation (which the project's own cffi build
# wants) a dependency that pip takes as an sdist cannot be built: the index
# serves reuse 6.2.0 as an sdist only (poetry-core backend), and a fresh Debian
# 13 root's make setup failed on it ("Cannot import build backend
# 'poetry.core.masonry.api'"); the newest release with a wheel for this Python
# is taken instead (reuse 5.1.1 on Debian 13).

# A plain editable install (no compat mode): pyproject.toml's package-dir
# ("" = ".") makes setuptools' default mode put the clone on sys.path with a
# plain .pth, as compat mode did, instead of the import hook it installs for
# an undeclared flat layout, which every interpreter start imports (measured
# then, min of 45 runs each: `python3 -m benchmarks.empty` 16.7 -> 25.2 ms,
# `xcmod verify` 38.7 -> 43.5 ms).  And no deprecation box.  make bench, one
# after the other on the same machine, plain against compat: build 2.20x and
# 2.14x against 2.09x of the empty interpreter, verify 1.21x/1.16x against
# 1.18x, inspect 1.72x/1.79x against 1.71x, load 1.43x/1.35x against 1.39x.

# The two cffi modules, rebuilt in place (the editable install's) whenever
# their C or cdefs change, so `make test` never runs a stale binding.
BUILD_EXT := $(BUILD)/.ffi-built
FFI_INPUTS := xcmod/_ffi_build.py setup.py $(wildcard csrc/*.c csrc/*.h csrc/cdefs/*.h)
ffi: $(BUILD_EXT)
$(BUILD_EXT): $(FFI_INPUTS) | $(BUILD)
	$(PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(BUILD):
	mkdir -p $@

$(BUILD)/xcmod-read: csrc/xcmod_read.c $(READER_SRC) $(READER_HDR) | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -Icsrc -o $@ csrc/xcmod_read.c $(READER_SRC)

# The reader as hvmloader would build it: 32-bit, freestanding, no libc
# headers, no PIC.  It must need no symbol from outside itself.
freestanding: $(BUILD)/xcmod_reader.freestanding.o
$(BUILD)/xcmod_reader.freestanding.o: $(READER_SRC) $(READER_HDR) | $(BUILD)
	$(CC) -m32 -ffreestanding -fno-builtin -fno-pic -fno-pie -nostdinc \
	    -isystem $$($(CC) -print-file-name=include) $(WARN) -O2 \
	    -c -o $@ $(READER_SRC)
	@undef=$$(nm -u $@); if [ -n "$$undef" ]; then \
	    echo "freestanding reader needs external symbols: $$undef"; rm -f $@; exit 1; fi

$(BUILD)/fuzz/xcmod_reader_fuzz: csrc/fuzz/xcmod_reader_fuzz.c $(READER_SRC) $(READER_HDR)
	mkdir -p $(BUILD)/fuzz
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -Icsrc -o $@ csrc/fuzz/xcmod_reader_fuzz.c $(READER_SRC)

# libFuzzer + ASan/UBSan over the C reader, seeded with images built from the
# real fixtures; bounded by FUZZ_SECONDS.
fuzz: $(BUILD)/fuzz/xcmod_reader_fuzz
	$(PYTHON) -m tests.seeds $(BUILD)/fuzz/seeds
	mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/xcmod_reader_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus $(BUILD)/fuzz/seeds

# C test double of libxenctrl, picked with LD_LIBRARY_PATH: the installed
# library's soname and each symbol's version node (readelf; Xen 4.17 names it
# VERS_4.17.0, 4.20 otherwise), so the binding built against the real library
# binds to the double whichever Xen is installed.
FAKE_XEN := $(BUILD)/fake-xen
XENCTRL_REAL := $(shell $(CC) -print-file-name=libxenctrl.so)
XENCTRL_SONAME := $(shell readelf -d $(XENCTRL_REAL) 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
fake-xen: $(FAKE_XEN)/libxenctrl.so
$(FAKE_XEN)/libxenctrl.so: tests/fakexen/fake_xenctrl.c tests/fakexen/mkmap
	@test -n "$(XENCTRL_SONAME)" || { echo "fake-xen: no libxenctrl.so found (apt-get install libxen-dev)"; exit 1; }
	mkdir -p $(FAKE_XEN)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -fPIC -c -o $(FAKE_XEN)/fake_xenctrl.o $<
	sh tests/fakexen/mkmap $(XENCTRL_REAL) $(FAKE_XEN)/fake_xenctrl.o > $(FAKE_XEN)/libxenctrl.map
	$(CC) -shared -Wl,-soname,$(XENCTRL_SONAME) -Wl,--version-script=$(FAKE_XEN)/libxenctrl.map \
	    -o $(FAKE_XEN)/$(XENCTRL_SONAME) $(FAKE_XEN)/fake_xenctrl.o
	ln -sf $(XENCTRL_SONAME) $@
fake-xen: $(FAKE_XEN)/xenstored-preload.so
$(FAKE_XEN)/xenstored-preload.so: tests/fakexen/xenstored_preload.c
	mkdir -p $(FAKE_XEN)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -fPIC -shared -o $@ $< -ldl

# Tests run the real cffi module and C shim against the libxenctrl double.
# reuse lint: every file states its licence (REUSE.toml, LICENSES/); run on a
# copy of the files git sees (committed or not, less what .gitignore names):
# reuse itself walks every directory, build/ too (a rig's unpacked packages, a
# fresh root's /proc), looking for REUSE.toml files.
test: all ffi fake-xen $(BUILD)/fuzz/xcmod_reader_fuzz $(WHEELHOUSE)/.complete
	@tree=$$(mktemp -d) && trap 'rm -rf "$$tree"' EXIT && \
	    git ls-files -z --cached --others --exclude-standard | \
	        tar --null -T - --ignore-failed-read -cf - | tar -C "$$tree" -xf - && \
	    echo "$(PYTHON) -m reuse lint --lines  # on the files git sees" && \
	    { $(PYTHON) -m reuse --root "$$tree" lint --lines > "$$tree.lint"; rc=$$?; \
	      sed "s|^$$tree/||" "$$tree.lint"; rm -f "$$tree.lint"; exit $$rc; }
	LD_LIBRARY_PATH=$(CURDIR)/$(FAKE_XEN) $(PYTHON) -m pytest

# The packages the build and the runtime of a wheel need, downloaded once into
# the cache outside the clone (as the firmware builds are): tests/test_packaging.py
# builds the sdist and its wheel in isolation and installs the wheel into a
# scratch venv from these alone (pip --no-index), offline.
$(WHEELHOUSE)/.complete: pyproject.toml
	$(PYTHON) -m pip download --quiet --dest $(WHEELHOUSE) \
	    'setuptools>=77' wheel 'cffi>=1.16' 'construct>=2.10.68,<2.11'
	touch $@

# 10,000 load cycles through the real shim, double and xenstored: no growth in
# open fds, mappings or RSS (not part of `make test`).
soak: all ffi fake-xen
	LD_LIBRARY_PATH=$(CURDIR)/$(FAKE_XEN) $(PYTHON) -m pytest -m soak -s tests/test_soak.py

# hvmloader from a Xen source tree, stock (hvmloader.stock) and with xcmod's
# patch series (hvmloader/series): XEN_SRC=DIR is any tree (a xen.git checkout
# or archive at a release tag or master, a distribution's source tree); without
# it, Debian's source of the installed Xen, or the newest one the mirror serves.
# Built once per source and series into a cache outside the clone
# (${XDG_CACHE_HOME:-~/.cache}/xcmod/hvmloader/), copied into build/hvmloader
# with build-info saying what from; so always run, it is quick when cached.
# hvmloader-prefixes also builds every prefix of the series (-Werror): each
# patch builds on its own.  See docs/hvmloader.md.
XEN_SRC ?=
.PHONY: hvmloader-prefixes
hvmloader: | $(BUILD)
	XEN_SRC="$(XEN_SRC)" sh hvmloader/build $(BUILD)/hvmloader
hvmloader-prefixes: | $(BUILD)
	XEN_SRC="$(XEN_SRC)" sh hvmloader/build --prefixes $(BUILD)/hvmloader

# libxl and xl (the tree's tools/libs and tools/xl, nothing else) with the
# upstream part of the series applied: xl.cfg's firmware_tables=.  Same tree
# as make hvmloader (XEN_SRC=DIR or Debian's source of the installed Xen),
# configured with Debian's paths; built once per source and series into
# ${XDG_CACHE_HOME:-~/.cache}/xcmod/xl-series/, copied to build/xl-series
# (bin/xl, lib/: run with LD_LIBRARY_PATH=build/xl-series/lib).  The rig runs
# it (tests/test_xen_rig_series.py).  See docs/hvmloader.md.
.PHONY: xl-series
xl-series: | $(BUILD)
	XEN_SRC="$(XEN_SRC)" nice -n 10 sh hvmloader/build-xl $(BUILD)/xl-series

# The upstream part of the series (not hvmloader/patches/compat/) as a git
# format-patch series for xen-devel, 0000-cover-letter.patch first, in
# build/hvmloader-series; with XEN_SRC=DIR (a tree of xen.git master) taken
# with git am onto it and written again.  See docs/hvmloader.md.
.PHONY: hvmloader-series
hvmloader-series: | $(BUILD)
	XEN_SRC="$(XEN_SRC)" sh hvmloader/format-series $(BUILD)/hvmloader-series

# edk2's OvmfXen (the OVMF that takes hvmloader's tables under Xen) from
# Debian's edk2 source with ovmf/patches; built once per source version and
# patch set into ~/.cache/xcmod/ovmf (XCMOD_CACHE), copied to build/ovmf.
# See README.md, "UEFI guests".
OVMF_INPUTS := ovmf/build ovmf/series $(wildcard ovmf/patches/*.patch)
ovmf: $(BUILD)/ovmf/OVMF.fd
$(BUILD)/ovmf/OVMF.fd: $(OVMF_INPUTS)
	sh ovmf/build $(BUILD)/ovmf
# The rig's (tests/test_xen_rig_ovmf.py): ovmf/series-rig adds a workaround for
# the rig's outer QEMU that users do not need.
ovmf-rig: $(BUILD)/ovmf-rig/OVMF.fd
$(BUILD)/ovmf-rig/OVMF.fd: $(OVMF_INPUTS) ovmf/series-rig
	sh ovmf/build $(BUILD)/ovmf-rig ovmf/series-rig

# The real stack under QEMU TCG (tests/xenrig): the host's Xen (Debian's
# hypervisor of the installed toolstack), a dom0 of the same Debian release,
# xl, xenstored, Debian's hvmloader and make hvmloader's builds (XEN_SRC=DIR
# boots those built from DIR); packages downloaded once into build/xenrig.
# With a UEFI guest too: make ovmf-rig's OvmfXen (cached) booted by the patched
# hvmloader (tests/test_xen_rig_ovmf.py).  -rP: the figures the tests print
# (load against xl create -p, the image's boot cost on every path, OVMF's time
# to tables, each boot's time by step).  And libvirt's libxl driver in dom0
# (libvirt-daemon-driver-xen), running what `xcmod export libvirt --driver xen`
# wrote (tests/test_xen_rig_libvirt.py); and the xcmod Debian packages installed
# on this machine (make deb; tests/test_xen_rig_installed.py, skipped without
# them, an error with CI=true).  And xl.cfg's firmware_tables= alone, through
# make xl-series's libxl and xl (the patched tree's) in dom0, across guest
# reboots (tests/test_xen_rig_series.py).
test-xen: all ffi hvmloader ovmf-rig xl-series
	$(PYTHON) -m pytest -m xen -rP tests/test_xen_rig.py tests/test_xen_rig_ovmf.py \
	    tests/test_xen_rig_libvirt.py tests/test_xen_rig_installed.py \
	    tests/test_xen_rig_series.py

# The installed-package boot alone (after make deb and apt-get install of the
# packages; tests/fresh-debian.sh runs it in a fresh root with FRESH_DEB=1).
test-xen-installed: all ffi hvmloader ovmf-rig
	CI=true $(PYTHON) -m pytest -m xen -rP tests/test_xen_rig_installed.py

# Boot the rig and run SCRIPT (sh) in dom0 with DATA's files at /data; exits
# with the script's status (see README, "Running on real Xen").  TIMEOUT bounds
# each wait (seconds, default 300): a script booting several UEFI guests needs more.
# LIBVIRT=1: dom0 has libvirtd with libvirt's libxl driver (tests/xenrig/libvirt.py).
TIMEOUT ?= 300
xen-run: all ffi hvmloader ovmf-rig
	@test -n "$(SCRIPT)" || { echo "usage: make xen-run SCRIPT=/abs/script.sh [DATA=/abs/dir] [XEN_SRC=DIR] [TIMEOUT=SECONDS] [LIBVIRT=1]"; exit 2; }
	$(PYTHON) -m tests.xenrig run --timeout "$(TIMEOUT)" $(if $(LIBVIRT),--libvirt) "$(SCRIPT)" $(if $(DATA),"$(DATA)")

# --- Installing (docs/install.md) --------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: the xcmod command and its modules
# for INSTALL_PYTHON (Debian's python3; it needs python3-construct and
# python3-cffi-backend), xcmod(1) and the bash completion generated from the
# command line's own parser, the C header and reader with a pkg-config file,
# and, when built (make hvmloader, make ovmf), the patched hvmloader and
# OvmfXen in PREFIX/lib/xcmod/, beside Xen's own (never over them).
# install-files is the same without building the compiled modules first
# (debian/rules builds them with the system's cffi).
PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
LIBDIR       ?= $(PREFIX)/lib
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR  ?= $(DATADIR)/bash-completion/completions
INSTALL_PYTHON ?= $(SYSTEM_PYTHON)
PYTHONDIR    ?= $(PREFIX)/lib/python$(shell $(INSTALL_PYTHON) -c \
                  'import sys; print("%d.%d" % sys.version_info[:2])')/dist-packages
VERSION      := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' xcmod/__init__.py)
# The generators import the clone's xcmod (shtab: the completion, from the same parser)
GEN_PYTHON   = PYTHONPATH=$(CURDIR) $(PYTHON)
CLI_SOURCES  := xcmod/__init__.py $(wildcard xcmod/cli/*.py)

man: $(BUILD)/man/xcmod.1
$(BUILD)/man/xcmod.1: tools/xcmod-manpage $(CLI_SOURCES)
	mkdir -p $(dir $@)
	$(GEN_PYTHON) tools/xcmod-manpage $@
completion: $(BUILD)/completion/xcmod
$(BUILD)/completion/xcmod: $(CLI_SOURCES)
	mkdir -p $(dir $@)
	$(GEN_PYTHON) -m shtab --shell=bash --prog xcmod xcmod.cli.build_parser > $@.new
	mv $@.new $@
$(BUILD)/xcmod.pc: tools/xcmod.pc.in xcmod/__init__.py | $(BUILD)
	sed -e '/^#/d' -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

install: ffi
	$(MAKE) install-files
install-files: man completion
	@ls xcmod/image/_reader*.so >/dev/null 2>&1 || \
	    { echo "make install: no compiled xcmod/image/_reader module (make ffi)"; exit 1; }
	rm -f $(BUILD)/xcmod.pc && $(MAKE) $(BUILD)/xcmod.pc
	cd xcmod && find . -name '*.py' -o -name '_*.so' | LC_ALL=C sort | while read -r f; do \
	    install -D -m 0644 "$$f" "$(DESTDIR)$(PYTHONDIR)/xcmod/$$f" || exit 1; done
	install -d $(DESTDIR)$(BINDIR)
	printf '#!%s\n# The xcmod command (make install).\nimport sys\nfrom xcmod.cli import console_main\nsys.exit(console_main())\n' \
	    '$(INSTALL_PYTHON)' > $(DESTDIR)$(BINDIR)/xcmod
	chmod 0755 $(DESTDIR)$(BINDIR)/xcmod
	install -D -m 0644 $(BUILD)/man/xcmod.1 $(DESTDIR)$(MANDIR)/man1/xcmod.1
	install -D -m 0644 $(BUILD)/completion/xcmod $(DESTDIR)$(BASHCOMPDIR)/xcmod
	install -D -m 0644 csrc/xcmod_module.h $(DESTDIR)$(INCLUDEDIR)/xcmod/xcmod_module.h
	install -D -m 0644 csrc/xcmod_reader.h $(DESTDIR)$(INCLUDEDIR)/xcmod/xcmod_reader.h
	install -D -m 0644 csrc/xcmod_reader.c $(DESTDIR)$(DATADIR)/xcmod/reader/xcmod_reader.c
	install -D -m 0644 csrc/xcmod_reader.h $(DESTDIR)$(DATADIR)/xcmod/reader/xcmod_reader.h
	install -D -m 0644 csrc/xcmod_module.h $(DESTDIR)$(DATADIR)/xcmod/reader/xcmod_module.h
	install -D -m 0644 $(BUILD)/xcmod.pc $(DESTDIR)$(PKGCONFIGDIR)/xcmod.pc
	if [ -f $(BUILD)/hvmloader/hvmloader ]; then \
	    install -D -m 0644 $(BUILD)/hvmloader/hvmloader $(DESTDIR)$(LIBDIR)/xcmod/hvmloader; fi
	if [ -f $(BUILD)/ovmf/OVMF.fd ]; then \
	    install -D -m 0644 $(BUILD)/ovmf/OVMF.fd $(DESTDIR)$(LIBDIR)/xcmod/OvmfXen.fd; fi

# make deb: Debian packages of this release into build/deb/ (docs/install.md):
# xcmod (the tool for the system's python3), xcmod-dev (header, reader,
# pkg-config) and xcmod-firmware (the patched hvmloader and OvmfXen in
# /usr/lib/xcmod/).  As root it installs its build dependencies first (apt-get
# build-dep on debian/control, as make setup does); it fetches Xen's and
# edk2's source as make hvmloader and make ovmf do (their builds are cached),
# then dpkg-buildpackage builds a copy of the tree with no network (in a
# network namespace of its own where unshare allows one), and lintian checks
# the result (errors fail; the warnings kept are justified in debian/).
DEB_DIR     := $(BUILD)/deb
DEB_OFFLINE  = $$(unshare --net true 2>/dev/null && echo unshare --net)
deb: | $(BUILD)
	@if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
	        build-essential dpkg-dev lintian git && \
	    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 ./; \
	else dpkg-checkbuilddeps; fi
	$(MAKE) hvmloader ovmf
	@rel=$$(apt-cache depends xen-system-$$(dpkg --print-architecture) 2>/dev/null | \
	        sed -n 's/^ *Depends: xen-utils-\([0-9][0-9.]*\)$$/\1/p'); \
	src=$$(sed -n -E '1s/^source: [^0-9]*([0-9]+\.[0-9]+).*/\1/p' $(BUILD)/hvmloader/build-info); \
	if [ -n "$$rel" ] && [ "$$rel" != "$$src" ]; then \
	    echo "make deb: WARNING: this release's Xen is $$rel, hvmloader is built from Xen $$src:"; \
	    sed -n '1s/^source: /make deb:   /p' $(BUILD)/hvmloader/build-info; \
	    echo "make deb: XEN_SRC=DIR (a Xen $$rel tree) builds it from that release"; fi
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/xcmod-$(VERSION)
	git ls-files -z --cached --others --exclude-standard | \
	    tar --null -T - --ignore-failed-read -cf - | tar -C $(DEB_DIR)/xcmod-$(VERSION) -xf -
	cd $(DEB_DIR)/xcmod-$(VERSION) && \
	    env XCMOD_CACHE=$(XCMOD_CACHE) XEN_SRC="$(XEN_SRC)" $(DEB_OFFLINE) dpkg-buildpackage -us -uc -b
	rm -rf $(DEB_DIR)/xcmod-$(VERSION)
	lintian --fail-on error --display-info $(DEB_DIR)/*.changes
	@ls -l $(DEB_DIR)/*.deb

bench: all ffi fake-xen
	$(PYTHON) -m benchmarks
	LD_LIBRARY_PATH=$(CURDIR)/$(FAKE_XEN) $(PYTHON) -m benchmarks.load

clean:
	rm -rf $(BUILD) .pytest_cache .hypothesis
