package psa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/veraison/go-cose"
	"github.com/veraison/psatoken"
)

// DefaultComponents are the measured components when Config.Components
// is empty.
var DefaultComponents = []int{0, 1, 7}

// Config sets up an Attester (and the platform of a CCA one). Zero fields
// get fresh keys and a random instance ID.
type Config struct {
	// IAK is the initial attestation key that signs tokens; P-256.
	IAK *ecdsa.PrivateKey
	// IdentityKey is the TLS identity key the challenge binds; P-256.
	IdentityKey *ecdsa.PrivateKey
	// InstanceID is the psa-instance-id (a UEID: 0x01 and 32 bytes).
	InstanceID []byte
	// Components are the indices of the software components reported.
	Components []int
	Faults     parsectpm.Faults
}

// Platform is a software PSA platform: an IAK, a TLS identity key, an
// instance ID and measured software components held in memory, whose
// evidence binds the TLS key through its challenge. It proves nothing
// about the machine it runs on. The PSA attester is one; the CCA
// attester's platform is another. It honours parsectpm.Faults where such
// a token can express them (QualifyingData, QuotePCRs as the reported
// components, CertifyOtherKey as another key in the challenge,
// UnendorsedKey as another IAK); it says nothing of where a key lives,
// so NotFixedTPM and NotSensitiveDataOrigin make evidence fail. Safe for
// concurrent use.
type Platform struct {
	iak, otherIAK *ecdsa.PrivateKey
	tik, otherTIK *ecdsa.PrivateKey
	inst          []byte
	mediaType     string

	// The software components' measurements (Select, Extend) and the
	// faults (SetFaults).
	parsectpm.Bank
	parsectpm.FaultSwitch
}

// NewPlatform builds a platform of evidence format mediaType whose
// components all measure zero.
func NewPlatform(cfg Config, mediaType string) (*Platform, error) {
	p := &Platform{mediaType: mediaType}
	p.SetFaults(cfg.Faults)
	var err error
	for _, k := range []struct {
		dst **ecdsa.PrivateKey
		cfg *ecdsa.PrivateKey
	}{{&p.iak, cfg.IAK}, {&p.tik, cfg.IdentityKey}, {&p.otherIAK, nil}, {&p.otherTIK, nil}} {
		if k.cfg != nil && k.cfg.Curve != elliptic.P256() {
			return nil, errors.New("psa: keys must be P-256")
		}
		*k.dst = k.cfg
		if *k.dst == nil {
			if *k.dst, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				return nil, err
			}
		}
	}
	p.inst = slices.Clone(cfg.InstanceID)
	if p.inst == nil {
		p.inst = make([]byte, psatoken.InstIDLen)
		p.inst[0] = 0x01
		if _, err := rand.Read(p.inst[1:]); err != nil {
			return nil, err
		}
	}
	if err := psatoken.ValidateInstID(p.inst); err != nil {
		return nil, fmt.Errorf("psa: instance ID: %w", err)
	}
	comps := cfg.Components
	if len(comps) == 0 {
		comps = DefaultComponents
	}
	if err := p.Select(comps...); err != nil {
		return nil, err
	}
	return p, nil
}

// EvidenceNamesNoKey: the token has no claim for the TLS key.
func (p *Platform) EvidenceNamesNoKey() {}

// Identity returns the TLS identity key the challenge binds.
func (p *Platform) Identity() crypto.Signer { return p.tik }

// MediaTypes returns the one format this platform produces.
func (p *Platform) MediaTypes() []string { return []string{p.mediaType} }

// InstanceID is the platform's instance ID.
func (p *Platform) InstanceID() []byte { return slices.Clone(p.inst) }

// Endorsement is what a verifier must be given to accept this platform:
// its instance ID, IAK and the current measurements as reference values.
func (p *Platform) Endorsement() parsectpm.Endorsement {
	return p.Endorse(p.inst, &p.iak.PublicKey, p.mediaType)
}

