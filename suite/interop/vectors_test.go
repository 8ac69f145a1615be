package interop

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/vectors/gen/parser"
)

func loadManifest(t *testing.T, peer string) *contract.Manifest {
	t.Helper()
	p, err := LoadPeer(context.Background(), peer)
	if err != nil {
		t.Fatal(err)
	}
	return p.Manifest
}

// TestVectorsPlacement checks the generator's rule (vectors.go): every
// structure has a placement; each vector of a claimed profile is either
// carried by one claimed case (pinned below for a few: the first the
// structure admits in matrix order) or left out with a reason; variants
// are unique; the case counts are what the report gives.
func TestVectorsPlacement(t *testing.T) {
	for _, path := range parser.Paths() {
		if _, ok := vectorRules[strings.TrimPrefix(path, "parsers/")]; !ok {
			t.Errorf("%s: no rule places its inputs", path)
		}
	}
	// Carriers both manifests share.
	pinned := map[string]string{
		"ta-07/evidence_request.client_hello.json#1":         "ta-07/server-attests/bg+attestation-only@server",
		"ta-07/evidence_request.encrypted_extensions.json#1": "ta-07/server-attests/bg+attestation-only@client",
		"ta-07/evidence_proposal.client_hello.json#1":        "ta-07/client-attests/bg+attestation-only@server",
		"ta-07/certificate_type.json#3":                      "ta-07/client-attests/bg+attestation-only@server",
		"ta-07/certificate_type.json#4":                      "ta-07/mutual/server=bg+attestation-only,client=bg+attestation-only@server",
		"ta-07/cmw.json#1":                                   "ta-07/server-attests/bg+attestation-only@client",
		"poc/cmw.json#1":                                     "poc/client-attests/bg+attestation-only@server",
	}
	for _, c := range []struct {
		peer  string
		cases int // vector cases the manifest gets
	}{{"reference", 335}, {"mbedtls", 285}} {
		m := loadManifest(t, c.peer)
		plans, err := vectorPlans(m)
		if err != nil {
			t.Fatal(err)
		}
		matrix := Matrix(m, false)
		ids, n := map[string]bool{}, 0
		perCarrier := map[string]int{}
		for _, p := range plans {
			if p.skip != "" {
				t.Logf("%s: %s left out: %s", c.peer, p.id, p.skip)
				continue
			}
			n++
			if ids[p.k.ID()] {
				t.Errorf("%s: case %s twice", c.peer, p.k.ID())
			}
			ids[p.k.ID()] = true
			if p.k.Kind != "vector" || p.k.Check == nil || p.k.Reference.Tweak == nil {
				t.Errorf("%s: %s: kind %q, check %v, tweak %v", c.peer, p.k.ID(), p.k.Kind, p.k.Check != nil, p.k.Reference.Tweak != nil)
			}
			if p.k.Model != p.carrier.Model || p.k.PeerRole != p.carrier.PeerRole {
				t.Errorf("%s: %s is not its carrier's model", c.peer, p.k.ID())
			}
			claimed := false
			for _, k := range matrix {
				claimed = claimed || k.Model == p.carrier.Model && k.PeerRole == p.carrier.PeerRole
			}
			if !claimed {
				t.Errorf("%s: %s rides on an unclaimed case", c.peer, p.id)
			}
			perCarrier[p.carrier.ID()]++
			if want, ok := pinned[p.id]; ok && p.carrier.ID() != want {
				t.Errorf("%s: %s rides on %s, want %s", c.peer, p.id, p.carrier.ID(), want)
			}
		}
		// Vectors returns, for each claimed case, the cases it carries.
		total := 0
		for _, k := range matrix {
			total += len(Vectors(m, k))
		}
		if total != n {
			t.Errorf("%s: Vectors over the matrix gives %d cases, the plans %d", c.peer, total, n)
		}
		var carriers []string
		for id, k := range perCarrier {
			carriers = append(carriers, id+": "+strconv.Itoa(k))
		}
		sort.Strings(carriers)
		t.Logf("%s: %d vector cases in %d claimed cases:\n  %s", c.peer, n, len(carriers), strings.Join(carriers, "\n  "))
		if n != c.cases {
			t.Errorf("%s: %d vector cases, want %d (update the count if the vectors or the rule changed on purpose)", c.peer, n, c.cases)
		}
	}
}
