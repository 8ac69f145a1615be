package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/interop"
)

// What only a driven peer can show, for both in-tree peers: the peer
// against itself (judged from the suite's capture), the contract's exit
// 2 and 127 paths, and the positive cases (with the key-log check, the
// no-attestation handshakes and a verifier named by its key alone). Every
// spec of those kinds the manifest yields runs and passes.
var drivenKinds = []string{interop.SelfVariant, "contract", "positive"}

func checkDrivenKinds(t *testing.T, peer string, args ...string) {
	t.Helper()
	var filter []string
	for _, k := range drivenKinds {
		filter = append(filter, "kind:"+k)
	}
	res := batteryRun(t, 0, append(args, "--peer", peer, "--label-filter", strings.Join(filter, " || "))...)
	want := map[string]int{}
	for _, c := range interop.Battery(peerManifest(t, peer), false) {
		if k := c.KindName(); slices.Contains(drivenKinds, k) {
			want[k]++
		}
	}
	for _, k := range drivenKinds {
		if want[k] == 0 {
			t.Errorf("%s: no %s cases in the battery", peer, k)
		}
	}
	total := 0
	for _, n := range want {
		total += n
	}
	if len(res.Specs) != total {
		t.Errorf("%s: %d specs ran, the battery has %d of kinds %v (%v)", peer, len(res.Specs), total, drivenKinds, want)
	}
	for _, s := range res.Specs {
		if s.Outcome != results.Pass {
			t.Errorf("%s: %s: %s", s.ID, s.Outcome, s.Message)
		}
	}
	t.Logf("%s: %v", peer, want)
}

func TestDrivenKindsOnReferencePeer(t *testing.T) {
	checkDrivenKinds(t, "reference", "--driver", "processes")
}

func TestDrivenKindsOnMbedTLSPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the mbedTLS peer's image")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		needs.DockerEngine(t, fmt.Errorf("docker info: %v: %s", err, out))
	}
	checkDrivenKinds(t, "mbedtls", "--driver", "containers")
}
