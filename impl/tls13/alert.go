package tls13

import (
	"errors"
	"fmt"
	"sync"
)

// AlertCode is a TLS alert description (RFC 8446 §6). Codes the attestation
// drafts leave TBD are not defined here: the engine carries any code a hook
// returns, so this package never learns them.
type AlertCode uint8

// Alerts of RFC 8446 §6 and RFC 7250.
const (
	AlertCloseNotify                  AlertCode = 0
	AlertUnexpectedMessage            AlertCode = 10
	AlertBadRecordMAC                 AlertCode = 20
	AlertRecordOverflow               AlertCode = 22
	AlertHandshakeFailure             AlertCode = 40
	AlertBadCertificate               AlertCode = 42
	AlertUnsupportedCertificate       AlertCode = 43
	AlertCertificateRevoked           AlertCode = 44
	AlertCertificateExpired           AlertCode = 45
	AlertCertificateUnknown           AlertCode = 46
	AlertIllegalParameter             AlertCode = 47
	AlertUnknownCA                    AlertCode = 48
	AlertAccessDenied                 AlertCode = 49
	AlertDecodeError                  AlertCode = 50
	AlertDecryptError                 AlertCode = 51
	AlertProtocolVersion              AlertCode = 70
	AlertInsufficientSecurity         AlertCode = 71
	AlertInternalError                AlertCode = 80
	AlertInappropriateFallback        AlertCode = 86
	AlertUserCanceled                 AlertCode = 90
	AlertMissingExtension             AlertCode = 109
	AlertUnsupportedExtension         AlertCode = 110
	AlertUnrecognizedName             AlertCode = 112
	AlertBadCertificateStatusResponse AlertCode = 113
	AlertUnknownPSKIdentity           AlertCode = 115
	AlertCertificateRequired          AlertCode = 116
	AlertNoApplicationProtocol        AlertCode = 120
)

var alertNames = map[AlertCode]string{
	AlertCloseNotify: "close_notify", AlertUnexpectedMessage: "unexpected_message",
	AlertBadRecordMAC: "bad_record_mac", AlertRecordOverflow: "record_overflow",
	AlertHandshakeFailure: "handshake_failure", AlertBadCertificate: "bad_certificate",
	AlertUnsupportedCertificate: "unsupported_certificate", AlertCertificateRevoked: "certificate_revoked",
	AlertCertificateExpired: "certificate_expired", AlertCertificateUnknown: "certificate_unknown",
	AlertIllegalParameter: "illegal_parameter", AlertUnknownCA: "unknown_ca",
	AlertAccessDenied: "access_denied", AlertDecodeError: "decode_error",
	AlertDecryptError: "decrypt_error", AlertProtocolVersion: "protocol_version",
	AlertInsufficientSecurity: "insufficient_security", AlertInternalError: "internal_error",
	AlertInappropriateFallback: "inappropriate_fallback", AlertUserCanceled: "user_canceled",
	AlertMissingExtension: "missing_extension", AlertUnsupportedExtension: "unsupported_extension",
	AlertUnrecognizedName: "unrecognized_name", AlertBadCertificateStatusResponse: "bad_certificate_status_response",
	AlertUnknownPSKIdentity: "unknown_psk_identity", AlertCertificateRequired: "certificate_required",
	AlertNoApplicationProtocol: "no_application_protocol",
}

var alertNamesMu sync.RWMutex

// RegisterAlertName names a code defined outside RFC 8446 (for example by an
// attestation draft) so errors and traces print it by name. Safe to call
// while connections run.
func RegisterAlertName(code AlertCode, name string) {
	alertNamesMu.Lock()
	defer alertNamesMu.Unlock()
	alertNames[code] = name
}

func (a AlertCode) String() string {
	alertNamesMu.RLock()
	n, ok := alertNames[a]
	alertNamesMu.RUnlock()
	if ok {
		return n
	}
	return fmt.Sprintf("alert(%d)", uint8(a))
}

// AlertError is a fatal error that is, or was, an alert on the wire.
// Sent reports the direction: true when we sent it, false when the peer did.
// Err, when set, says why we sent it.
type AlertError struct {
	Code AlertCode
	Sent bool
	Err  error
	// Name is the code's name on the connection that sent or received
	// it (Config.AlertNames); "" falls back to Code.String.
	Name string

	received bool // the peer sent it: never answered with an alert
}

func (e *AlertError) name() string {
	if e.Name != "" {
		return e.Name
	}
	return e.Code.String()
}

func (e *AlertError) Error() string {
	dir := "received"
	switch {
	case e.Sent:
		dir = "sent"
	case !e.received:
		return fmt.Sprintf("tls13: %s: %v", e.name(), e.Err) // not yet on the wire
	}
	if e.Err != nil {
		return fmt.Sprintf("tls13: %s alert %s: %v", dir, e.name(), e.Err)
	}
	return fmt.Sprintf("tls13: %s alert %s", dir, e.name())
}

func (e *AlertError) Unwrap() error { return e.Err }

// Alertf returns an error that makes the engine abort with code. Parsers and
// hooks return it; the engine sets Sent when the alert goes out.
func Alertf(code AlertCode, format string, args ...any) error {
	return &AlertError{Code: code, Err: fmt.Errorf(format, args...)}
}

// AsAlert reports the alert carried by err, if any.
func AsAlert(err error) (*AlertError, bool) {
	var ae *AlertError
	if errors.As(err, &ae) {
		return ae, true
	}
	return nil, false
}
