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

// Config sets up an Attester. Zero fields get fresh keys and a random
// instance ID.
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

// Attester is a software PSA root of trust: an IAK and a set of measured
// software components held in memory. It proves nothing about the machine
// it runs on. It honours parsectpm.Faults where a PSA token can express
// them (QualifyingData, QuotePCRs as the reported components,
// CertifyOtherKey as another key in the challenge, UnendorsedKey); a PSA
// token says nothing of where a key lives, so NotFixedTPM and
// NotSensitiveDataOrigin make Evidence fail. Safe for concurrent use.
type Attester struct {
	iak, otherIAK *ecdsa.PrivateKey
	tik, otherTIK *ecdsa.PrivateKey
	inst          []byte

	// The software components' measurements (Select, Extend) and the
	// faults (SetFaults).
	parsectpm.Bank
	parsectpm.FaultSwitch
}

var (
	_ parsectpm.Attester = (*Attester)(nil)
	_ attest.Keyless     = (*Attester)(nil)
)

// EvidenceNamesNoKey: a PSA token has no claim for the TLS key.
func (a *Attester) EvidenceNamesNoKey() {}

// New builds an attester whose components all measure zero.
func New(cfg Config) (*Attester, error) {
	a := &Attester{}
	a.SetFaults(cfg.Faults)
	var err error
	for _, k := range []struct {
		dst **ecdsa.PrivateKey
		cfg *ecdsa.PrivateKey
	}{{&a.iak, cfg.IAK}, {&a.tik, cfg.IdentityKey}, {&a.otherIAK, nil}, {&a.otherTIK, nil}} {
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
	a.inst = slices.Clone(cfg.InstanceID)
	if a.inst == nil {
		a.inst = make([]byte, psatoken.InstIDLen)
		a.inst[0] = 0x01
		if _, err := rand.Read(a.inst[1:]); err != nil {
			return nil, err
		}
	}
	if err := psatoken.ValidateInstID(a.inst); err != nil {
		return nil, fmt.Errorf("psa: instance ID: %w", err)
	}
	comps := cfg.Components
	if len(comps) == 0 {
		comps = DefaultComponents
	}
	if err := a.Select(comps...); err != nil {
		return nil, err
	}
	return a, nil
}

// Identity returns the TLS identity key the challenge binds.
func (a *Attester) Identity() crypto.Signer { return a.tik }

// MediaTypes returns the one format this attester produces.
func (a *Attester) MediaTypes() []string { return []string{MediaType} }

// Endorsement is what a verifier must be given to accept this attester:
// its instance ID, IAK and the current measurements as reference values.
func (a *Attester) Endorsement() parsectpm.Endorsement {
	return a.Bank.Endorse(a.inst, &a.iak.PublicKey, MediaType)
}

// Evidence returns a PSA token whose psa-nonce is Challenge(ch) and whose
// software components are the selected ones, signed with the IAK.
func (a *Attester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return attest.Evidence{}, err
	}
	f := a.CurrentFaults()
	comps, err := Components(&a.Bank, f.QuotePCRs, a.inst)
	if err != nil {
		return attest.Evidence{}, err
	}

	if f.NotFixedTPM || f.NotSensitiveDataOrigin {
		return attest.Evidence{}, errors.New("psa: a PSA token cannot say where a key lives (NotFixedTPM, NotSensitiveDataOrigin)")
	}
	ch = f.Bind(ch, a.tik.Public(), a.otherTIK.Public())
	nonce, err := Challenge(ch)
	if err != nil {
		return attest.Evidence{}, err
	}
	iak := a.iak
	if f.UnendorsedKey {
		iak = a.otherIAK
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
