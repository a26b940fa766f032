# dbx-cred build, checks and tests. Every target installs what it needs
# itself, at pinned versions, so a fresh machine needs only Go and apt-get.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)
export CGO_ENABLED ?= 0

BUF_VERSION := v1.50.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
STATICCHECK_VERSION := v0.6.1

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/dbx-cred/dbx-cred/internal/version.Version=$(VERSION)

# Debian packages the tests drive for real: a Secret Service on a private
# D-Bus, the shells whose quoting we prove, git, curl and setpriv,
# keyctl to look into the kernel keyring store, and OpenSSH's client and
# server (the tests start their own sshd) for forwarding.
APT_PACKAGES := gnome-keyring dbus dbus-x11 libsecret-tools bash zsh fish git curl util-linux keyutils openssh-client openssh-server
TEST_COMMANDS := gnome-keyring-daemon dbus-run-session gdbus secret-tool zsh fish git curl setpriv keyctl ssh ssh-keygen /usr/sbin/sshd

CROSS := darwin/arm64 darwin/amd64 windows/amd64 linux/arm64 linux/amd64
# What "make dist" ships: the same platforms, built without cgo.
DIST := linux/amd64 linux/arm64 darwin/arm64 darwin/amd64 windows/amd64

.PHONY: all build test check generate tools test-deps bench clean fmt install dist demo demo-deps

all: build

build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/dbx-cred ./cmd/dbx-credd

# Builds and installs both binaries for this user (~/.local/bin, or
# PREFIX=DIR) and the per-user service where there is a service manager.
install:
	install/install.sh $(if $(PREFIX),--prefix '$(PREFIX)')

# Stripped, version-stamped binaries for every platform, one archive each
# (dbx-cred-VERSION-OS-ARCH.tar.gz; Windows has tar since 10), and their
# sums. Each holds git-credential-dbx-cred, git's name for the helper
# "dbx-cred": a link to dbx-cred, a copy on Windows, which has no links
# that survive an unpacking.
dist:
	rm -rf dist && mkdir -p dist
	for p in $(DIST); do os=$${p%/*}; arch=$${p#*/}; ext=$$( [ $$os = windows ] && echo .exe || true ); \
	  name=dbx-cred-$(VERSION)-$$os-$$arch; mkdir -p dist/$$name; \
	  for b in dbx-cred dbx-credd; do \
	    GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
	      -o dist/$$name/$$b$$ext ./cmd/$$b || exit 1; \
	  done; \
	  if [ -n "$$ext" ]; then cp dist/$$name/dbx-cred.exe dist/$$name/git-credential-dbx-cred.exe; \
	  else ln -s dbx-cred dist/$$name/git-credential-dbx-cred; fi; \
	  tar -C dist --owner=0 --group=0 --numeric-owner -czf dist/$$name.tar.gz $$name || exit 1; \
	  rm -rf dist/$$name; \
	done
	cd dist && sha256sum -- * > SHA256SUMS && cat SHA256SUMS

$(TOOLS)/buf:
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/staticcheck

generate: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	buf generate

fmt:
	gofmt -w $$(git ls-files '*.go')

check: tools
	@echo '== gofmt'; out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	@echo '== go vet'; $(GO) vet ./...
	@echo '== staticcheck'; staticcheck ./...
	@echo '== vet and staticcheck of the test build (-tags dbxcredtest: the e2e harness builds dbx-credd with its test hooks)'; \
	  $(GO) vet -tags dbxcredtest ./daemon/... ./helper/... ./e2e/...; staticcheck -tags dbxcredtest ./daemon/... ./helper/... ./e2e/...
	@echo '== no function over 100 lines (internal/tools/funclen)'; $(GO) run ./internal/tools/funclen -allow internal/tools/funclen/allow.txt .
	@echo '== buf lint'; buf lint
	@echo '== generated code is fresh'; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  cp -r proto $$tmp/before; buf generate; \
	  if ! diff -r $$tmp/before proto >/dev/null; then \
	    diff -r $$tmp/before proto || true; echo 'generated code is stale: run "make generate" and commit'; exit 1; fi
	@echo '== cross-builds'; for p in $(CROSS); do \
	  echo "   $$p"; GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -o /dev/null ./cmd/... || exit 1; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./cmd/... ./daemon/... ./helper/... ./internal/... || exit 1; done
	@echo 'check: ok'

# Installs the Debian packages the tests need, only when something is missing.
# apt_ensure installs the Debian packages $(2) when one of the commands
# $(1) is missing (as root, else through sudo).
define apt_ensure
@missing=0; for c in $(1); do command -v $$c >/dev/null || missing=1; done; \
if [ $$missing = 1 ]; then \
  echo "installing: $(2)"; \
  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(2) >/dev/null; \
fi
endef

test-deps:
	$(call apt_ensure,$(TEST_COMMANDS),$(APT_PACKAGES))

# The whole suite, under a private D-Bus session with a real gnome-keyring.
test: test-deps
	CGO_ENABLED=1 scripts/with-secret-service $(GO) test -race -count=1 -timeout 15m ./...

# dbx-cred end to end in about 30 s without a workspace: a throwaway keyring,
# the workspace emulator, the daemon, and each way of getting a token.
# The demo needs a keyring, a bus, git and curl: not the test suite's
# shells and tools.
DEMO_PACKAGES := gnome-keyring dbus git curl
DEMO_COMMANDS := gnome-keyring-daemon dbus-run-session gdbus git curl

demo-deps:
	$(call apt_ensure,$(DEMO_COMMANDS),$(DEMO_PACKAGES))

demo: build demo-deps
	scripts/demo

bench: test-deps build
	bench/run

clean:
	rm -rf bin .tools dist
