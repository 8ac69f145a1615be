// Package cca is Arm CCA evidence (ARM_CCA): a CBOR collection of a CCA
// platform token (COSE_Sign1 by the platform attestation key, the IAK)
// and a realm token (COSE_Sign1 by the realm attestation key, RAK, whose
// hash is the platform token's challenge), encoded and decoded with
// Veraison's ccatoken library; the challenge it carries, its checks
// against an endorsement, and a software attester that makes it from test
// keys.
//
// The realm token's public key is the RAK, a key the realm management
// monitor holds and signs realm tokens with; the realm never holds its
// private half, so it cannot be the TLS identity key. The TLS key is bound
// through cca-realm-challenge instead (attest.KeyBoundChallenge, zero
// padded to 64 bytes as the monitor pads a shorter challenge): it proves
// that software in the realm named the key, not where the key lives.
package cca

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/veraison/ccatoken"
	"github.com/veraison/ccatoken/platform"
)

// MediaType is the evidence media type Veraison's ARM_CCA scheme accepts.
const MediaType = `application/eat-collection; profile="http://arm.com/CCA-SSD/1.0.0"`

// RealmChallengeSize is the size of cca-realm-challenge.
const RealmChallengeSize = 64

// SecuredLifeCycle is the cca-platform-lifecycle of a secured platform.
const SecuredLifeCycle = platform.LifecycleSecuredMin

// Reasons CCA evidence is rejected.
const (
	ReasonMalformed   attest.Reason = "cca.malformed"
	ReasonInstance    attest.Reason = "cca.instance-id"
	ReasonSignature   attest.Reason = "cca.signature"
	ReasonChallenge   attest.Reason = "cca.challenge"
	ReasonLifeCycle   attest.Reason = "cca.lifecycle"
	ReasonMeasurement attest.Reason = "cca.measurement"
	ReasonRealm       attest.Reason = "cca.realm"
)

// Reasons lists every reason of this format.
var Reasons = []attest.Reason{ReasonMalformed, ReasonInstance, ReasonSignature, ReasonChallenge,
	ReasonLifeCycle, ReasonMeasurement, ReasonRealm}

// Challenge is the challenge a token answering ch carries before the
// monitor pads it (RealmChallenge): the key-bound challenge of the
// qualifying data and the TLS identity key when the attester has one (32
// bytes), else the qualifying data itself, at most 64 bytes. It is the
// session nonce a verifier is asked for and the EAR's eat_nonce.
func Challenge(ch attest.Challenge) ([]byte, error) {
	qd := ch.QualifyingData()
	if ch.TIK != nil {
		return attest.KeyBoundChallenge(qd, ch.TIK)
	}
	if len(qd) == 0 || len(qd) > RealmChallengeSize {
		return nil, fmt.Errorf("cca: a %d-byte challenge with no key to bind; cca-realm-challenge takes 1..%d bytes", len(qd), RealmChallengeSize)
	}
	return bytes.Clone(qd), nil
}

// RealmChallenge is c as cca-realm-challenge carries it: zero-padded to
// 64 bytes, as the realm management monitor pads a shorter challenge and
// Veraison pads its session nonce.
func RealmChallenge(c []byte) []byte {
	out := make([]byte, RealmChallengeSize)
	copy(out, c)
	return out
}

// Derived identities and reference values of the software attester's
// instance, so that an endorsement (instance ID, IAK, platform components)
// needs no other field and every attester is a class and realm of its own
// (Veraison's stores only append).
func derive(label string, instanceID []byte, size int) []byte {
	in := append([]byte("attested-tls cca "+label+"\x00"), instanceID...)
	switch size {
	case sha256.Size:
		h := sha256.Sum256(in)
		return h[:]
	case sha512.Size384:
		h := sha512.Sum384(in)
		return h[:]
	}
	h := sha512.Sum512(in)
	return h[:]
}

// ImplementationID is cca-platform-implementation-id.
func ImplementationID(instanceID []byte) []byte { return derive("implementation", instanceID, 32) }

// PlatformConfig is cca-platform-config.
func PlatformConfig(instanceID []byte) []byte { return derive("platform config", instanceID, 32) }

// RIM is the realm initial measurement (SHA-384).
func RIM(instanceID []byte) []byte { return derive("rim", instanceID, 48) }

// REMs are the four realm extensible measurements (SHA-384).
func REMs(instanceID []byte) [][]byte {
	out := make([][]byte, 4)
	for i := range out {
		out[i] = derive(fmt.Sprintf("rem%d", i), instanceID, 48)
	}
	return out
}

// RPV is the realm personalization value (64 bytes).
func RPV(instanceID []byte) []byte { return derive("rpv", instanceID, 64) }

