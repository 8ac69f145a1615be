package profile

import (
	"testing"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Every registered profile describes itself completely and consistently:
// what the suite derives its cases from cannot be half-stated.
func TestDescriptors(t *testing.T) {
	if len(All()) != len(Names()) {
		t.Fatalf("All lists %d profiles, Names %d", len(All()), len(Names()))
	}
	variants := map[string]string{}
	for _, d := range All() {
		if d.Name == "" || d.Draft == "" || d.Revision == "" || d.Title == "" {
			t.Errorf("%q: draft, revision or title missing: %+v", d.Name, d)
		}
		if len(d.Roles) == 0 || len(d.Topologies) == 0 || len(d.Credentials) == 0 {
			t.Errorf("%s: no interaction model", d.Name)
		}
		if d.FirstFlight == nil || d.CMWIn == nil || len(d.Extensions) == 0 {
			t.Errorf("%s: extensions, first flight or CMW carriage missing", d.Name)
		}
		if d.Alerts.Rejected == 0 || d.Alerts.Unoffered == 0 {
			t.Errorf("%s: no rejection or unoffered-selection alert", d.Name)
		}
		if (d.Phase == party.PostHandshake) != (d.Attest != nil) {
			t.Errorf("%s: phase %s, Attest set: %v", d.Name, d.Phase, d.Attest != nil)
		}
		if d.EvidenceTypes != (d.Alerts.NoCommonType != 0) {
			t.Errorf("%s: negotiates evidence types %v, but its no-common-type alert is %d", d.Name, d.EvidenceTypes, d.Alerts.NoCommonType)
		}
		for _, c := range d.Credentials {
			b, ok := d.Bindings[c]
			if !ok || b.Variant == "" || b.Text == "" {
				t.Errorf("%s %s: no binding", d.Name, c)
			}
			if other, seen := variants[b.Variant]; seen {
				t.Errorf("%s %s: binding variant %q is also %s's", d.Name, c, b.Variant, other)
			}
			variants[b.Variant] = d.Name
			if cr, ok := d.Carriage[c]; !ok || cr.Path == "" || cr.Text == "" {
				t.Errorf("%s %s: no carriage", d.Name, c)
			}
		}
		ids := map[string]bool{}
		for _, m := range d.Models() {
			if m.Profile != d.Name || !d.Defines(m) || ids[m.ID()] {
				t.Errorf("%s: model %s (listed before: %v)", d.Name, m.ID(), ids[m.ID()])
			}
			ids[m.ID()] = true
			for _, e := range d.FirstFlight(m) {
				certType := e.Type == tls13.ExtClientCertType || e.Type == tls13.ExtServerCertType
				if _, ok := d.Extension(e.Type); !ok && !certType {
					t.Errorf("%s %s: first-flight extension %s is not one of its extensions", d.Name, m.ID(), e.Name)
				}
			}
			for _, s := range []party.Side{m.Server, m.Client} {
				if s.Attests && len(d.Alerts.Declined) > 0 && d.Alerts.Declined[s.Topology] == 0 {
					t.Errorf("%s %s: no declined alert for %s", d.Name, m.ID(), s.Topology)
				}
			}
		}
		if len(d.FirstFlight(party.Model{Profile: d.Name})) != 0 {
			t.Errorf("%s: attestation extensions without attestation", d.Name)
		}
	}
}

// A model is defined by exactly the profile that lists it, and borrowing
// one finds the first profile that has it.
func TestFirstDefining(t *testing.T) {
	pp := party.Side{Attests: true, Topology: party.Passport, Credential: party.AttestationOnly}
	m, err := FirstDefining(party.Model{Profile: "anything", Client: pp})
	if err != nil || !MustDescribe(m.Profile).Defines(m) {
		t.Fatalf("%+v, %v", m, err)
	}
	nothing := party.Side{Attests: true, Topology: party.Passport, Credential: party.Credential(99)}
	if _, err := FirstDefining(party.Model{Server: nothing}); err == nil {
		t.Fatal("a model nobody defines was found")
	}
	if _, err := Describe("no-such-profile"); err == nil {
		t.Fatal("described an unknown profile")
	}
}
