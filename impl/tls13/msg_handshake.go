package tls13

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// handshakeMessage is one of the msg types below. marshal returns the whole
// message including its 4-byte header, or an internal_error *AlertError
// naming the message when a field does not fit its length prefix (a hook's
// or a Bugs extension can be longer than 2^16-1 bytes); unmarshal takes the
// same bytes.
type handshakeMessage interface {
	marshal() ([]byte, error)
	unmarshal(data []byte) error
}

var messageNames = map[uint8]string{
	typeClientHello: "ClientHello", typeServerHello: "ServerHello",
	typeNewSessionTicket: "NewSessionTicket", typeEndOfEarlyData: "EndOfEarlyData",
	typeEncryptedExtensions: "EncryptedExtensions", typeCertificate: "Certificate",
	typeCertificateRequest: "CertificateRequest", typeCertificateVerify: "CertificateVerify",
	typeFinished: "Finished", typeKeyUpdate: "KeyUpdate", typeMessageHash: "message_hash",
	typeClientCertificateRequest: "ClientCertificateRequest",
}

// messageName is the RFC 8446 name of a handshake message type.
func messageName(typ uint8) string {
	if n, ok := messageNames[typ]; ok {
		return n
	}
	return fmt.Sprintf("handshake message %d", typ)
}

// marshalHandshake encodes a message with its header.
func marshalHandshake(typ uint8, body func(b *cryptobyte.Builder)) ([]byte, error) {
	return marshalNamed(typ, messageName(typ), body)
}

// marshalNamed is marshalHandshake for a message whose name is not its
// type's (a HelloRetryRequest), so that errors name it.
func marshalNamed(typ uint8, name string, body func(b *cryptobyte.Builder)) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(typ)
	b.AddUint24LengthPrefixed(body)
	raw, err := b.Bytes()
	if err != nil {
		return nil, Alertf(AlertInternalError, "cannot encode %s: %v", name, err)
	}
	return raw, nil
}

// readHandshakeBody checks the header of a complete message and returns its body.
func readHandshakeBody(data []byte, typ uint8) (cryptobyte.String, error) {
	s := cryptobyte.String(data)
	var t uint8
	var body cryptobyte.String
	if !s.ReadUint8(&t) || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		return nil, errDecode("handshake header")
	}
	if t != typ {
		return nil, Alertf(AlertUnexpectedMessage, "message type %d, want %d", t, typ)
	}
	return body, nil
}

// newHandshakeMessage returns an empty message of the given type, or nil.
func newHandshakeMessage(typ uint8) handshakeMessage {
	switch typ {
	case typeClientHello:
		return new(clientHelloMsg)
	case typeServerHello:
		return new(serverHelloMsg)
	case typeEncryptedExtensions:
		return new(encryptedExtensionsMsg)
	case typeCertificateRequest:
		return new(certificateRequestMsg)
	case typeCertificate:
		return new(certificateMsg)
	case typeCertificateVerify:
		return new(certificateVerifyMsg)
	case typeFinished:
		return new(finishedMsg)
	case typeNewSessionTicket:
		return new(newSessionTicketMsg)
	case typeKeyUpdate:
		return new(keyUpdateMsg)
	}
	return nil
}

// ParseHandshakeMessage decodes one complete handshake message, as the
// engine would on receipt, and reports the alert it would send. It exists
// for fuzzing and for parser test vectors.
func ParseHandshakeMessage(data []byte) error {
	if len(data) < 1 {
		return errDecode("handshake header")
	}
	m := newHandshakeMessage(data[0])
	if m == nil {
		return Alertf(AlertUnexpectedMessage, "unknown handshake message type %d", data[0])
	}
	return m.unmarshal(data)
}
