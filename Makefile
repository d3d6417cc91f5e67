# Custody. `make run` opens the app; `make test` is the whole check, from a fresh machine.
GO      ?= go
BIN     ?= bin/custody
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: run demo build test unit vet lint fmt-check keyring-test smoke bench package deps checks binary smoke-run

run: build
	./$(BIN)

demo: build
	./$(BIN) --demo

deps:
	./scripts/deps.sh

build: deps
	$(GO) build -o $(BIN) .

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

VET  = $(GO) vet -tags ci ./...
# staticcheck is pinned in go.mod as a tool (go get -tool honnef.co/go/tools/cmd/staticcheck@v0.8.2).
LINT = $(GO) tool staticcheck -tags ci ./...
# CI=true: a check whose tool is missing (xmllint, from scripts/deps.sh) fails instead of skipping.
UNIT = CI=true $(GO) test -tags ci -race -count=1 -timeout 20m ./...

vet:
	$(VET)

lint:
	$(LINT)

# Unit tests run headless with Fyne's test driver (-tags ci) and the race detector.
unit:
	$(UNIT)

# The real Secret Service test runs in a private D-Bus session with its own gnome-keyring; the
# second run checks the message a user sees when no keyring is reachable at all.
keyring-test: deps
	KEYRING_INTEGRATION=1 ./scripts/with-keyring.sh $(GO) test -count=1 -run 'TestRealSecretService' -v ./app/secrets/integration/
	DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus KEYRING_INTEGRATION=nobus $(GO) test -count=1 -run 'TestNoSessionBus' -v ./app/secrets/integration/

smoke: build smoke-run

smoke-run:
	./scripts/smoke.sh $(BIN) test-artifacts/smoke

# The real build's cgo step (go-gl) is single-threaded and takes minutes on a cold cache, so it
# runs beside vet, staticcheck and the unit tests; output is kept whole per line.
checks:
	$(VET)
	$(LINT)
	$(UNIT)

binary:
	$(GO) build -o $(BIN) .

test: deps fmt-check
	@$(MAKE) --no-print-directory -j2 --output-sync=line checks binary
	@$(MAKE) --no-print-directory keyring-test smoke-run
	@echo "make test: all checks passed"

bench:
	$(GO) test -tags ci -run '^$$' -bench . -benchmem ./...

# An installable Linux package (Custody.tar.xz with a Makefile for install/user-install) from
# FyneApp.toml; the fyne tool is pinned in go.mod (go get -tool fyne.io/tools/cmd/fyne@v1.7.0).
# It builds with cgo (about 4 minutes cold) and removes the executable it built. The fyne tool
# also raises Build in FyneApp.toml by one on every run; commit that only for a release.
package: deps
	$(GO) tool fyne package -os linux -release -src . -icon assets/icon.png
