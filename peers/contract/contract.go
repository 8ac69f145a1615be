// Package contract is the peer contract of peers/CONTRACT.md as Go types:
// the configuration a peer reads from its environment, the outcome line it
// prints, its exit codes, and the files the suite and peers exchange
// (endorsements, trusted verifiers, manifests). The suite, the drivers
// and the reference peer share it so they cannot drift apart.
package contract

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Version is the contract version this package speaks (ATLS_CONTRACT).
const Version = 1

// Exit codes of a peer.
const (
	ExitOK          = 0   // handshake and application data succeeded
	ExitFailed      = 1   // the connection failed
	ExitConfig      = 2   // bad configuration
	ExitTimeout     = 3   // ATLS_TIMEOUT passed
	ExitUnsupported = 127 // case, profile, model, TPM, verifier or misbehaviour not supported
)

// ExitName names an exit code for logs and reports; codes outside the
// contract are crashes.
func ExitName(code int) string {
	switch code {
	case ExitOK:
		return "ok"
	case ExitFailed:
		return "failed"
	case ExitConfig:
		return "bad-config"
	case ExitTimeout:
		return "timeout"
	case ExitUnsupported:
		return "unsupported"
	}
	return fmt.Sprintf("crash(%d)", code)
}

// ProbePrefix starts the test case ID of the start-up compliance probe.
const ProbePrefix = "conformance-probe-"

// ProbeCase returns a fresh, random compliance-probe case ID.
func ProbeCase() string {
	b := make([]byte, 8)
	rand.Read(b)
	return ProbePrefix + hex.EncodeToString(b)
}

// IsProbe reports whether a case ID is a compliance probe's.
func IsProbe(testcase string) bool { return strings.HasPrefix(testcase, ProbePrefix) }

// ErrUnsupported is wrapped by every error that calls for ExitUnsupported.
var ErrUnsupported = errors.New("unsupported")

// Unsupportedf returns an error wrapping ErrUnsupported.
func Unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// VarError is a missing or malformed variable: ExitConfig.
type VarError struct {
	Name string // e.g. "ATLS_ROLE"
	Err  error
}

func (e *VarError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *VarError) Unwrap() error { return e.Err }

func varErr(name, format string, args ...any) error {
	return &VarError{Name: name, Err: fmt.Errorf(format, args...)}
}

// ExitFor maps a configuration error (from FromEnv or a peer's own checks)
// to its exit code.
func ExitFor(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUnsupported):
		return ExitUnsupported
	}
	return ExitConfig
}

// Role is the side of the handshake a peer plays.
type Role string

const (
	Client Role = "client"
	Server Role = "server"
)

// Other is the opposite role.
func (r Role) Other() Role {
	if r == Client {
		return Server
	}
	return Client
}

// Attests says whether and how one side attests.
type Attests string

const (
	AttestsNone     Attests = "none"
	AttestsBG       Attests = "bg"
	AttestsPassport Attests = "passport"
)

// Credential says how one side's attestation travels.
type Credential string

const (
	X509            Credential = "x509"
	AttestationOnly Credential = "attestation-only"
)

// Misbehaviours the contract names (ATLS_MISBEHAVE). A peer implements
// those in its manifest and exits 127 for the rest.
const (
	SelectUnoffered          = "select-unoffered"           // server selects an evidence type, scheme or verifier not offered
	ShortNonce               = "short-nonce"                // a nonce shorter than the profile allows
	WrongChallenge           = "wrong-challenge"            // attestation bound to another challenge
	MalformedPayload         = "malformed-payload"          // bytes that are not a CMW where the attestation goes
	OmitPayload              = "omit-payload"               // negotiated attestation left out of Certificate
	Decline                  = "decline"                    // attester declines to attest
	OmitCertificateRequest   = "omit-certificate-request"   // server asks for client attestation without a CertificateRequest
	CorruptCertificateVerify = "corrupt-certificate-verify" // one bit of CertificateVerify flipped
	CorruptFinished          = "corrupt-finished"           // one bit of Finished flipped
	AppDataAfterAlert        = "app-data-after-alert"       // application data sent after a fatal alert (fail open)
	NoAlert                  = "no-alert"                   // connection closed without an alert on a fatal error
	AcceptAny                = "accept-any"                 // relying party accepts any attestation unappraised (fail open)
	LieInOutcome             = "lie-in-outcome"             // the outcome line reports the opposite of what happened
	PayloadNotFirstEntry     = "payload-not-first-entry"    // the attestation in the second CertificateEntry (the CA's, sent after the leaf), not the end-entity's
	EarlyDataOffer           = "early-data-offer"           // a client offers 0-RTT (early_data in ClientHello) on a connection in attestation's scope
)

// Misbehaviours lists the names above.
var Misbehaviours = []string{SelectUnoffered, ShortNonce, WrongChallenge, MalformedPayload, OmitPayload, Decline,
	OmitCertificateRequest, CorruptCertificateVerify, CorruptFinished, AppDataAfterAlert, NoAlert, AcceptAny, LieInOutcome,
	PayloadNotFirstEntry, EarlyDataOffer}
