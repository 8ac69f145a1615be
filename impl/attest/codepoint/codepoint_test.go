package codepoint

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultsAvoidAssignedSpace(t *testing.T) {
	d := Default()
	for _, f := range d.fields() {
		v := f.value()
		switch f.space {
		case extensionSpace:
			// Everything but the historical PoC value sits in the private-use block.
			if f.name != "poc.evidence_proposal" && (v < 0xFF00 || v == 65281) {
				t.Errorf("%s=0x%04x is outside 0xFF00–0xFFFF private use", f.name, v)
			}
		case certTypeSpace:
			if v < 224 {
				t.Errorf("%s=%d is outside 224–255 private use", f.name, v)
			}
		case alertSpace:
			if v <= 121 {
				t.Errorf("%s=%d is inside the assigned alert block", f.name, v)
			}
		}
	}
	if d.PoCEvidenceProposal != 100 {
		t.Errorf("poc.evidence_proposal default = %d, want the PoC's 100", d.PoCEvidenceProposal)
	}
	if d.TA07AttestationEvidence == DraftTextAttestationEvidence {
		t.Errorf("attestation_evidence default must not be the IANA-assigned 60")
	}
}

// The JSON tags and the names Override reads must be the same set.
func TestNamesMatchJSONTags(t *testing.T) {
	var tags []string
	rt := reflect.TypeOf(Table{})
	for i := 0; i < rt.NumField(); i++ {
		tags = append(tags, rt.Field(i).Tag.Get("json"))
	}
	if got := Names(); !reflect.DeepEqual(got, tags) {
		t.Fatalf("Names() = %v\nJSON tags = %v", got, tags)
	}
}

func TestOverrideList(t *testing.T) {
	d := Default()
	tests := []struct {
		name    string
		spec    string
		want    func(*Table)
		wantErr string
	}{
		{name: "empty keeps defaults", spec: "  ", want: func(*Table) {}},
		{name: "decimal", spec: "poc.evidence_proposal=101", want: func(t *Table) { t.PoCEvidenceProposal = 101 }},
		{name: "hex and spaces", spec: " ta-07.evidence_request = 0xFFC0 , ea-07.attestation_failed=0xF0",
			want: func(t *Table) { t.TA07EvidenceRequest = 0xFFC0; t.EA07AttestationFailed = 240 }},
		{name: "upper 0X", spec: "ta-07.attestation=0XE1", want: func(t *Table) { t.TA07AttestationCertType = 0xE1 }},
		{name: "leading zero is decimal", spec: "poc.evidence_proposal=0101", want: func(t *Table) { t.PoCEvidenceProposal = 101 }},
		{name: "draft text 60 allowed", spec: "ta-07.attestation_evidence=60", want: func(t *Table) { t.TA07AttestationEvidence = 60 }},
		{name: "max uint16", spec: "ea-07.remoteAttestation=65535", want: func(t *Table) { t.EA07RemoteAttestation = 65535 }},
		{name: "unknown name", spec: "ta-07.evidence_requests=1", wantErr: "unknown name"},
		{name: "extension out of range", spec: "poc.evidence_proposal=65536", wantErr: "out of range"},
		{name: "alert out of range", spec: "ta-07.unsupported_evidence=256", wantErr: "out of range"},
		{name: "cert type out of range", spec: "ta-07.attestation=0x100", wantErr: "out of range"},
		{name: "negative", spec: "poc.evidence_proposal=-1", wantErr: "not a decimal"},
		{name: "octal prefix", spec: "poc.evidence_proposal=0o17", wantErr: "not a decimal"},
		{name: "no value", spec: "poc.evidence_proposal=", wantErr: "not name=value"},
		{name: "no equals", spec: "poc.evidence_proposal", wantErr: "not name=value"},
		{name: "empty item", spec: "poc.evidence_proposal=101,,", wantErr: "not name=value"},
		{name: "repeated", spec: "poc.evidence_proposal=101,poc.evidence_proposal=102", wantErr: "twice"},
		{name: "collision between profiles", spec: "poc.evidence_proposal=0xFFA0", wantErr: "both extension type 65440"},
		{name: "collision with engine", spec: "ea-07.remoteAttestation=51", wantErr: "key_share"},
		{name: "renegotiation_info", spec: "ta-07.results_request=65281", wantErr: "renegotiation_info"},
		{name: "GREASE", spec: "ta-07.results_request=0x3A3A", wantErr: "GREASE"},
		{name: "IANA alert", spec: "ea-07.attestation_required=50", wantErr: "decode_error"},
		{name: "ech_required", spec: "ea-07.attestation_required=121", wantErr: "ech_required"},
		{name: "alert collision", spec: "ta-07.unsupported_verifiers=224", wantErr: "both alert 224"},
		{name: "IANA cert type", spec: "ta-07.attestation=2", wantErr: "RawPublicKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Override(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Override(%q) err = %v, want containing %q", tc.spec, err, tc.wantErr)
				}
				if got != d {
					t.Fatalf("Override(%q) failed but returned a modified table", tc.spec)
				}
				return
			}
			if err != nil {
				t.Fatalf("Override(%q) = %v", tc.spec, err)
			}
			want := d
			tc.want(&want)
			if got != want {
				t.Fatalf("Override(%q) = %+v, want %+v", tc.spec, got, want)
			}
		})
	}
}