// Next is what the platform's next evidence for ch carries under its
// faults: its software components, the challenge to derive the token's
// from (the faulted qualifying data and key), and the key to sign with.
func (p *Platform) Next(ctx context.Context, ch attest.Challenge) ([]psatoken.ISwComponent, attest.Challenge, *ecdsa.PrivateKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, ch, nil, err
	}
	f := p.CurrentFaults()
	if f.NotFixedTPM || f.NotSensitiveDataOrigin {
		return nil, ch, nil, errors.New("psa: the token cannot say where a key lives (NotFixedTPM, NotSensitiveDataOrigin)")
	}
	comps, err := Components(&p.Bank, f.QuotePCRs, p.inst)
	if err != nil {
		return nil, ch, nil, err
	}
	iak := p.iak
	if f.UnendorsedKey {
		iak = p.otherIAK
	}
	return comps, f.Bind(ch, p.tik.Public(), p.otherTIK.Public()), iak, nil
}

// Attester is a software PSA root of trust (a Platform) making PSA
// tokens.
type Attester struct{ *Platform }

var (
	_ parsectpm.Attester = (*Attester)(nil)
	_ attest.Keyless     = (*Attester)(nil)
)

// New builds an attester whose components all measure zero.
func New(cfg Config) (*Attester, error) {
	p, err := NewPlatform(cfg, MediaType)
	if err != nil {
		return nil, err
	}
	return &Attester{p}, nil
}

// Evidence returns a PSA token whose psa-nonce is Challenge(ch) and whose
// software components are the selected ones, signed with the IAK.
func (a *Attester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	comps, ch, iak, err := a.Next(ctx, ch)
	if err != nil {
		return attest.Evidence{}, err
	}
	nonce, err := Challenge(ch)
	if err != nil {
		return attest.Evidence{}, err
	}
	data, err := Sign(iak, Claims{InstanceID: a.inst, Nonce: nonce, Components: comps, LifeCycle: SecuredLifeCycle})
	if err != nil {
		return attest.Evidence{}, err
	}
	return attest.Evidence{MediaType: MediaType, Data: data}, nil
}

// Claims are the claims of a token Sign makes.
type Claims struct {
	InstanceID []byte
	Nonce      []byte
	Components []psatoken.ISwComponent
	LifeCycle  uint16
}

// Sign encodes c as profile-2 PSA claims (implementation ID derived from
// the instance ID) and signs them as a COSE_Sign1 with ES256.
func Sign(iak *ecdsa.PrivateKey, c Claims) ([]byte, error) {
	claims, err := psatoken.NewClaims(Profile)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(
		claims.SetInstID(c.InstanceID),
		claims.SetImplID(ImplementationID(c.InstanceID)),
		claims.SetNonce(c.Nonce),
		claims.SetSecurityLifeCycle(c.LifeCycle),
		claims.SetClientID(ClientID),
		claims.SetSoftwareComponents(c.Components),
	); err != nil {
		return nil, fmt.Errorf("psa: claims: %w", err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmES256, iak)
	if err != nil {
		return nil, err
	}
	ev := psatoken.Evidence{}
	if err := ev.SetClaims(claims); err != nil {
		return nil, fmt.Errorf("psa: claims: %w", err)
	}
	return ev.ValidateAndSign(signer)
}

// Components are the software component claims of the bank's selection
// (or of override when non-empty): each slot i is measurement type
// ComponentLabel(i) with its value, signed by SignerID(instanceID). CCA
// platform tokens report theirs the same way.
func Components(b *parsectpm.Bank, override []int, instanceID []byte) ([]psatoken.ISwComponent, error) {
	sel, vals, err := b.Read(override)
	if err != nil {
		return nil, fmt.Errorf("psa: components: %w", err)
	}
	comps := make([]psatoken.ISwComponent, 0, len(sel))
	for _, i := range sel {
		c := &psatoken.SwComponent{}
		if err := errors.Join(c.SetMeasurementType(ComponentLabel(i)), c.SetMeasurementValue(vals[i]),
			c.SetSignerID(SignerID(instanceID))); err != nil {
			return nil, fmt.Errorf("psa: component %d: %w", i, err)
		}
		comps = append(comps, c)
	}
	return comps, nil
}
