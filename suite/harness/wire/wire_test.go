package wire

import (
	"bytes"
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
	"golang.org/x/crypto/cryptobyte"
)

func handshake(t uint8, body func(b *cryptobyte.Builder)) Message {
	var b cryptobyte.Builder
	b.AddUint8(t)
	b.AddUint24LengthPrefixed(body)
	return Message(b.BytesOrPanic())
}

func addExtensions(b *cryptobyte.Builder, exts []tls13.Extension) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.Type)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
		}
	})
}

func clientHello(exts []tls13.Extension) Message {
	return handshake(ClientHello, func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(make([]byte, 32))
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte{1, 2}) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x1301) })
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
		addExtensions(b, exts)
	})
}

func certificate(entries []tls13.CertificateEntry) Message {
	return handshake(Certificate, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(*cryptobyte.Builder) {})
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range entries {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
				addExtensions(b, e.Extensions)
			}
		})
	})
}

var sample = []tls13.Extension{{Type: 0xFFA0, Data: []byte("request")}, {Type: 43, Data: []byte{2, 3, 4}}, {Type: 0xFFA1}}

func TestExtensions(t *testing.T) {
	for name, m := range map[string]Message{
		"ClientHello":         clientHello(sample),
		"EncryptedExtensions": handshake(EncryptedExtensions, func(b *cryptobyte.Builder) { addExtensions(b, sample) }),
		"CertificateRequest": handshake(CertificateRequest, func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(*cryptobyte.Builder) {})
			addExtensions(b, sample)
		}),
	} {
		exts, err := m.Extensions()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(exts) != len(sample) {
			t.Fatalf("%s: %d extensions, want %d", name, len(exts), len(sample))
		}
		for i := range exts {
			if exts[i].Type != sample[i].Type || !bytes.Equal(exts[i].Data, sample[i].Data) {
				t.Errorf("%s: extension %d = %+v, want %+v", name, i, exts[i], sample[i])
			}
		}
		if d, ok := m.Extension(43); !ok || !bytes.Equal(d, []byte{2, 3, 4}) {
			t.Errorf("%s: Extension(43) = %x, %v", name, d, ok)
		}
		if _, ok := m.Extension(44); ok {
			t.Errorf("%s: Extension(44) found", name)
		}
	}
}

func TestMalformed(t *testing.T) {
	ch := clientHello(sample)
	for name, m := range map[string]Message{
		"empty":            nil,
		"truncated":        ch[:len(ch)-1],
		"trailing":         append(append(Message{}, ch...), 0),
		"wrong type":       handshake(Finished, func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) }),
		"bad ext length":   handshake(EncryptedExtensions, func(b *cryptobyte.Builder) { b.AddUint16(5); b.AddUint8(1) }),
		"trailing in body": handshake(EncryptedExtensions, func(b *cryptobyte.Builder) { addExtensions(b, nil); b.AddUint8(9) }),
	} {
		if _, err := m.Extensions(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := handshake(Certificate, func(b *cryptobyte.Builder) {
		b.AddUint8(0)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint24(0); b.AddUint16(0) })
	}).Certificate(); err == nil {
		t.Error("empty cert_data accepted")
	}
}

func TestCertificate(t *testing.T) {
	entries := []tls13.CertificateEntry{
		{Data: []byte("leaf")},
		{Data: []byte("ca"), Extensions: []tls13.Extension{{Type: 0xFFA4, Data: []byte("cmw")}}},
	}
	c, err := certificate(entries).Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Entries) != 2 || string(c.Entries[1].Data) != "ca" {
		t.Fatalf("entries %+v", c.Entries)
	}
	if got := c.EntriesWith(0xFFA4); len(got) != 1 || got[0] != 1 {
		t.Errorf("EntriesWith = %v, want [1]", got)
	}
	if got := c.EntriesWith(0xFFA5); len(got) != 0 {
		t.Errorf("EntriesWith(absent) = %v", got)
	}
}

func TestRecorder(t *testing.T) {
	var next Recorder
	r := &Recorder{Next: &next}
	raw := []byte(clientHello(nil))
	r.Message(true, raw)
	r.Message(false, []byte(handshake(ServerHello, func(*cryptobyte.Builder) {})))
	r.Record(true, []byte{22})
	r.Secret("x", []byte{1})
	raw[0] = 0xff // the recorder must have copied
	f := r.Sent()
	if len(f) != 1 || f[0].Type() != ClientHello || !f.Has(ClientHello) || f.Has(ServerHello) {
		t.Fatalf("sent %v", f)
	}
	if len(next.Sent()) != 1 {
		t.Error("Next not called")
	}
}

func encryptedExtensions(exts []tls13.Extension) Message {
	return handshake(EncryptedExtensions, func(b *cryptobyte.Builder) { addExtensions(b, exts) })
}
