package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Outcome is the JSON object a peer prints as the last line of stdout.
type Outcome struct {
	Contract      int         `json:"contract"`
	TestCase      string      `json:"testcase"`
	Role          Role        `json:"role"`
	Profile       string      `json:"profile"`
	Handshake     string      `json:"handshake"` // HandshakeOK, HandshakeFailed or HandshakeNone
	AppData       string      `json:"app_data"`  // AppDataOK or AppDataNone
	AlertSent     *Alert      `json:"alert_sent"`
	AlertReceived *Alert      `json:"alert_received"`
	Negotiated    *Negotiated `json:"negotiated"`
	Verdict       *Verdict    `json:"verdict"` // nil unless the peer was a relying party
	Error         string      `json:"error"`
}

// Values of Outcome.Handshake and Outcome.AppData.
const (
	HandshakeOK     = "ok"
	HandshakeFailed = "failed"
	HandshakeNone   = "none" // not attempted (unsupported case, bad configuration)
	AppDataOK       = "ok"
	AppDataNone     = "none"
)

// Alert is an alert on the wire.
type Alert struct {
	Code int    `json:"code"`
	Name string `json:"name"`
}

// Negotiated is what the handshake settled.
type Negotiated struct {
	CipherSuite string `json:"cipher_suite"`
	// ServerAttestation and ClientAttestation describe each direction's
	// negotiated attestation ("bg: <evidence type>", "passport: <verifier>"),
	// nil when none was negotiated.
	ServerAttestation *string `json:"server_attestation"`
	ClientAttestation *string `json:"client_attestation"`
}

// Verdict is a relying party's judgement of the peer's attestation.
type Verdict struct {
	Status string `json:"status"` // affirming, warning, contraindicated, none
	Reason string `json:"reason"` // e.g. "nonce.mismatch" when rejected
}

// Verdict statuses.
var verdictStatuses = map[string]bool{"affirming": true, "warning": true, "contraindicated": true, "none": true}

// Print writes the outcome as one line.
func (o Outcome) Print(w io.Writer) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// MaxOutcomeLine bounds the outcome line a parser accepts: a peer that
// floods stdout does not make the suite buffer it twice.
const MaxOutcomeLine = 64 << 10

// ParseOutcome finds the outcome in a peer's stdout (its last non-empty
// line) and validates it. Unknown fields are ignored.
func ParseOutcome(stdout []byte) (Outcome, error) {
	var o Outcome
	line := lastLine(stdout)
	if len(line) == 0 {
		return o, errors.New("contract: no outcome line on stdout")
	}
	if len(line) > MaxOutcomeLine {
		return o, fmt.Errorf("contract: outcome line of %d bytes (limit %d)", len(line), MaxOutcomeLine)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&o); err != nil {
		return Outcome{}, fmt.Errorf("contract: outcome line is not a JSON object: %w", err)
	}
	if dec.More() {
		return Outcome{}, errors.New("contract: trailing data after the outcome object")
	}
	if err := o.validate(); err != nil {
		return Outcome{}, err
	}
	return o, nil
}

func lastLine(b []byte) []byte {
	b = bytes.TrimRight(b, " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return bytes.TrimSpace(b)
}

func (o Outcome) validate() error {
	switch {
	case o.Contract != Version:
		return fmt.Errorf("contract: outcome speaks contract %d, want %d", o.Contract, Version)
	case o.Role != Client && o.Role != Server:
		return fmt.Errorf("contract: outcome role %q", o.Role)
	case o.Handshake != HandshakeOK && o.Handshake != HandshakeFailed && o.Handshake != HandshakeNone:
		return fmt.Errorf("contract: outcome handshake %q", o.Handshake)
	case o.AppData != AppDataOK && o.AppData != AppDataNone:
		return fmt.Errorf("contract: outcome app_data %q", o.AppData)
	case o.AppData == AppDataOK && o.Handshake != HandshakeOK:
		return errors.New("contract: outcome has application data without a handshake")
	case o.Verdict != nil && !verdictStatuses[o.Verdict.Status]:
		return fmt.Errorf("contract: outcome verdict status %q", o.Verdict.Status)
	}
	for _, a := range []*Alert{o.AlertSent, o.AlertReceived} {
		if a != nil && (a.Code < 0 || a.Code > 255) {
			return fmt.Errorf("contract: alert code %d", a.Code)
		}
	}
	return nil
}
