package ta07

import (
	"crypto"
	"encoding/hex"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// secrets: handshake_exporter_secret (§6.2.1), which the engine traces
// as "h exp master", and the channel binder of each direction whose X.509
// background check binds one, over the nonce it was challenged with and
// binder_size = len(nonce), as the reference implementation sizes it.
func secrets(h crypto.Hash, m party.Model, in party.HandshakeValues) ([]party.Value, error) {
	hes := HandshakeExporterSecret(h, in.HandshakeSecret, in.HelloHash)
	out := []party.Value{{Name: "handshake_exporter_secret", Bytes: hes, Traced: HandshakeExporterSecretLabel}}
	for _, client := range []bool{false, true} {
		s := m.Attesting(client)
		if !s.Attests || s.Credential != party.X509 || s.Topology != party.BackgroundCheck {
			continue
		}
		nonce := in.Nonce(client)
		if nonce == nil {
			return nil, fmt.Errorf("no nonce for the %s's channel binder", sideName(client))
		}
		b, err := ChannelBinder(h, hes, nonce, len(nonce))
		if err != nil {
			return nil, err
		}
		out = append(out, party.Value{Name: sideName(client) + "_channel_binder", Bytes: b})
	}
	return out, nil
}

func sideName(client bool) string {
	if client {
		return "client"
	}
	return "server"
}

// selected: the verifier a passport side's results_request or proposal
// selected, or the certificate type and evidence media type of a
// background check.
func selected(s party.Side, evidenceType string, verifier []byte) string {
	if s.Topology == party.Passport {
		return "selected_verifier=" + hex.EncodeToString(verifier)
	}
	kind := "ATTESTATION"
	if s.Credential == party.X509 {
		kind = "CERT_ATTESTATION"
	}
	return kind + "/MEDIA_TYPE=" + evidenceType
}

// binder recomputes a channel binder vector: from handshake_secret,
// hello_transcript_hash, nonce and binder_size (2 bytes, big-endian), the
// exporter secret and the nonce's hash, then handshake_exporter_secret
// and channel_binder.
func binder(h crypto.Hash, in []party.Value) (intermediates, outputs []party.Value, err error) {
	size := valueOf(in, "binder_size")
	if len(size) != 2 {
		return nil, nil, fmt.Errorf("binder_size is %d bytes, want 2", len(size))
	}
	n := int(size[0])<<8 | int(size[1])
	if n < 1 || n > 255*h.Size() {
		return nil, nil, fmt.Errorf("binder_size %d", n)
	}
	hes := HandshakeExporterSecret(h, valueOf(in, "handshake_secret"), valueOf(in, "hello_transcript_hash"))
	exp := tls13.DeriveSecret(h, hes, ChannelBinderLabel, h.New().Sum(nil))
	nonce := valueOf(in, "nonce")
	nh := h.New()
	nh.Write(nonce)
	b, err := ChannelBinder(h, hes, nonce, n)
	if err != nil {
		return nil, nil, err
	}
	return []party.Value{{Name: "exporter_secret", Bytes: exp}, {Name: "nonce_hash", Bytes: nh.Sum(nil)}},
		[]party.Value{{Name: "handshake_exporter_secret", Bytes: hes}, {Name: "channel_binder", Bytes: b}}, nil
}

func valueOf(vs []party.Value, name string) []byte {
	for _, v := range vs {
		if v.Name == name {
			return v.Bytes
		}
	}
	return nil
}
