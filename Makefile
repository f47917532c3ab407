# netroot — see README.md.
#   make         build the host tool and the init into build/
#   make test    unit + fuzz smoke + QEMU boot tests (installs apt packages it needs)
#   make boot    build everything and boot the demo guest to its iSCSI root
#   make pxe-boot the same, network-booted: iPXE ROM → dnsmasq DHCP/TFTP → pxelinux → netroot
#   make bench   benchmarks (figures, not assertions)
#   make uroot   netroot's init in a u-root busybox image, with both images' sizes

SHELL     := /bin/bash
GO        ?= go
BUILD     := build
FUZZTIME  ?= 30000x
# Debian packages the tests and the demo need.
DEB_PKGS  := qemu-system-x86 qemu-utils tgt e2fsprogs xfsprogs btrfs-progs dosfstools gdisk fdisk \
             busybox-static kmod cpio iproute2 dnsmasq-base \
             pxelinux syslinux-common ipxe-qemu

.PHONY: all deps test unit fuzz integration boot pxe-boot bench uroot clean FORCE

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

test: deps all unit fuzz integration

unit:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) test $$($(GO) list ./... | grep -v /integration)

# fuzz runs every fuzz target briefly (FUZZTIME each) as a smoke check; a
# failing target's output is shown (a crashing input lands in testdata/fuzz).
# FUZZTIME is a count of executions, not a duration: with a duration, Go
# 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" as the time runs out (golang/go#75804, fixed in Go 1.27), which
# broke CI twice with no crashing input.
fuzz:
	@mkdir -p $(BUILD); set -e; for pkg in $$($(GO) list ./pkg/...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg > $(BUILD)/fuzz.log 2>&1 || \
				{ tail -40 $(BUILD)/fuzz.log; exit 1; }; \
		done; \
	done

integration: all
	$(GO) test -count=1 -timeout 40m -v ./integration/... 2>&1 | tee $(BUILD)/integration.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|netroot: |NETROOT-TEST' ; \
	exit $${PIPESTATUS[0]}

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
# assertions). BENCH_FLAGS, e.g. '-n 9 -smp 1 -m 192'.
bench: deps all
	$(GO) run ./integration/cmd/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BUILD)
