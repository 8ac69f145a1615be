// Package psa is PSA initial attestation token evidence (PSA_IOT,
// draft-tschofenig-rats-psa-token, profile "http://arm.com/psa/2.0.0"): a
// COSE_Sign1 over the PSA claims, encoded and decoded with Veraison's
// psatoken library; the challenge it carries, its checks against an
// endorsement, and a software attester that makes it from test keys.
//
// A PSA token has no claim for a key of the attester's choosing: the TLS
// identity key is bound through the challenge (attest.KeyBoundChallenge),
// which proves that the software calling the attestation service named
// the key, not that the root of trust holds it.
package psa

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/veraison/psatoken"
)

// MediaType is the evidence media type Veraison's PSA_IOT scheme accepts
// for a PSA token.
const MediaType = "application/psa-attestation-token"

// Profile is the eat_profile of the tokens made and accepted.
const Profile = psatoken.Profile2Name

// Challenge sizes a psa-nonce may have (the token's hash sizes).
var ChallengeSizes = []int{32, 48, 64}

// SecuredLifeCycle is the psa-security-lifecycle of a secured device: the
// state Veraison (and Verify) require for a trustworthy instance.
const SecuredLifeCycle = psatoken.SecurityLifecycleSecuredMin

// ClientID is the psa-client-id of the caller: a secure partition (> 0).
const ClientID = 1

// Reasons a PSA token is rejected.
const (
	ReasonMalformed   attest.Reason = "psa.malformed"
	ReasonProfile     attest.Reason = "psa.profile"
	ReasonInstance    attest.Reason = "psa.instance-id"
	ReasonSignature   attest.Reason = "psa.signature"
	ReasonChallenge   attest.Reason = "psa.challenge"
	ReasonLifeCycle   attest.Reason = "psa.lifecycle"
	ReasonMeasurement attest.Reason = "psa.measurement"
)

// Reasons lists every reason of this format.
var Reasons = []attest.Reason{ReasonMalformed, ReasonProfile, ReasonInstance, ReasonSignature,
	ReasonChallenge, ReasonLifeCycle, ReasonMeasurement}

// Challenge is the psa-nonce a token answering ch carries: the key-bound
// challenge of the qualifying data and the TLS identity key when the
// attester has one (attest.KeyBoundChallenge, 32 bytes), else the
// qualifying data itself, which must then be 32, 48 or 64 bytes: a PSA
// token takes no other size, and padding or hashing a shorter nonce would
// hide which one the relying party chose.
func Challenge(ch attest.Challenge) ([]byte, error) {
	qd := ch.QualifyingData()
	if ch.TIK != nil {
		return attest.KeyBoundChallenge(qd, ch.TIK)
	}
	if !slices.Contains(ChallengeSizes, len(qd)) {
		return nil, fmt.Errorf("psa: a %d-byte challenge with no key to bind; psa-nonce takes %v bytes", len(qd), ChallengeSizes)
	}
	return slices.Clone(qd), nil
}

// ImplementationID is the psa-implementation-id of the instance an
// endorsement names. The software attester derives it from the instance
// ID so that an endorsement needs no other field and every fresh
// attester is a class of its own (Veraison's stores only append, and its
// PSA scheme wants every provisioned reference value of a class matched).
func ImplementationID(instanceID []byte) []byte {
	h := sha256.Sum256(append([]byte("attested-tls psa implementation\x00"), instanceID...))
	return h[:]
}

// SignerID is the signer-id of every software component, derived like
// ImplementationID.
func SignerID(instanceID []byte) []byte {
	h := sha256.Sum256(append([]byte("attested-tls psa signer\x00"), instanceID...))
	return h[:]
}

// ComponentLabel is the measurement-type of component i, the label its
// reference value is provisioned under.
func ComponentLabel(i int) string { return "component-" + strconv.Itoa(i) }

// Token is a decoded PSA token, unverified.
type Token struct {
	Evidence *psatoken.Evidence
	Claims   psatoken.IClaims
}

// Decode parses a token (COSE_Sign1 whose payload is PSA claims) and
// validates the claims' syntax; nothing is verified. Errors are
// *attest.Rejection with ReasonMalformed, or ReasonProfile for claims of
// another profile.
func Decode(data []byte) (*Token, error) {
	ev, err := psatoken.DecodeEvidenceFromCOSE(data)
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "%v", err)
	}
	prof, err := ev.Claims.GetProfile()
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "eat_profile: %v", err)
	}
	if prof != Profile {
		return nil, attest.Reject(ReasonProfile, "eat_profile %q, want %q", prof, Profile)
	}
	if err := ev.Claims.Validate(); err != nil {
		return nil, attest.Reject(ReasonMalformed, "%v", err)
	}
	return &Token{Evidence: ev, Claims: ev.Claims}, nil
}