// Decode parses CCA evidence (the CBOR collection of both tokens) and
// validates both claim sets' syntax; nothing is verified. Errors are
// *attest.Rejection with ReasonMalformed.
func Decode(data []byte) (*ccatoken.Evidence, error) {
	ev, err := ccatoken.DecodeAndValidateEvidenceFromCBOR(data)
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "%v", err)
	}
	return ev, nil
}

// InstanceID is the platform token's instance ID (the endorsement's
// KeyID).
func InstanceID(ev *ccatoken.Evidence) ([]byte, error) {
	id, err := ev.PlatformClaims.GetInstID()
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "cca-platform-instance-id: %v", err)
	}
	return id, nil
}

// Verify performs every check of CCA evidence against its endorsement:
// the platform's instance and implementation IDs are the endorsed ones,
// the endorsed IAK signed the platform token, the RAK the realm token,
// and the platform token's challenge is the RAK's hash; the realm token
// carries challenge (padded); the platform is secured, reports exactly
// the endorsed components and the endorsed configuration; the realm its
// reference measurements. A failed check returns *attest.Rejection.
func Verify(ev *ccatoken.Evidence, e parsectpm.Endorsement, challenge []byte) error {
	if e.Format() != MediaType {
		return attest.Reject(attest.ReasonNoEndorsement, "endorsement is for %q", e.Format())
	}
	if e.AttestationKey == nil {
		return errors.New("cca: endorsement has no attestation key")
	}
	p, r := ev.PlatformClaims, ev.RealmClaims
	inst, err := InstanceID(ev)
	if err != nil {
		return err
	}
	if !bytes.Equal(inst, e.KeyID) {
		return attest.Reject(ReasonInstance, "cca-platform-instance-id %x, endorsed %x", inst, e.KeyID)
	}
	if impl, err := p.GetImplID(); err != nil || !bytes.Equal(impl, ImplementationID(e.KeyID)) {
		return attest.Reject(ReasonInstance, "cca-platform-implementation-id %x is not the endorsed instance's", impl)
	}
	// Authenticity first, both tokens and their binding.
	if err := ev.Verify(e.AttestationKey); err != nil {
		return attest.Reject(ReasonSignature, "%v", err)
	}
	got, err := r.GetChallenge()
	if err != nil {
		return attest.Reject(ReasonMalformed, "cca-realm-challenge: %v", err)
	}
	if want := RealmChallenge(challenge); !bytes.Equal(got, want) {
		return attest.Reject(ReasonChallenge, "cca-realm-challenge %x, want %x", got, want)
	}
	lc, err := p.GetSecurityLifeCycle()
	if err != nil {
		return attest.Reject(ReasonMalformed, "cca-platform-lifecycle: %v", err)
	}
	if s := platform.LifeCycleToState(lc); s != platform.StateSecured {
		return attest.Reject(ReasonLifeCycle, "platform lifecycle %#x (%s), want secured", lc, s)
	}
	comps, err := p.GetSoftwareComponents()
	if err != nil {
		return attest.Reject(ReasonMalformed, "cca-platform-sw-components: %v", err)
	}
	if err := psa.CheckComponents(comps, e, ReasonMalformed, ReasonMeasurement); err != nil {
		return err
	}
	if cfg, err := p.GetConfig(); err != nil || !bytes.Equal(cfg, PlatformConfig(e.KeyID)) {
		return attest.Reject(ReasonMeasurement, "cca-platform-config %x is not the endorsed one", cfg)
	}
	return checkRealm(ev, e.KeyID)
}

func checkRealm(ev *ccatoken.Evidence, inst []byte) error {
	r := ev.RealmClaims
	rim, err := r.GetInitialMeasurement()
	if err != nil || !bytes.Equal(rim, RIM(inst)) {
		return attest.Reject(ReasonRealm, "cca-realm-initial-measurement %x is not the endorsed one", rim)
	}
	rems, err := r.GetExtensibleMeasurements()
	want := REMs(inst)
	if err != nil || len(rems) != len(want) {
		return attest.Reject(ReasonRealm, "%d extensible measurements, want %d", len(rems), len(want))
	}
	for i := range want {
		if !bytes.Equal(rems[i], want[i]) {
			return attest.Reject(ReasonRealm, "cca-realm-extensible-measurements[%d] %x is not the endorsed one", i, rems[i])
		}
	}
	if rpv, err := r.GetPersonalizationValue(); err != nil || !bytes.Equal(rpv, RPV(inst)) {
		return attest.Reject(ReasonRealm, "cca-realm-personalization-value %x is not the endorsed one", rpv)
	}
	return nil
}
