package party_test

import (
	"context"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
)

// A background check and a passport both round-trip through Present and
// Appraise; each way of breaking them is rejected with its own reason.

func setup(t *testing.T) (*software.Attester, *local.Verifier, *policy.Policy) {
	t.Helper()
	a, err := software.New(software.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := local.New(local.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddEndorsement(a.Endorsement()); err != nil {
		t.Fatal(err)
	}
	return a, v, &policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireKeyBinding: true}
}

func TestPresentAppraise(t *testing.T) {
	a, v, pol := setup(t)
	ch := attest.Challenge{Profile: "test", Nonce: []byte("0123456789abcdef"), TIK: a.Identity().Public()}
	for _, topo := range []party.Topology{party.BackgroundCheck, party.Passport} {
		attester := &party.Party{Attester: a, Topology: topo, Results: party.PassportSource{Attester: a, Verifier: v}}
		rp := &party.Party{VerifyPeer: true, PeerTopology: topo, Verifier: v, Policy: pol}
		payload, err := attester.Present(context.Background(), ch)
		if err != nil {
			t.Fatal(topo, err)
		}
		if f := cmw.Sniff(payload); f != cmw.CBORRecord {
			t.Fatalf("%v: payload is %v, want a CBOR record", topo, f)
		}
		r, err := rp.Appraise(context.Background(), payload, ch)
		if err != nil {
			t.Fatal(topo, err)
		}
		if r.AttestedKey == nil {
			t.Fatalf("%v: no attested key", topo)
		}
		// A passport presented to a relying party expecting evidence, and
		// the reverse, is the wrong payload type.
		other := &party.Party{VerifyPeer: true, PeerTopology: 1 - topo, Verifier: v, Policy: pol}
		if _, err := other.Appraise(context.Background(), payload, ch); attest.ReasonOf(err) == "" {
			t.Fatalf("%v payload accepted under the other topology: %v", topo, err)
		}
	}
}

func TestAppraiseRejections(t *testing.T) {
	a, v, pol := setup(t)
	ch := attest.Challenge{Nonce: []byte("0123456789abcdef"), TIK: a.Identity().Public()}
	rp := &party.Party{VerifyPeer: true, Verifier: v, Policy: pol}
	good := &party.Party{Attester: a}
	cases := []struct {
		name   string
		bugs   party.Bugs
		ch     attest.Challenge
		reason attest.Reason
	}{
		{"malformed", party.Bugs{MalformedPayload: true}, ch, party.ReasonMalformedPayload},
		{"wrong challenge", party.Bugs{WrongChallenge: true}, ch, ""}, // the verifier's reason
		{"missing", party.Bugs{ReplayPayload: []byte{}}, ch, party.ReasonMissingPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := *good
			p.Bugs = tc.bugs
			payload, err := p.Present(context.Background(), tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			_, err = rp.Appraise(context.Background(), payload, ch)
			got := attest.ReasonOf(err)
			if got == "" || (tc.reason != "" && got != tc.reason) {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
}
