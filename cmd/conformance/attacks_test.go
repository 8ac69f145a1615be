package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/interop"
)

// batteryRun runs conformance with args (a peer and a label filter) and
// returns its results.
func batteryRun(t *testing.T, wantExit int, args ...string) *results.Results {
	t.Helper()
	out := t.TempDir()
	r := conformance(t, append([]string{"run", "--in-process=false", "--parallel", "2", "--out", out}, args...)...)
	res, err := results.Load(filepath.Join(out, "results.json"))
	if r.code != wantExit {
		// The failing specs' messages: the run's folder goes with the test.
		var failed strings.Builder
		if err == nil {
			for _, s := range res.Specs {
				if s.Outcome == results.Fail {
					fmt.Fprintf(&failed, "%s:\n%s\n", s.ID, s.Message)
				}
			}
		}
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s\n%s", r.code, wantExit, r.stdout, r.stderr, failed.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkAttacks: every attack spec of the peer's manifest ran and passed,
// carries the verdict the suite saw and the part the peer played, and the
// documented successes (a TIK-signing oracle against nonce-only binding)
// are among them; both parts are played.
func checkAttacks(t *testing.T, res *results.Results, peer string) {
	t.Helper()
	want := 0
	for _, c := range interop.Battery(peerManifest(t, peer), false) {
		if c.Kind == "attack" {
			want++
		}
	}
	parts := map[string]int{}
	succeeded := 0
	for _, s := range res.Specs {
		if s.Outcome != results.Pass {
			t.Errorf("%s: %s: %s", s.ID, s.Outcome, s.Message)
		}
		if s.Attack == nil {
			t.Errorf("%s: no attack verdict", s.ID)
			continue
		}
		parts[s.Attack.Part]++
		if s.Attack.Verdict == results.AttackSucceeds {
			succeeded++
			if s.Attack.Capability != "oracle" || s.Attack.Part != results.PartVictim {
				t.Errorf("%s succeeded: only a signing oracle against a victim is documented to", s.ID)
			}
		}
	}
	if len(res.Specs) != want || want == 0 {
		t.Errorf("%d attack specs ran, the battery has %d", len(res.Specs), want)
	}
	if parts[results.PartVictim] == 0 || parts[results.PartAttester] == 0 || succeeded == 0 {
		t.Errorf("parts %v, %d documented successes", parts, succeeded)
	}
	t.Logf("%s: %d attack specs: %v, %d succeed as documented", peer, len(res.Specs), parts, succeeded)
}

func TestAttacksOnReferencePeer(t *testing.T) {
	res := batteryRun(t, 0, "--driver", "processes", "--peer", "reference", "--label-filter", "kind:attack")
	checkAttacks(t, res, "reference")
}

func TestAttacksOnMbedTLSPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the mbedTLS peer's image")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		needs.DockerEngine(t, fmt.Errorf("docker info: %v: %s", err, out))
	}
	res := batteryRun(t, 0, "--driver", "containers", "--peer", "mbedtls", "--label-filter", "kind:attack")
	checkAttacks(t, res, "mbedtls")
}

// A relying party that accepts any credential is fooled by every attack
// a genuine one stops: the replayed evidence gets through.
func TestAttacksFoolAnAcceptAnyPeer(t *testing.T) {
	res := batteryRun(t, 1, "--driver", "processes", "--peer", "broken-accept-any",
		"--label-filter", "kind:attack && profile:ta-07 && credential:attestation-only && model:bg && role:server")
	failed := 0
	for _, s := range res.Specs {
		if s.Outcome != results.Fail {
			continue
		}
		failed++
		if strings.Contains(s.ID, "/attack-replay-evidence-replay/") && !strings.Contains(s.Message, "sent no alert") {
			t.Errorf("%s fails with %q, want the missing alert", s.ID, s.Message)
		}
	}
	if failed == 0 {
		t.Error("no attack spec failed against a peer that accepts anything")
	}
}
