package attack

import (
	"context"
	"crypto"

	"github.com/attested-tls/conformance/impl/attest"
)

// Leg is the attacker's own handshake with attester a (the genuine
// attester, or the TEE's own stack under TEEBound), the attacker playing
// the relying party with its nonce pinned to nonce where that is set; it
// returns a's flight.
type Leg func(ctx context.Context, a attest.Attester, nonce []byte) (*Captured, error)

// Impostor is the attacker of the scenarios in which it borrows
// attestation during the victim's connection (Diversion, Splice,
// OtherKey): its capability decides which key signs its CertificateVerify
// and where the evidence it presents comes from. The victim may be the
// in-process reference or a driven peer; only Leg differs.
type Impostor struct {
	Mallory
	// OwnKey says the attacker signs with its own key (the caller
	// certifies it where the model presents X.509).
	OwnKey bool
	// TEE is the genuine attester's TEE under TEEBound.
	TEE *TEE
	// Legs counts the attacker's own handshakes with the genuine
	// attester; LegErr is the last one's failure, which voids the attack.
	Legs   int
	LegErr error
	// RequestContext, where the attestation follows the handshake, is the
	// certificate_request_context of the victim's authenticator request:
	// the challenge the attacker's stack computes from it is a binder
	// carrying no nonce, and the attacker puts the victim's context in
	// its own request to the genuine attester.
	RequestContext func() []byte
}

// NewImpostor builds the attacker of scenario sc with capability cp
// against genuine; own is the attacker's own key.
func NewImpostor(sc Scenario, cp Capability, genuine attest.Attester, own crypto.Signer, leg Leg) *Impostor {
	tik := genuine.Identity()
	im := &Impostor{Mallory: Mallory{Media: genuine.MediaTypes()}}
	replayed := &ReplayedSigner{Pub: tik.Public()}
	switch {
	case cp == Oracle && sc != OtherKey:
		im.Key = tik // the TIK signs for the attacker's TLS stack
	case sc == Splice:
		im.Key = replayed // the genuine attester's CertificateVerify, copied
	default:
		im.Key, im.OwnKey = own, true
	}
	if cp == TEEBound {
		im.TEE = NewTEE(genuine)
	}
	im.Present = func(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
		if cp == Oracle && sc != Splice {
			return genuine.Evidence(ctx, ch) // whatever challenge it is asked
		}
		a := genuine
		if im.TEE != nil {
			// The direct way first: ask the TEE to attest the victim's
			// challenge; else a handshake through the TEE's own stack.
			if ev, err := im.TEE.Attest(ctx, ch); err == nil {
				return ev, nil
			}
			a = im.TEE.Own()
		}
		// A handshake of its own with the genuine attester, fed with the
		// victim's nonce where the protocol lets a peer choose it.
		im.Legs++
		nonce := ch.Nonce
		if nonce == nil && im.RequestContext != nil {
			nonce = im.RequestContext()
		}
		c, err := leg(ctx, a, nonce)
		if err != nil {
			im.LegErr = err
			return attest.Evidence{}, err
		}
		replayed.Sig = c.Signature
		return c.Evidence()
	}
	return im
}
