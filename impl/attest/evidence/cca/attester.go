package cca

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
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/veraison/ccatoken"
	"github.com/veraison/ccatoken/platform"
	"github.com/veraison/ccatoken/realm"
	"github.com/veraison/go-cose"
	"github.com/veraison/psatoken"
)

// DefaultComponents are the platform's measured components when
// Config.Components is empty.
var DefaultComponents = []int{0, 1, 7}

// Config sets up an Attester. Zero fields get fresh keys and a random
// instance ID.
type Config struct {
	// IAK signs platform tokens (the CCA platform attestation key); P-256.
	IAK *ecdsa.PrivateKey
	// RAK signs realm tokens; P-384, as the monitor's.
	RAK *ecdsa.PrivateKey
	// IdentityKey is the TLS identity key the challenge binds; P-256.
	IdentityKey *ecdsa.PrivateKey
	// InstanceID is cca-platform-instance-id (a UEID: 0x01 and 32 bytes).
	InstanceID []byte
	// Components are the indices of the platform's software components.
	Components []int
	Faults     parsectpm.Faults
}

// Attester is a software CCA platform with one realm: an IAK, a RAK and
// measured platform components held in memory. It proves nothing about
// the machine it runs on. It honours parsectpm.Faults as the PSA
// attester does (QualifyingData, QuotePCRs as the platform components,
// CertifyOtherKey as another key in the challenge, UnendorsedKey as
// another IAK); NotFixedTPM and NotSensitiveDataOrigin make Evidence
// fail. Safe for concurrent use.
type Attester struct {
	iak, otherIAK, tik, otherTIK *ecdsa.PrivateKey
	rak                          *ecdsa.PrivateKey
	rakCOSE                      []byte // the RAK as a COSE_Key
	inst                         []byte

	// The platform components' measurements (Select, Extend) and the
	// faults (SetFaults).
	parsectpm.Bank
	parsectpm.FaultSwitch
}

var (
	_ parsectpm.Attester = (*Attester)(nil)
	_ attest.Keyless     = (*Attester)(nil)
)

// EvidenceNamesNoKey: the realm token's key is the RAK, not the TLS key.
func (a *Attester) EvidenceNamesNoKey() {}

func keyOr(k *ecdsa.PrivateKey, c elliptic.Curve) (*ecdsa.PrivateKey, error) {
	if k != nil {
		if k.Curve != c {
			return nil, fmt.Errorf("cca: want a %s key", c.Params().Name)
		}
		return k, nil
	}
	return ecdsa.GenerateKey(c, rand.Reader)
}

// New builds an attester whose platform components all measure zero.
func New(cfg Config) (*Attester, error) {
	a := &Attester{}
	a.SetFaults(cfg.Faults)
	var err error
	for _, k := range []struct {
		dst   **ecdsa.PrivateKey
		cfg   *ecdsa.PrivateKey
		curve elliptic.Curve
	}{{&a.iak, cfg.IAK, elliptic.P256()}, {&a.otherIAK, nil, elliptic.P256()}, {&a.tik, cfg.IdentityKey, elliptic.P256()},
		{&a.otherTIK, nil, elliptic.P256()}, {&a.rak, cfg.RAK, elliptic.P384()}} {
		if *k.dst, err = keyOr(k.cfg, k.curve); err != nil {
			return nil, err
		}
	}
	key, err := cose.NewKeyFromPublic(&a.rak.PublicKey)
	if err != nil {
		return nil, err
	}
	if a.rakCOSE, err = key.MarshalCBOR(); err != nil {
		return nil, err
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
		return nil, fmt.Errorf("cca: instance ID: %w", err)
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
// its instance ID, IAK and the platform components' current measurements
// (the realm's reference values derive from the instance ID).
func (a *Attester) Endorsement() parsectpm.Endorsement {
	return a.Endorse(a.inst, &a.iak.PublicKey, MediaType)
}

// Evidence returns a CCA token whose realm challenge is Challenge(ch),
// padded.
func (a *Attester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return attest.Evidence{}, err
	}
	f := a.CurrentFaults()
	if f.NotFixedTPM || f.NotSensitiveDataOrigin {
		return attest.Evidence{}, errors.New("cca: a CCA token cannot say where the TLS key lives (NotFixedTPM, NotSensitiveDataOrigin)")
	}
	comps, err := psa.Components(&a.Bank, f.QuotePCRs, a.inst)
	if err != nil {
		return attest.Evidence{}, err
	}
	ch = f.Bind(ch, a.tik.Public(), a.otherTIK.Public())
	c, err := Challenge(ch)
	if err != nil {
		return attest.Evidence{}, err
	}
	iak := a.iak
	if f.UnendorsedKey {
		iak = a.otherIAK
	}
	p := platform.NewClaims()
	r := realm.NewClaims()
	if err := errors.Join(
		p.SetImplID(ImplementationID(a.inst)), p.SetInstID(a.inst), p.SetConfig(PlatformConfig(a.inst)),
		p.SetSecurityLifeCycle(SecuredLifeCycle), p.SetSoftwareComponents(comps), p.SetHashAlgID("sha-256"),
		r.SetChallenge(RealmChallenge(c)), r.SetPersonalizationValue(RPV(a.inst)), r.SetInitialMeasurement(RIM(a.inst)),
		r.SetExtensibleMeasurements(REMs(a.inst)), r.SetHashAlgID("sha-384"), r.SetPubKey(a.rakCOSE),
		r.SetPubKeyHashAlgID("sha-256"),
	); err != nil {
		return attest.Evidence{}, fmt.Errorf("cca: claims: %w", err)
	}
	var ev ccatoken.Evidence
	// SetClaims sets the platform challenge to the RAK's hash.
	if err := ev.SetClaims(p, r); err != nil {
		return attest.Evidence{}, fmt.Errorf("cca: claims: %w", err)
	}
	ps, err := cose.NewSigner(cose.AlgorithmES256, iak)
	if err != nil {
		return attest.Evidence{}, err
	}
	rs, err := cose.NewSigner(cose.AlgorithmES384, a.rak)
	if err != nil {
		return attest.Evidence{}, err
	}
	data, err := ev.ValidateAndSign(ps, rs)
	if err != nil {
		return attest.Evidence{}, fmt.Errorf("cca: signing: %w", err)
	}
	return attest.Evidence{MediaType: MediaType, Data: data}, nil
}
