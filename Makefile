# netroot — see README.md.
#   make         build the host tool and the init into build/
#   make test    unit (also under -race) + fuzz smoke + QEMU boot tests (installs apt packages it needs)
#   make boot    build everything and boot the demo guest to its iSCSI root
#   make pxe-boot the same, network-booted: iPXE ROM → dnsmasq DHCP/TFTP → pxelinux → netroot
#   make bench   benchmarks (figures, not assertions)
#   make uroot   netroot's init in a u-root busybox image, with both images' sizes
#   make test-full    the whole matrix (every QEMU test, fuzz at FUZZTIME); make test runs a CI-sized subset
#   make test-distro  the real-distribution matrix: Debian 12/13 roots booted on netroot

SHELL     := /bin/bash
GO        ?= go
BUILD     := build
FUZZTIME  ?= 30000x
# Debian packages the tests and the demo need.
DEB_PKGS  := qemu-system-x86 qemu-utils tgt e2fsprogs xfsprogs btrfs-progs dosfstools gdisk fdisk \
             busybox-static kmod cpio iproute2 dnsmasq-base \
             pxelinux syslinux-common ipxe-qemu sg3-utils tcpdump debootstrap \
             gcc libc6-dev zstd

.PHONY: all deps test test-full unit race fuzz integration test-distro boot pxe-boot bench uroot clean FORCE

all: $(BUILD)/netroot $(BUILD)/netroot-init

$(BUILD)/netroot: FORCE
	$(GO) build -trimpath -o $@ ./cmd/netroot

$(BUILD)/netroot-init: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ ./cmd/init

# deps installs the Debian packages that are missing (needs root).
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

test: deps all unit race
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)
	$(MAKE) integration

unit:
	$(GO) vet ./...
	@# The host tool (build, check, analyze) runs on an admin's Mac too.
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/netroot
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) test $$($(GO) list ./... | grep -v /integration)

# race runs the unit tests again under the race detector: /init, the
# keeper and the shutdown role are concurrent Go programs, and PID 1 must
# not crash on a data race (the detector needs cgo: gcc and libc6-dev).
race:
	CGO_ENABLED=1 $(GO) test -race -count=1 $$($(GO) list ./... | grep -v /integration)

