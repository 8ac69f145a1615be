# attested-tls conformance — see README.md.
#   make deps         install what the tests need from apt (idempotent)
#   make test         all tests (depends on deps)
#   make conformance  the main job: run the conformance suite, write reports
#   make fuzz         run every fuzz target briefly (FUZZTIME=10s each)
#   make bench        run the benchmarks

SHELL      := /bin/bash
GO         ?= go
OUT        ?= out
FUZZTIME   ?= 10s
TESTFLAGS  ?=
# Debian packages the tests use; add here, never install from a test.
APT_PKGS   := openssl ca-certificates chromium

.PHONY: all deps test vet conformance fuzz bench clean

all: test

deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: all apt packages present"; fi

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -timeout 25m $(TESTFLAGS) ./...

conformance: deps
	$(GO) run ./cmd/conformance run --out $(OUT)

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz: $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(OUT) bin
