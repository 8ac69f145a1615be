package tls13

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"io"
)

// halfConn is one direction's record protection.
type halfConn struct {
	suite  *cipherSuite
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
	secret []byte
}

// setTrafficSecret installs keys derived from secret (RFC 8446 §7.3);
// keyName prefixes the key and IV in the trace.
func (hc *halfConn) setTrafficSecret(c *Conn, suite *cipherSuite, secret []byte, keyName string) {
	key := ExpandLabel(suite.hash, secret, "key", nil, suite.keyLen)
	iv := ExpandLabel(suite.hash, secret, "iv", nil, 12)
	c.secret(keyName+"_write_key", key)
	c.secret(keyName+"_write_iv", iv)
	aead, err := suite.aead(key)
	if err != nil {
		panic("tls13: AEAD setup: " + err.Error()) // key length is fixed per suite
	}
	hc.suite, hc.aead, hc.iv, hc.seq, hc.secret = suite, aead, iv, 0, secret
}

func (hc *halfConn) nonce() []byte {
	n := make([]byte, 12)
	copy(n, hc.iv)
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], hc.seq)
	for i := range 8 {
		n[4+i] ^= seq[i]
	}
	return n
}

// seal protects one record's plaintext of the given inner type.
func (hc *halfConn) seal(typ uint8, data []byte) []byte {
	if hc.aead == nil {
		rec := make([]byte, recordHeaderLen, recordHeaderLen+len(data))
		rec[0], rec[1], rec[2] = typ, 0x03, 0x03
		binary.BigEndian.PutUint16(rec[3:], uint16(len(data)))
		return append(rec, data...)
	}
	inner := append(append([]byte(nil), data...), typ)
	n := len(inner) + hc.aead.Overhead()
	hdr := []byte{recordApplicationData, 0x03, 0x03, byte(n >> 8), byte(n)}
	rec := hc.aead.Seal(hdr, hc.nonce(), inner, hdr)
	hc.seq++
	return rec
}

// open removes protection from a record, returning the inner type and plaintext.
func (hc *halfConn) open(rec []byte) (uint8, []byte, error) {
	typ, payload := rec[0], rec[recordHeaderLen:]
	if hc.aead == nil {
		return typ, payload, nil
	}
	if typ == recordChangeCipherSpec {
		return typ, payload, nil // unprotected in TLS 1.3 middlebox compatibility mode
	}
	if typ != recordApplicationData {
		return 0, nil, Alertf(AlertUnexpectedMessage, "unprotected record of type %d after keys changed", typ)
	}
	plain, err := hc.aead.Open(nil, hc.nonce(), payload, rec[:recordHeaderLen])
	if err != nil {
		return 0, nil, Alertf(AlertBadRecordMAC, "record authentication failed")
	}
	hc.seq++
	// Strip zero padding; the last non-zero byte is the content type.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, Alertf(AlertUnexpectedMessage, "record with no content type")
	}
	if plain[i] == recordChangeCipherSpec { // RFC 8446 §5: never protected
		return 0, nil, Alertf(AlertUnexpectedMessage, "protected change_cipher_spec")
	}
	if i > maxPlaintext {
		return 0, nil, Alertf(AlertRecordOverflow, "record plaintext of %d bytes", i)
	}
	return plain[i], plain[:i], nil
}

// readRecord reads one whole record from the wire.
func (c *Conn) readRecord() ([]byte, error) {
	hdr := make([]byte, recordHeaderLen)
	if _, err := io.ReadFull(c.conn, hdr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, Alertf(AlertDecodeError, "truncated record header")
		}
		return nil, err
	}
	typ, n := hdr[0], int(binary.BigEndian.Uint16(hdr[3:]))
	if typ < recordChangeCipherSpec || typ > recordApplicationData {
		return nil, Alertf(AlertUnexpectedMessage, "record of unknown type %d", typ)
	}
	// legacy_record_version "MUST be ignored for all purposes" (RFC 8446 §5.1).
	limit := maxCiphertext
	if c.in.aead == nil {
		limit = maxPlaintext
	}
	if n > limit {
		return nil, Alertf(AlertRecordOverflow, "record of %d bytes", n)
	}
	rec := make([]byte, recordHeaderLen+n)
	copy(rec, hdr)
	if _, err := io.ReadFull(c.conn, rec[recordHeaderLen:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, Alertf(AlertDecodeError, "truncated record")
		}
		return nil, err
	}
	if c.config.Trace != nil {
		c.config.Trace.Record(false, rec)
	}
	return rec, nil
}

// writeRecords sends data as records of type typ, fragmented to the limit.
func (c *Conn) writeRecords(typ uint8, data []byte) error {
	var out []byte
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), maxPlaintext)
		rec := c.out.seal(typ, data[:n])
		if typ == recordApplicationData {
			c.traceAppData(true, data[:n])
		}
		data = data[n:]
		if c.config.Trace != nil {
			c.config.Trace.Record(true, rec)
		}
		out = append(out, rec...)
	}
	_, err := c.conn.Write(out)
	return err
}

// writeRecord sends one record built by the caller, as it is.
func (c *Conn) writeRecord(rec []byte) error {
	if c.config.Trace != nil {
		c.config.Trace.Record(true, rec)
	}
	_, err := c.conn.Write(rec)
	return err
}

// plainCCS is a change_cipher_spec record carrying v, in the clear: RFC
// 8446 §5 has it never protected, whatever keys are installed.
func plainCCS(v uint8) []byte {
	return (&halfConn{}).seal(recordChangeCipherSpec, []byte{v})
}

// writeCompatCCS sends the dummy change_cipher_spec of RFC 8446 D.4 after
// what is queued, as Bugs allow.
func (c *Conn) writeCompatCCS() error {
	b := &c.config.Bugs
	if b.SkipChangeCipherSpec {
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	v := uint8(1)
	if b.ChangeCipherSpecValue != 0 {
		v = b.ChangeCipherSpecValue
	}
	if b.DuplicateChangeCipherSpec {
		if err := c.writeRecord(plainCCS(v)); err != nil {
			return err
		}
	}
	return c.writeRecord(plainCCS(v))
}

// protectedCCSBug sends, if Bugs ask, a change_cipher_spec under the keys
// of our encrypted flight, which it must start.
func (c *Conn) protectedCCSBug() error {
	if !c.config.Bugs.ProtectedChangeCipherSpec {
		return nil
	}
	return c.writeRecords(recordChangeCipherSpec, []byte{1})
}

// lateCCSBug sends, if Bugs ask, a change_cipher_spec in the clear after
// our Finished, which must have been flushed.
func (c *Conn) lateCCSBug() error {
	if !c.config.Bugs.ChangeCipherSpecAfterFinished {
		return nil
	}
	return c.writeRecord(plainCCS(1))
}
