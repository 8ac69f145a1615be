package ea07

import (
	"crypto"
	"encoding/hex"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest/party"
)

// secrets: attest_base (§5.1.1) and the attestation binder of each
// direction that presents evidence (a background check), over its
// end-entity certificate's key.
func secrets(h crypto.Hash, m party.Model, in party.HandshakeValues) ([]party.Value, error) {
	base := AttestBase(h, in.HelloHash)
	out := []party.Value{{Name: "attest_base", Bytes: base}}
	for _, client := range []bool{false, true} {
		s := m.Attesting(client)
		if !s.Attests || s.Topology != party.BackgroundCheck {
			continue
		}
		spki, err := in.SPKI(client)
		if err != nil {
			return nil, err
		}
		name := "s_attest_binder"
		if client {
			name = "c_attest_binder"
		}
		out = append(out, party.Value{Name: name, Bytes: AttestBinder(h, base, spki)})
	}
	return out, nil
}

// selected: the verifier_identity of a result, or the media type of
// evidence.
func selected(s party.Side, evidenceType string, verifier []byte) string {
	if s.Topology == party.Passport {
		return "result/verifier_identity=" + hex.EncodeToString(verifier)
	}
	return "evidence/MEDIA_TYPE=" + evidenceType
}

// binder recomputes an attestation binder vector: from
// hello_transcript_hash, then any of server_spki and client_spki, each
// key's hash, then attest_base and each key's binder.
func binder(h crypto.Hash, in []party.Value) (intermediates, outputs []party.Value, err error) {
	if len(in) == 0 || in[0].Name != "hello_transcript_hash" {
		return nil, nil, fmt.Errorf("the first input must be hello_transcript_hash")
	}
	base := AttestBase(h, in[0].Bytes)
	outputs = []party.Value{{Name: "attest_base", Bytes: base}}
	for _, k := range in[1:] {
		if k.Name != "server_spki" && k.Name != "client_spki" {
			return nil, nil, fmt.Errorf("input %q: want server_spki or client_spki", k.Name)
		}
		hk := h.New()
		hk.Write(k.Bytes)
		intermediates = append(intermediates, party.Value{Name: k.Name + "_hash", Bytes: hk.Sum(nil)})
		outputs = append(outputs, party.Value{Name: k.Name[:1] + "_attest_binder", Bytes: AttestBinder(h, base, k.Bytes)})
	}
	return intermediates, outputs, nil
}
