package contract

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
)

// A client relying party names the evidence formats it takes; a PSA
// attester's ATLS_TPM is psa-iot.
func TestEvidenceVariable(t *testing.T) {
	client := map[string]string{
		EnvContract: "1", EnvTestCase: "ta-07/server-attests/bg+x509", EnvRole: "client", EnvProfile: "ta-07",
		EnvServerAttests: "bg", EnvClientAttests: "none", EnvServerCredential: "x509",
		EnvConnect: "server:4433", EnvServerName: "server.attested.test", EnvCACert: "/atls/in/ca.pem",
		EnvVerifier: "local", EnvEvidence: "psa-iot,parsec-tpm",
	}
	c, err := FromEnv(lookup(client))
	if err != nil {
		t.Fatal(err)
	}
	if mts, err := EvidenceMediaTypes(c.Evidence); err != nil || !slices.Equal(mts, []string{psa.MediaType, parsectpm.MediaType}) {
		t.Fatalf("%v %v", mts, err)
	}
	if back, err := FromEnv(Getenv(c.Env())); err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip: %v", err)
	}
	if mts, _ := EvidenceMediaTypes(""); !slices.Equal(mts, []string{parsectpm.MediaType}) {
		t.Fatalf("default %v", mts)
	}
	for _, bad := range []string{"tpm", "psa-iot,psa-iot", "psa-iot,", " psa-iot"} {
		client[EnvEvidence] = bad
		var ve *VarError
		if _, err := FromEnv(lookup(client)); !errors.As(err, &ve) || ve.Name != EnvEvidence {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// Only a relying party takes evidence.
	env := serverEnv()
	env[EnvEvidence] = "psa-iot"
	var ve *VarError
	if _, err := FromEnv(lookup(env)); !errors.As(err, &ve) || ve.Name != EnvEvidence {
		t.Errorf("server attesting alone with %s: %v", EnvEvidence, err)
	}
	for _, root := range []string{RootPSA, RootCCA} {
		env = serverEnv()
		env[EnvTPM] = root
		if _, err := FromEnv(lookup(env)); err != nil {
			t.Errorf("%s=%s: %v", EnvTPM, root, err)
		}
	}

	m, err := ParseManifest([]byte(`{"name":"x","version":"1","contract":1,"command":["x"],"profiles":["ta-07"],
		"roles":["client"],"topologies":["bg"],"credentials":["x509"],"tpms":["software"],"verifiers":["local"]}`))
	if err != nil {
		t.Fatal(err)
	}
	client[EnvEvidence] = "psa-iot"
	c, _ = FromEnv(lookup(client))
	if err := m.Supports(c); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a manifest without psa-iot evidence: %v", err)
	}
	m.Evidence = []string{"parsec-tpm", "psa-iot"}
	if err := m.Supports(c); err != nil {
		t.Error(err)
	}
}

// A PSA endorsement travels in the same file, with its media type.
func TestPSAEndorsementFile(t *testing.T) {
	a, err := psa.New(psa.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := a.Endorsement()
	b, err := MarshalEndorsement(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEndorsement(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format() != psa.MediaType || !got.AttestationKey.Equal(want.AttestationKey) || !reflect.DeepEqual(got.ReferencePCRs, want.ReferencePCRs) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if _, err := ParseEndorsement(bytes.ReplaceAll(b, []byte(psa.MediaType), []byte("application/x-other"))); err == nil {
		t.Error("an endorsement of an unknown format parsed")
	}
}