# fuzz runs every fuzz target briefly (FUZZTIME each) as a smoke check; a
# failing target's output is shown (a crashing input lands in testdata/fuzz).
# FUZZTIME is a count of executions, not a duration: with a duration, Go
# 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" as the time runs out (golang/go#75804, fixed in Go 1.27), which
# broke CI twice with no crashing input.
fuzz:
	@mkdir -p $(BUILD); set -e; for pkg in $$($(GO) list ./pkg/... ./internal/...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg > $(BUILD)/fuzz.log 2>&1 || \
				{ tail -40 $(BUILD)/fuzz.log; exit 1; }; \
		done; \
	done

# make test's QEMU tests are a CI-sized subset (CI allows 90 minutes; make
# test stays under 60): every boot path, the whole fault suite, LIO's CHAP,
# digest and keeper cases, both kernels, one real distribution (bookworm
# with networkd). FULL_ONLY
# are the rest of the matrix — more distributions, LIO's further variants
# and wire captures, the NIC layouts, the what-if runs — which test-full
# runs with everything else. Tests that mostly wait (the fault and keeper
# suites, the real root, the failure paths that run out rd.retry) run side
# by side, TEST_PARALLEL at a time, after the others.
FULL_REALROOT := TestRealRoot(Ifupdown|NetworkManager|OpenISCSI|TrixieNetworkd|Multipath|MultipathJoin|NoOSConfig)
FULL_LIO      := TestLIO(DigestsRequiredAsked|DigestsRequiredPinned|SecondLUN|KeeperTPGRestart|KeeperDigests|ConnLostBeforeKeeperForGood|LoginCapture|Target)|TestTgt(LoginCapture|KeeperTargetRestartCaptured|Digests)
FULL_OTHER    := TestKeeperDisabledLinkOutage|TestURootKeeperRespawn|TestPXEBootIPXEScript|TestNamesLayouts|TestPathsTwoSubnets|TestIBFTSanhook|TestDevmapperMultipathKernel
FULL_ONLY     := ^($(FULL_REALROOT)|$(FULL_LIO)|$(FULL_OTHER))$$
TEST_PARALLEL ?= 4
# TEST_FUZZTIME is make test's fuzz smoke; make fuzz and test-full use FUZZTIME.
TEST_FUZZTIME ?= 10000x

# FAILURES prints each failed test's assertion lines and last logged
# lines from a -v log: the filters below show only the boot lines, and CI
# keeps the head and the tail of a run's output.
FAILURES = GO=$(GO) $(GO) run ./integration/cmd/testfailures -dir integration

integration: all
	@mkdir -p $(BUILD)
	$(GO) test -count=1 -timeout 55m -parallel $(TEST_PARALLEL) -skip '$(FULL_ONLY)' -v ./integration/... 2>&1 | tee $(BUILD)/integration.log | \
		grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|netroot: |NETROOT-TEST|REALROOT-SUMMARY' ; \
	rc=$${PIPESTATUS[0]}; [ $$rc = 0 ] || $(FAILURES) < $(BUILD)/integration.log; exit $$rc

# test-full is the whole matrix: unit tests, the fuzz targets at FUZZTIME
# and every QEMU test (rig.Distros, LIO, the fault suite, …); a few hours
# on two cores.
test-full: deps all unit race fuzz
	@mkdir -p $(BUILD)
	$(GO) test -count=1 -timeout 240m -parallel $(TEST_PARALLEL) -v ./integration/... 2>&1 | tee $(BUILD)/integration-full.log | \
		grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|REALROOT-SUMMARY' ; \
	rc=$${PIPESTATUS[0]}; [ $$rc = 0 ] || $(FAILURES) < $(BUILD)/integration-full.log; exit $$rc

# test-distro runs every real-distribution test (rig.Distros): each image
# boots twice (network stack restart under a root writer, reboot, poweroff,
# e2fsck of the LUN).
test-distro: deps all
	@mkdir -p $(BUILD)
	$(GO) test -count=1 -timeout 90m -run '^TestRealRoot' -v ./integration/ 2>&1 | tee $(BUILD)/distro.log | \
		grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|REALROOT-SUMMARY' ; \
	rc=$${PIPESTATUS[0]}; [ $$rc = 0 ] || $(FAILURES) < $(BUILD)/distro.log; exit $$rc

boot: deps all
	$(GO) run ./integration/cmd/demo

# pxe-boot boots the scenario with no -kernel: the NIC's iPXE ROM gets
# pxelinux.0 from dnsmasq (DHCP + TFTP), which loads the kernel and the
# initramfs. PXE_FLAGS, e.g. '-mode ipxe -nic 1', pick an iPXE script / NIC.
pxe-boot: deps all
	$(GO) run ./integration/cmd/pxedemo $(PXE_FLAGS)

# uroot builds build/uroot.img: netroot's init as /init of a u-root busybox
# (mkuimage, pinned in tools/tools.go) with gosh as /bin/sh and u-root's core
# commands, carrying netroot build's modules; it prints both images' sizes as
# "size <image> <gzip bytes> <uncompressed bytes>" lines. UROOT_CMDLINE is baked.
uroot: all
	$(GO) run ./integration/cmd/uroot -o $(BUILD)/uroot.img -netroot $(BUILD)/netroot -init $(BUILD)/netroot-init \
		$(if $(UROOT_CMDLINE),-cmdline '$(UROOT_CMDLINE)')

# bench races netroot against the seed-style baselines (figures, not
# assertions). BENCH_FLAGS, e.g. '-n 9 -smp 1 -m 192'; by default the
# netroot image also boots lz4-compressed beside the default (zstd) one.
BENCH_FLAGS ?= -compress auto,lz4
bench: deps all
	$(GO) run ./integration/cmd/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BUILD)

print-%:
	@echo '$($*)'
