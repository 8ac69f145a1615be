package cca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/veraison/ccatoken"
	"github.com/veraison/ccatoken/platform"
	"github.com/veraison/ccatoken/realm"
	"github.com/veraison/go-cose"
)

// DefaultComponents are the platform's measured components when
// Config.Components is empty.
var DefaultComponents = psa.DefaultComponents

// Config sets up an Attester: its platform as a PSA one's, and its
// realm's RAK. Zero fields get fresh keys and a random instance ID.
type Config struct {
	psa.Config
	// RAK signs realm tokens; P-384, as the monitor's.
	RAK *ecdsa.PrivateKey
}

// Attester is a software CCA platform (a psa.Platform: IAK, TLS key,
// measured platform components, faults) with one realm, whose RAK it
// holds. It proves nothing about the machine it runs on.
type Attester struct {
	*psa.Platform
	rak     *ecdsa.PrivateKey
	rakCOSE []byte // the RAK as a COSE_Key
}

var (
	_ parsectpm.Attester = (*Attester)(nil)
	_ attest.Keyless     = (*Attester)(nil)
)

// New builds an attester whose platform components all measure zero.
func New(cfg Config) (*Attester, error) {
	p, err := psa.NewPlatform(cfg.Config, MediaType)
	if err != nil {
		return nil, err
	}
	a := &Attester{Platform: p, rak: cfg.RAK}
	if a.rak == nil {
		if a.rak, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			return nil, err
		}
	}
	if a.rak.Curve != elliptic.P384() {
		return nil, errors.New("cca: the RAK must be P-384")
	}
	key, err := cose.NewKeyFromPublic(&a.rak.PublicKey)
	if err != nil {
		return nil, err
	}
	if a.rakCOSE, err = key.MarshalCBOR(); err != nil {
		return nil, err
	}
	return a, nil
}

// Evidence returns a CCA token whose realm challenge is Challenge(ch),
// padded.
func (a *Attester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	comps, ch, iak, err := a.Next(ctx, ch)
	if err != nil {
		return attest.Evidence{}, err
	}
	c, err := Challenge(ch)
	if err != nil {
		return attest.Evidence{}, err
	}
	inst := a.InstanceID()
	p := platform.NewClaims()
	r := realm.NewClaims()
	if err := errors.Join(
		p.SetImplID(ImplementationID(inst)), p.SetInstID(inst), p.SetConfig(PlatformConfig(inst)),
		p.SetSecurityLifeCycle(SecuredLifeCycle), p.SetSoftwareComponents(comps), p.SetHashAlgID("sha-256"),
		r.SetChallenge(RealmChallenge(c)), r.SetPersonalizationValue(RPV(inst)), r.SetInitialMeasurement(RIM(inst)),
		r.SetExtensibleMeasurements(REMs(inst)), r.SetHashAlgID("sha-384"), r.SetPubKey(a.rakCOSE),
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
