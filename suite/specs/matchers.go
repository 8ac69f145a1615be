package specs

import (
	"crypto"
	"fmt"
	"strconv"
	"strings"

	"github.com/onsi/gomega/types"
	"github.com/veraison/ear"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness"
)

// resultMatcher is a GomegaMatcher over *harness.Result whose check returns
// why it does not match ("" when it does).
type resultMatcher struct {
	want  string
	check func(r *harness.Result) string
}

func (m resultMatcher) Match(actual any) (bool, error) {
	r, ok := actual.(*harness.Result)
	if !ok || r == nil {
		return false, fmt.Errorf("expected a *harness.Result, got %T", actual)
	}
	return m.check(r) == "", nil
}

func (m resultMatcher) FailureMessage(actual any) string {
	r := actual.(*harness.Result)
	return fmt.Sprintf("expected the connection to %s, but %s\n%s", m.want, m.check(r), r.Describe())
}

func (m resultMatcher) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("expected the connection not to %s\n%s", m.want, actual.(*harness.Result).Describe())
}

// AbortWith matches a run in which sender sent the fatal alert code and its
// peer received exactly that alert: on the wire, in both directions'
// view. The receiver may see it in its handshake or, for a client whose
// handshake was already over, in its first read.
func AbortWith(code tls13.AlertCode, sender Endpoint) types.GomegaMatcher {
	return resultMatcher{
		want: fmt.Sprintf("abort with %s (%d) sent by the %s", code, uint8(code), sender),
		check: func(r *harness.Result) string {
			if why := alertSeen(r.Failure(bool(sender)), code, true); why != "" {
				return fmt.Sprintf("the %s (sender) %s", sender, why)
			}
			if why := alertSeen(r.Failure(bool(sender.Other())), code, false); why != "" {
				return fmt.Sprintf("the %s (receiver) %s", sender.Other(), why)
			}
			return ""
		},
	}
}

func alertSeen(err error, code tls13.AlertCode, sent bool) string {
	if err == nil {
		return "saw no error"
	}
	got, gotSent, ok := harness.Alert(err)
	switch {
	case !ok:
		return fmt.Sprintf("saw no alert: %v", err)
	case gotSent && !sent:
		return fmt.Sprintf("sent %s instead of receiving it: %v", got, err)
	case !gotSent && sent:
		return fmt.Sprintf("received %s instead of sending it: %v", got, err)
	case got != code:
		return fmt.Sprintf("saw %s (%d), not %s (%d): %v", got, uint8(got), code, uint8(code), err)
	}
	return ""
}

// FailClosed matches a failed run in which no application data reached
// either side.
func FailClosed() types.GomegaMatcher {
	return resultMatcher{
		want: "fail closed",
		check: func(r *harness.Result) string {
			switch {
			case r.Failure(true) == nil && r.Failure(false) == nil:
				return "neither side failed"
			case r.ClientGot != "" || r.ServerGot != "":
				return fmt.Sprintf("application data flowed (client got %q, server got %q)", r.ClientGot, r.ServerGot)
			}
			return ""
		},
	}
}

// ExchangeApplicationData matches a run in which both handshakes succeeded
// and the ping and pong arrived intact.
func ExchangeApplicationData() types.GomegaMatcher {
	return resultMatcher{
		want: "complete both handshakes and exchange application data",
		check: func(r *harness.Result) string {
			switch {
			case r.ClientErr != nil || r.ServerErr != nil:
				return "a handshake failed"
			case r.ServerGot != harness.Ping:
				return fmt.Sprintf("the server read %q", r.ServerGot)
			case r.ClientGot != harness.Pong:
				return fmt.Sprintf("the client read %q", r.ClientGot)
			}
			return ""
		},
	}
}

// AcceptAttestationOf matches the tls13.ConnectionState of a relying party
// that recorded an accepted, affirming attestation of key.
func AcceptAttestationOf(key crypto.PublicKey) types.GomegaMatcher {
	return outcomeMatcher{key: key}
}

type outcomeMatcher struct{ key crypto.PublicKey }

