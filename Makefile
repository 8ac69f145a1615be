# attested-tls conformance — see README.md.
#   make deps         install what the tests need from apt (idempotent)
#   make test         all tests (depends on deps)
#   make conformance  the main job: run the conformance suite, write reports
#   make fuzz         run every fuzz target briefly (FUZZTIME=10s each)
#   make fuzz-campaign  fuzz for FUZZFOR, least-fuzzed targets first
#   make bench        run the benchmarks

SHELL      := /bin/bash
GO         ?= go
OUT        ?= out
FUZZTIME   ?= 10s
TESTFLAGS  ?=
# Debian packages the tests use; add here, never install from a test.
APT_PKGS   := openssl ca-certificates chromium swtpm swtpm-tools tshark \
              cmake dpkg-dev pkg-config libtss2-dev libcurl4-openssl-dev libjansson-dev \
              clang-14 libclang-rt-14-dev python3 libtss2-tcti-swtpm0

.PHONY: all deps test vet veraison conformance fuzz fuzz-campaign bench clean

all: test

deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: all apt packages present"; fi
	@bash peers/mbedtls/deb-src.sh
	@bash containers/services/parsec-deb.sh

# Separate Go modules (their dependency graphs cannot join the main one);
# the ones with tests run them in make test.
SUBMODULES := containers/veraison containers/parsec-xcheck
SUBMODULES_TESTED := containers/parsec-xcheck

vet:
	$(GO) vet ./...
	@for m in $(SUBMODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done
	@# go.mod and go.sum of every module are what `go mod tidy` makes them.
	$(GO) mod tidy -diff
	@for m in $(SUBMODULES); do (cd $$m && $(GO) mod tidy -diff) || { echo "$$m: go.mod is not tidy (run go mod tidy there)"; exit 1; }; done

# Veraison v0.0.2501's services, built from the module proxy into a cache
# keyed by containers/veraison/go.sum (seconds when nothing changed).
veraison:
	$(GO) -C containers/veraison run ./cmd/build

# The suite runs once per root of trust and verifier: software keys and the
# in-process verifier (in go test ./...), the in-process TPM simulator, and
# a swtpm and real Veraison services the tests start themselves, and a
# Parsec service on a swtpm (in-process verifier: Veraison has no scheme
# for its evidence).
test: deps vet veraison
	$(GO) test -timeout 25m $(TESTFLAGS) ./...
	bash peers/mbedtls/fuzz/run.sh replay
	bash peers/mbedtls/test/run.sh
	ATLS_ROOT_OF_TRUST=simulator $(GO) test -count=1 -timeout 10m $(TESTFLAGS) ./suite/
	ATLS_ROOT_OF_TRUST=swtpm ATLS_VERIFIER=veraison $(GO) test -count=1 -timeout 10m $(TESTFLAGS) ./suite/
	ATLS_ROOT_OF_TRUST=psa-iot ATLS_VERIFIER=veraison $(GO) test -count=1 -timeout 10m $(TESTFLAGS) ./suite/
	ATLS_ROOT_OF_TRUST=cca ATLS_VERIFIER=veraison $(GO) test -count=1 -timeout 10m $(TESTFLAGS) ./suite/
	ATLS_ROOT_OF_TRUST=parsec $(GO) test -count=1 -timeout 10m $(TESTFLAGS) ./suite/
	@for m in $(SUBMODULES_TESTED); do (cd $$m && $(GO) test -timeout 15m $(TESTFLAGS) ./...) || exit 1; done

# In-process specs plus every in-tree peer (the reference peer and the
# patched mbedTLS, their images built here, cached by content) against the
# in-process reference: every profile × model × role with the negative
# battery, as containers (processes when no Docker engine answers, outside
# CI), each attesting side on a swtpm of its own and every relying party
# appraising through a Veraison attached to the case's network.
# --parallel 4: the run is CPU-bound at 4 on 2 cores. CONFORMANCE_FLAGS adds
# flags, e.g. --parallel 1.
CONFORMANCE_PEERS ?= --peer reference --peer mbedtls
conformance: deps veraison
	$(GO) build -o bin/conformance ./cmd/conformance
	@rc=0; bin/conformance run $(CONFORMANCE_PEERS) --services real --parallel 4 --out $(OUT) $(CONFORMANCE_FLAGS) || rc=$$?; \
	echo "conformance: results $(OUT)/results.json, JUnit $(OUT)/junit.xml, report $(OUT)/report.html, summary $(OUT)/summary.md"; \
	echo "conformance: per-case logs, key logs and captures under $(OUT)/peers/"; exit $$rc

# Every fuzz target, FUZZTIME each, least-fuzzed first; each run is
# appended to internal/fuzzcampaign/ledger.tsv (commit it: the README's
# fuzz figures come from it). A crasher is kept in its package's
# testdata/fuzz/<target> (commit it: it becomes a regression test) and the
# run carries on, failing at the end. `make fuzz-campaign FUZZFOR=2h` fuzzes
# for that long, towards FUZZGOAL per target.
FUZZFOR    ?= 1h
FUZZGOAL   ?= 10m
# The mbedTLS peer's libFuzzer targets (peers/mbedtls/fuzz), seconds each.
MBEDTLS_FUZZ_SECONDS ?= 10
fuzz:
	$(GO) run ./internal/fuzzcampaign -per $(FUZZTIME) -goal 0
	bash peers/mbedtls/fuzz/run.sh $(MBEDTLS_FUZZ_SECONDS)

fuzz-campaign:
	$(GO) run ./internal/fuzzcampaign -per $(FUZZTIME) -for $(FUZZFOR) -goal $(FUZZGOAL)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(OUT) bin
