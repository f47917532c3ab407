# netroot — see README.md.
#   make         build the host tool and the init into build/
#   make test    unit + fuzz smoke + QEMU boot tests (installs apt packages it needs)
#   make boot    build everything and boot the demo guest to its iSCSI root
#   make bench   benchmarks (figures, not assertions)

SHELL     := /bin/bash
GO        ?= go
BUILD     := build
FUZZTIME  ?= 5s
# Debian packages the tests and the demo need.
DEB_PKGS  := qemu-system-x86 qemu-utils tgt e2fsprogs xfsprogs btrfs-progs dosfstools gdisk fdisk \
             busybox-static kmod cpio iproute2 dnsmasq-base

.PHONY: all deps test unit fuzz integration boot bench clean FORCE

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

# fuzz runs every fuzz target briefly (FUZZTIME each) as a smoke check.
fuzz:
	@set -e; for pkg in $$($(GO) list ./pkg/...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg >/dev/null; \
		done; \
	done

integration: all
	$(GO) test -count=1 -timeout 40m -v ./integration/... 2>&1 | tee $(BUILD)/integration.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|netroot: |NETROOT-TEST' ; \
	exit $${PIPESTATUS[0]}

boot: deps all
	$(GO) run ./integration/cmd/demo

bench: deps all
	$(GO) run ./integration/cmd/bench

clean:
	rm -rf $(BUILD)