func (m outcomeMatcher) why(cs tls13.ConnectionState) string {
	o, ok := party.PeerOutcome(cs)
	switch {
	case !ok:
		return "no outcome was recorded"
	case o.Result == nil:
		return fmt.Sprintf("the attestation was not accepted (reason %q: %s)", o.Reason, o.Err)
	case o.Reason != "":
		return fmt.Sprintf("an accepted result carries reason %q", o.Reason)
	case o.Result.Status != ear.TrustTierAffirming:
		return fmt.Sprintf("the result's status is %s", o.Result.Status)
	}
	k, ok := o.Result.AttestedKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !k.Equal(m.key) {
		return fmt.Sprintf("the attested key %v is not the attester's identity key", o.Result.AttestedKey)
	}
	return ""
}

func (m outcomeMatcher) Match(actual any) (bool, error) {
	cs, ok := actual.(tls13.ConnectionState)
	if !ok {
		return false, fmt.Errorf("expected a tls13.ConnectionState, got %T", actual)
	}
	return m.why(cs) == "", nil
}

func (m outcomeMatcher) FailureMessage(actual any) string {
	return "expected an accepted, affirming attestation of the attester's key, but " + m.why(actual.(tls13.ConnectionState))
}

func (m outcomeMatcher) NegatedFailureMessage(any) string {
	return "expected no accepted attestation of the attester's key"
}

// Verdict is why a relying party rejected its peer's attestation.
type Verdict struct {
	// Reason is the relying party's reason code (party.Outcome.Reason).
	Reason attest.Reason
	// Problem is, when Reason is attest.ReasonStatus, what the verifier's
	// result says is wrong: the reason code the in-process verifier's
	// problem starts with, or a problem without one (Veraison's) whole;
	// "" when the rejection carries no problem.
	Problem string
	// Detail, if set, must appear in the rejection's message (a verifier
	// failure names no reason code, only its error).
	Detail string
}

func (v Verdict) String() string {
	s := string(v.Reason)
	if v.Problem != "" {
		s += fmt.Sprintf(" (problem %q)", v.Problem)
	}
	if v.Detail != "" {
		s += fmt.Sprintf(" mentioning %q", v.Detail)
	}
	return s
}

// RejectAttestationFor matches the tls13.ConnectionState of a relying
// party that rejected its peer's attestation for exactly the verdict want:
// the same reason code and, for a result it rejected, the same problem.
func RejectAttestationFor(want Verdict) types.GomegaMatcher {
	return verdictMatcher{want: want}
}

type verdictMatcher struct{ want Verdict }

func (m verdictMatcher) why(cs tls13.ConnectionState) string {
	o, ok := party.PeerOutcome(cs)
	switch {
	case !ok:
		return "no appraisal was recorded"
	case o.Reason == "":
		return "the attestation was accepted"
	}
	got := Verdict{Reason: o.Reason, Problem: problemOf(o)}
	if got.Reason != m.want.Reason || got.Problem != m.want.Problem {
		return fmt.Sprintf("it was rejected for %s: %s", got, o.Err)
	}
	if !strings.Contains(o.Err, m.want.Detail) {
		return fmt.Sprintf("its rejection does not mention %q: %s", m.want.Detail, o.Err)
	}
	return ""
}

// problemOf is the problem of the result a relying party rejected for its
// status, as the policy's rejection quotes it, cut to its reason code when
// it starts with one ("parsec-tpm.pcr-digest: ..."); "" for other reasons.
func problemOf(o party.Outcome) string {
	if o.Reason != attest.ReasonStatus {
		return ""
	}
	const marker = "(problem "
	i := strings.Index(o.Err, marker)
	if i < 0 {
		return ""
	}
	quoted, err := strconv.QuotedPrefix(o.Err[i+len(marker):])
	if err != nil {
		return ""
	}
	p, _ := strconv.Unquote(quoted)
	if code, _, ok := strings.Cut(p, ": "); ok && !strings.ContainsAny(code, " \t") {
		return code
	}
	return p
}

func (m verdictMatcher) Match(actual any) (bool, error) {
	cs, ok := actual.(tls13.ConnectionState)
	if !ok {
		return false, fmt.Errorf("expected a tls13.ConnectionState, got %T", actual)
	}
	return m.why(cs) == "", nil
}

func (m verdictMatcher) FailureMessage(actual any) string {
	return fmt.Sprintf("expected the attestation to be rejected for %s, but %s", m.want, m.why(actual.(tls13.ConnectionState)))
}

func (m verdictMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("expected the attestation not to be rejected for %s", m.want)
}