func TestOverrideJSON(t *testing.T) {
	d := Default()
	got, err := d.Override(`{"ta-07.evidence_proposal": 65500, "ea-07.attestation_failed": 250}`)
	if err != nil {
		t.Fatal(err)
	}
	want := d
	want.TA07EvidenceProposal, want.EA07AttestationFailed = 65500, 250
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{
		`{"nope": 1}`,
		`{"TA-07.EVIDENCE_PROPOSAL": 65500}`, // json would match this case-insensitively
		`{"ta-07.evidence_proposal": 65536}`,
		`{"ta-07.unsupported_evidence": 300}`,
		`{"ta-07.unsupported_evidence": -1}`,
		`{"ta-07.evidence_proposal": "0xFFA0"}`,
		`{"ta-07.evidence_proposal": 1.5}`,
		`{"poc.evidence_proposal": 1} {}`,
		`{"poc.evidence_proposal": 65440}`, // collides with ta-07.evidence_request
		`{`,
	} {
		if _, err := d.Override(bad); err == nil {
			t.Errorf("Override(%s) succeeded", bad)
		}
	}
}

func TestSpecAndJSONRoundTrip(t *testing.T) {
	d, err := Default().Override("ta-07.attestation_evidence=60,poc.evidence_proposal=0x1234")
	if err != nil {
		t.Fatal(err)
	}
	// From the zero table, so every field must come from the spec.
	back, err := Table{}.Override(d.Spec())
	if err != nil || back != d {
		t.Fatalf("Spec round trip: %v, %+v != %+v", err, back, d)
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err = Default().Override(string(js))
	if err != nil || back != d {
		t.Fatalf("JSON round trip: %v, %+v != %+v (%s)", err, back, d, js)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	var zero Table // everything 0: server_name, close_notify, X509, and many collisions
	err := zero.Validate()
	if err == nil {
		t.Fatal("zero table validated")
	}
	for _, want := range []string{"server_name", "close_notify", "X509", "both extension type 0", "both alert 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q: %v", want, err)
		}
	}
}

func TestIsGREASE(t *testing.T) {
	for v := 0; v <= 0xffff; v++ {
		want := v>>8 == v&0xff && v&0x0f == 0x0a
		if got := isGREASE(uint16(v)); got != want {
			t.Fatalf("isGREASE(0x%04x) = %v, want %v", v, got, want)
		}
	}
}

func TestRegisterAlertNames(t *testing.T) {
	tab, err := Default().Override("ta-07.unsupported_evidence=230,ea-07.attestation_failed=231")
	if err != nil {
		t.Fatal(err)
	}
	RegisterAlertNames(tab)
	for code, want := range map[tls13.AlertCode]string{
		230: "unsupported_evidence", 225: "unsupported_verifiers",
		226: "unsupported_attestation_schemes", 227: "attestation_required", 231: "attestation_failed",
	} {
		if got := code.String(); got != want {
			t.Errorf("AlertCode(%d).String() = %q, want %q", code, got, want)
		}
	}
	e := tls13.Alertf(tab.EA07AttestationFailed, "binder mismatch")
	if !strings.Contains(e.Error(), "attestation_failed") {
		t.Errorf("alert error %q does not name attestation_failed", e)
	}
}

// Two tables give a connection each their own alert names: a code one
// table gives unsupported_evidence is nothing in the other, which gives
// that name to another code.
func TestAlertNamesPerTable(t *testing.T) {
	a := Default()
	b, err := a.Override("ta-07.unsupported_evidence=230")
	if err != nil {
		t.Fatal(err)
	}
	na, nb := AlertNames(a), AlertNames(b)
	old := tls13.AlertCode(a.TA07UnsupportedEvidence)
	if na[old] != "unsupported_evidence" || nb[230] != "unsupported_evidence" {
		t.Fatalf("names %v and %v", na, nb)
	}
	if _, ok := nb[old]; ok || len(na) != len(nb) {
		t.Fatalf("table b still names %d: %v", old, nb)
	}
}