// InstanceID is the token's psa-instance-id (the endorsement's KeyID).
func (t *Token) InstanceID() ([]byte, error) {
	id, err := t.Claims.GetInstID()
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "psa-instance-id: %v", err)
	}
	return id, nil
}

// Verify performs every check of a PSA token against its endorsement: the
// instance and implementation IDs are the endorsed ones, the endorsed key
// signed it, it carries challenge, the device is secured, and it reports
// exactly the endorsed software components with their reference
// measurements. A failed check returns *attest.Rejection.
func Verify(t *Token, e parsectpm.Endorsement, challenge []byte) error {
	if e.Format() != MediaType {
		return attest.Reject(attest.ReasonNoEndorsement, "endorsement is for %q", e.Format())
	}
	if e.AttestationKey == nil {
		return errors.New("psa: endorsement has no attestation key")
	}
	inst, err := t.InstanceID()
	if err != nil {
		return err
	}
	if !bytes.Equal(inst, e.KeyID) {
		return attest.Reject(ReasonInstance, "psa-instance-id %x, endorsed %x", inst, e.KeyID)
	}
	impl, err := t.Claims.GetImplID()
	if err != nil || !bytes.Equal(impl, ImplementationID(e.KeyID)) {
		return attest.Reject(ReasonInstance, "psa-implementation-id %x is not the endorsed instance's", impl)
	}
	// Authenticity first: no claim means anything until the endorsed key
	// is shown to have signed it.
	if err := t.Evidence.Verify(e.AttestationKey); err != nil {
		return attest.Reject(ReasonSignature, "%v", err)
	}
	nonce, err := t.Claims.GetNonce()
	if err != nil {
		return attest.Reject(ReasonMalformed, "psa-nonce: %v", err)
	}
	if !bytes.Equal(nonce, challenge) {
		return attest.Reject(ReasonChallenge, "psa-nonce %x, want %x", nonce, challenge)
	}
	lc, err := t.Claims.GetSecurityLifeCycle()
	if err != nil {
		return attest.Reject(ReasonMalformed, "psa-security-lifecycle: %v", err)
	}
	if s := psatoken.LifeCycleToState(lc); s != psatoken.StateSecured {
		return attest.Reject(ReasonLifeCycle, "security lifecycle %#x (%s), want secured", lc, s)
	}
	comps, err := t.Claims.GetSoftwareComponents()
	if err != nil {
		return attest.Reject(ReasonMalformed, "psa-software-components: %v", err)
	}
	return CheckComponents(comps, e, ReasonMalformed, ReasonMeasurement)
}

// CheckComponents checks that comps are exactly e's components, each with
// its reference measurement (labelled ComponentLabel(i)); a component it
// cannot read is malformed, any other difference is measurement. CCA
// platform tokens report their components the same way.
func CheckComponents(comps []psatoken.ISwComponent, e parsectpm.Endorsement, malformed, measurement attest.Reason) error {
	got := map[string][]byte{}
	for _, c := range comps {
		label, err := c.GetMeasurementType()
		if err != nil {
			return attest.Reject(measurement, "a software component without a measurement type")
		}
		v, err := c.GetMeasurementValue()
		if err != nil {
			return attest.Reject(malformed, "component %q: %v", label, err)
		}
		if _, dup := got[label]; dup {
			return attest.Reject(measurement, "component %q reported twice", label)
		}
		got[label] = v
	}
	if len(got) != len(e.PCRSelection.PCRs) {
		return attest.Reject(measurement, "%d components reported, %d endorsed", len(got), len(e.PCRSelection.PCRs))
	}
	for _, i := range e.PCRSelection.PCRs {
		v, ok := got[ComponentLabel(i)]
		if !ok {
			return attest.Reject(measurement, "endorsed component %q not reported", ComponentLabel(i))
		}
		if !bytes.Equal(v, e.ReferencePCRs[i]) {
			return attest.Reject(measurement, "component %q measures %x, reference %x", ComponentLabel(i), v, e.ReferencePCRs[i])
		}
	}
	return nil
}
