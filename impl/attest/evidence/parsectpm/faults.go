package parsectpm

import (
	"crypto"

	"github.com/attested-tls/conformance/impl/attest"
)

// Faults makes an attester misbehave, one documented way per field, for
// tests that check a relying party notices. The zero value is correct
// behaviour. Every Parsec TPM attester (software, TPM) honours every
// field but one: a TPM does not make NotSensitiveDataOrigin keys. The PSA
// and CCA attesters, whose evidence binds the TLS key through its
// challenge, honour them as their tokens can (Bind): QuotePCRs are their
// software components, CertifyOtherKey binds another key, UnendorsedKey
// signs with another IAK; the key-residency faults they cannot express.
type Faults struct {
	// QualifyingData, when non-nil, is put in both tokens instead of the
	// challenge's (a stale or foreign nonce or binder).
	QualifyingData []byte
	// QuotePCRs, when non-empty, is the selection the PAT quotes instead
	// of the endorsed one.
	QuotePCRs []int
	// CertifyOtherKey makes the KAT certify another key than the TLS
	// identity key.
	CertifyOtherKey bool
	// UnendorsedKey signs both tokens with an attestation key the
	// verifier was never given (the kid is unchanged).
	UnendorsedKey bool
	// NotFixedTPM makes the certified key duplicable out of the TPM
	// (fixedTPM clear). A TPM makes its identity key that way when it is
	// opened, so there it takes effect only in the attester's Config.
	NotFixedTPM bool
	// NotSensitiveDataOrigin makes the certified key one imported into
	// the TPM rather than generated there (sensitiveDataOrigin clear).
	// Only the software attester makes it; a TPM's keys are made by
	// TPM2_Create, which sets it.
	NotSensitiveDataOrigin bool
}

// Attester is an attester of this format that tests can drive: its
// evidence, the endorsement a verifier is provisioned with, its measured
// boot (PCR selection and extension) and its faults.
type Attester interface {
	attest.Attester
	Endorsement() Endorsement
	Select(pcrs ...int) error
	Extend(pcr int, data []byte) error
	SetFaults(Faults)
}

// Bind is the challenge an attester whose evidence names no key (a PSA or
// CCA token, which binds the TLS key through its challenge) answers with
// these faults: the fault's qualifying data instead of ch's, and its own
// TLS key tik, or other for CertifyOtherKey, whenever ch names one.
func (f Faults) Bind(ch attest.Challenge, tik, other crypto.PublicKey) attest.Challenge {
	if f.QualifyingData != nil {
		ch.Nonce, ch.Binder = f.QualifyingData, nil
	}
	if ch.TIK != nil {
		ch.TIK = tik
		if f.CertifyOtherKey {
			ch.TIK = other
		}
	}
	return ch
}
