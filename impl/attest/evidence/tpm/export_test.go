package tpm

import (
	"context"
	"crypto"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
)

// SameLink reports whether two attesters share one connection to their
// TPM, for the external tests.
func SameLink(a, b *Attester) bool { return a.l == b.l }

// Loaded is how many objects the attester's TPM link has loaded, and how
// many it may.
func Loaded(a *Attester) (n, max int) { return len(a.l.loaded), objectSlots }

// Command is one TPM command of the attested handshake, run on its own.
type Command struct {
	Name string
	Run  func(ctx context.Context) error
}

// Commands are the attester's TPM commands with its keys loaded:
// TPM2_Certify and TPM2_Quote over qd (the evidence) and TPM2_Sign of qd
// (CertificateVerify).
func Commands(a *Attester, qd []byte) ([]Command, error) {
	sel, err := parsectpm.PCRSelection{Hash: crypto.SHA256, PCRs: DefaultPCRs}.TPMLPCRSelection()
	if err != nil {
		return nil, err
	}
	on := func(f func(s *session) error) func(context.Context) error {
		return func(ctx context.Context) error { return a.l.with(ctx, f) }
	}
	return []Command{
		{"TPM2_Certify", on(func(s *session) error { _, _, err := a.certify(s, a.tik, qd); return err })},
		{"TPM2_Quote", on(func(s *session) error { _, _, err := a.quote(s, sel, qd); return err })},
		{"TPM2_Sign", func(context.Context) error { _, err := a.Identity().Sign(nil, qd, crypto.SHA256); return err }},
	}, nil
}

// Retries is how often the attester's link has retried a command.
func Retries(a *Attester) int64 { return a.l.retries.Load() }

// Sent is how many commands the attester's link has sent to its TPM.
func Sent(a *Attester) int64 { return a.l.sent.Load() }

// Busy is how long the attester's link has waited on its TPM: command
// round trips, the TPM's execution included.
func Busy(a *Attester) time.Duration { return time.Duration(a.l.busy.Load()) }
