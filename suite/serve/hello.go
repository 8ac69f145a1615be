package serve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Record and message numbers of RFC 8446 a ClientHello is read by.
const (
	recordHandshake   = 22
	msgClientHello    = 1
	extServerName     = 0
	serverNameHost    = 0
	maxRecordPlain    = 1 << 14
	maxClientHelloLen = 1 << 16
)

// readClientHello reads the first handshake message off c, record by
// record, until deadline: a client that sends it slowly or not at all
// (slowloris, half-open) is cut off there. It returns every byte read,
// to be replayed to the engine, and the ClientHello's server name.
func readClientHello(c net.Conn, deadline time.Time) (raw []byte, sni string, err error) {
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	var msg []byte
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return raw, "", fmt.Errorf("reading a TLS record: %w", err)
		}
		raw = append(raw, hdr...)
		if hdr[0] != recordHandshake {
			return raw, "", fmt.Errorf("not TLS: the first record has type %d, want handshake (22)", hdr[0])
		}
		n := int(binary.BigEndian.Uint16(hdr[3:5]))
		if n == 0 || n > maxRecordPlain {
			return raw, "", fmt.Errorf("a handshake record of %d bytes", n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			return raw, "", fmt.Errorf("reading a TLS record: %w", err)
		}
		raw, msg = append(raw, body...), append(msg, body...)
		if len(msg) < 4 {
			continue
		}
		if msg[0] != msgClientHello {
			return raw, "", fmt.Errorf("the first handshake message has type %d, want ClientHello (1)", msg[0])
		}
		want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
		if want > maxClientHelloLen {
			return raw, "", fmt.Errorf("a ClientHello of %d bytes", want)
		}
		if len(msg) >= want {
			sni, err := ServerName(msg[:want])
			return raw, sni, err
		}
	}
}

// ServerName is the host name of a ClientHello's server_name extension
// (RFC 6066 §3), "" if it has none. msg is the whole handshake message,
// its 4-byte header included.
func ServerName(msg []byte) (string, error) {
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || typ != msgClientHello || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		return "", errors.New("not one ClientHello")
	}
	var random, sessionID, suites, methods cryptobyte.String
	var version uint16
	if !body.ReadUint16(&version) || !body.ReadBytes((*[]byte)(&random), 32) ||
		!body.ReadUint8LengthPrefixed(&sessionID) || !body.ReadUint16LengthPrefixed(&suites) ||
		!body.ReadUint8LengthPrefixed(&methods) {
		return "", errors.New("a malformed ClientHello")
	}
	if body.Empty() {
		return "", nil // no extensions
	}
	var exts cryptobyte.String
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return "", errors.New("a ClientHello with malformed extensions")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return "", errors.New("a ClientHello with malformed extensions")
		}
		if typ != extServerName {
			continue
		}
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
			return "", errors.New("a malformed server_name extension")
		}
		for !list.Empty() {
			var kind uint8
			var name cryptobyte.String
			if !list.ReadUint8(&kind) || !list.ReadUint16LengthPrefixed(&name) {
				return "", errors.New("a malformed server_name extension")
			}
			if kind == serverNameHost {
				return string(name), nil
			}
		}
		return "", nil
	}
	return "", nil
}
