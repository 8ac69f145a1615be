package tls13

import "golang.org/x/crypto/cryptobyte"

type newSessionTicketMsg struct {
	raw      []byte
	lifetime uint32
	ageAdd   uint32
	nonce    []byte
	ticket   []byte
	exts     []Extension
}

func (m *newSessionTicketMsg) marshal() ([]byte, error) {
	return marshalHandshake(typeNewSessionTicket, func(b *cryptobyte.Builder) {
		b.AddUint32(m.lifetime)
		b.AddUint32(m.ageAdd)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.nonce) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.ticket) })
		addExtensions(b, m.exts)
	})
}

func (m *newSessionTicketMsg) unmarshal(data []byte) error {
	*m = newSessionTicketMsg{raw: data}
	s, err := readHandshakeBody(data, typeNewSessionTicket)
	if err != nil {
		return err
	}
	var nonce, ticket cryptobyte.String
	if !s.ReadUint32(&m.lifetime) || !s.ReadUint32(&m.ageAdd) ||
		!s.ReadUint8LengthPrefixed(&nonce) || !s.ReadUint16LengthPrefixed(&ticket) || len(ticket) == 0 {
		return errDecode("NewSessionTicket")
	}
	m.nonce, m.ticket = []byte(nonce), []byte(ticket)
	if m.exts, err = readExtensions(&s); err != nil {
		return err
	}
	if !s.Empty() {
		return errDecode("NewSessionTicket trailing data")
	}
	return nil
}

type keyUpdateMsg struct {
	raw             []byte
	updateRequested bool
}

func (m *keyUpdateMsg) marshal() ([]byte, error) {
	return marshalHandshake(typeKeyUpdate, func(b *cryptobyte.Builder) {
		if m.updateRequested {
			b.AddUint8(1)
		} else {
			b.AddUint8(0)
		}
	})
}

func (m *keyUpdateMsg) unmarshal(data []byte) error {
	*m = keyUpdateMsg{raw: data}
	s, err := readHandshakeBody(data, typeKeyUpdate)
	if err != nil {
		return err
	}
	var v uint8
	if !s.ReadUint8(&v) || !s.Empty() {
		return errDecode("KeyUpdate")
	}
	if v > 1 { // RFC 8446 §4.6.3
		return Alertf(AlertIllegalParameter, "KeyUpdate request_update %d", v)
	}
	m.updateRequested = v == 1
	return nil
}
