package handshake

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
)

func suiteHash(cs uint16) (crypto.Hash, error) {
	switch cs {
	case tls13.TLS_AES_128_GCM_SHA256, tls13.TLS_CHACHA20_POLY1305_SHA256:
		return crypto.SHA256, nil
	case tls13.TLS_AES_256_GCM_SHA384:
		return crypto.SHA384, nil
	}
	return 0, fmt.Errorf("unknown cipher suite %#04x", cs)
}

func suiteByName(name string) (uint16, error) {
	for _, cs := range cipherSuites {
		if tls13.CipherSuiteName(cs) == name {
			return cs, nil
		}
	}
	return 0, fmt.Errorf("unknown cipher suite %q", name)
}

// Transcript checkpoints, named by their first and last message.
const (
	thClientHello    = "client_hello"
	thHello          = "client_hello..server_hello"
	thServerFinished = "client_hello..server_finished"
	thClientFinished = "client_hello..client_finished"
)

// transcriptHashes computes Transcript-Hash at each checkpoint.
func transcriptHashes(cs uint16, msgs []Message) ([]Value, error) {
	h, err := suiteHash(cs)
	if err != nil {
		return nil, err
	}
	run := h.New()
	var out []Value
	finished := 0
	for _, m := range msgs {
		run.Write(m.Hex)
		name := ""
		switch m.Type {
		case "client_hello":
			name = thClientHello
		case "server_hello":
			name = thHello
		case "finished":
			if finished == 0 {
				name = thServerFinished
			} else {
				name = thClientFinished
			}
			finished++
		}
		if name != "" {
			out = append(out, Value{Name: name, Hex: run.Sum(nil)})
		}
	}
	if len(out) != 4 {
		return nil, fmt.Errorf("transcript has %d checkpoints, want 4", len(out))
	}
	return out, nil
}

func valueOf(vs []Value, name string) []byte {
	for _, v := range vs {
		if v.Name == name {
			return v.Hex
		}
	}
	return nil
}

// secretOrder is RFC 8446 §7.1 derivation order with each traffic
// secret's key and IV after it.
var secretOrder = []string{
	"early_secret", "early_exporter_master_secret",
	"handshake_secret",
	"client_handshake_traffic_secret", "client_handshake_write_key", "client_handshake_write_iv", "client_finished_key",
	"server_handshake_traffic_secret", "server_handshake_write_key", "server_handshake_write_iv", "server_finished_key",
	"master_secret",
	"client_application_traffic_secret_0", "client_application_write_key", "client_application_write_iv",
	"server_application_traffic_secret_0", "server_application_write_key", "server_application_write_iv",
	"exporter_master_secret", "resumption_master_secret",
}

// secretsOf orders the engine's secrets, adds the finished keys and the
// profile's additions, and checks the additions the engine also traced.
func secretsOf(tr *Trace, engine []Value) ([]Value, error) {
	cs, err := suiteByName(tr.CipherSuite)
	if err != nil {
		return nil, err
	}
	h, _ := suiteHash(cs)
	all := map[string][]byte{}
	for _, v := range engine {
		all[v.Name] = v.Hex
	}
	for _, side := range []string{"client", "server"} {
		if ts := all[side+"_handshake_traffic_secret"]; ts != nil {
			all[side+"_finished_key"] = tls13.ExpandLabel(h, ts, "finished", nil, h.Size())
		}
	}
	var out []Value
	for _, n := range secretOrder {
		v, ok := all[n]
		if !ok {
			return nil, fmt.Errorf("the engine never derived %s", n)
		}
		out = append(out, Value{Name: n, Hex: v})
	}
	adds, err := additions(tr, h, all["handshake_secret"], valueOf(tr.TranscriptHashes, thHello))
	if err != nil {
		return nil, err
	}
	// The additions the engine traced too appear once, as additions.
	traced := map[string]bool{}
	for _, a := range adds {
		if a.Traced != "" {
			traced[a.Traced] = true
		}
	}
	var extra []string
	for n := range all {
		if !slices.Contains(secretOrder, n) && !traced[n] {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	for _, n := range extra {
		out = append(out, Value{Name: n, Hex: all[n]})
	}
	for _, a := range adds {
		if v, ok := all[a.Traced]; a.Traced != "" && ok && !bytes.Equal(v, a.Bytes) {
			return nil, fmt.Errorf("the engine's %q is not %s", a.Traced, a.Name)
		}
		out = append(out, Value{Name: a.Name, Hex: a.Bytes})
	}
	return out, nil
}

// additions are the profile's secrets beyond RFC 8446, as its descriptor
// derives them (ta-07's handshake_exporter_secret and channel binders,
// ea-07's attest_base and attestation binders).
func additions(tr *Trace, h crypto.Hash, handshakeSecret, helloHash []byte) ([]party.Value, error) {
	c := Case{Profile: tr.Profile, Model: tr.Model}
	d, err := profile.Describe(c.Profile)
	if err != nil {
		return nil, err
	}
	if d.Secrets == nil {
		return nil, nil
	}
	return d.Secrets(h, c.model(), party.HandshakeValues{
		HandshakeSecret: handshakeSecret,
		HelloHash:       helloHash,
		Nonce:           func(client bool) []byte { return nonceFor(tr, client) },
		SPKI: func(client bool) ([]byte, error) {
			ep := tr.Inputs.Server
			if client {
				ep = tr.Inputs.Client
			}
			if ep.Attester == nil || len(ep.Attester.Chain) == 0 {
				return nil, fmt.Errorf("no certificate for the %s's binder", sideName(client))
			}
			leaf, err := x509.ParseCertificate(ep.Attester.Chain[0])
			if err != nil {
				return nil, err
			}
			return leaf.RawSubjectPublicKeyInfo, nil
		},
	})
}

// nonceFor is the nonce side client's attestation was challenged with.
func nonceFor(tr *Trace, client bool) []byte {
	a, ok := attestationBy(tr, sideName(client))
	if !ok {
		return nil
	}
	return a.Challenge.Nonce
}

// recordsOf annotates the logged records: each sender's records are
// plaintext until its first protected one, then under its handshake keys,
// then under its application keys.
func recordsOf(cs uint16, logged []loggedBytes, secrets []Value) ([]Record, error) {
	type state struct {
		phase int // 0 plaintext, 1 handshake, 2 application
		seq   uint64
	}
	st := map[bool]*state{false: {}, true: {}}
	var out []Record
	for _, l := range logged {
		s, side := st[l.client], sideName(l.client)
		r := Record{Sender: side, Hex: l.b}
		if len(l.b) < 5 {
			return nil, errors.New("short record")
		}
		if l.b[0] != 23 {
			if s.phase != 0 {
				return nil, fmt.Errorf("%s sent a plaintext record after protected ones", side)
			}
			r.Protection, r.ContentType, r.Content, r.Sequence = "plaintext", contentType(l.b[0]), l.b[5:], s.seq
			s.seq++
			out = append(out, r)
			continue
		}
		if s.phase == 0 {
			s.phase, s.seq = 1, 0
		}
		for {
			phase := "handshake"
			if s.phase == 2 {
				phase = "application"
			}
			key := valueOf(secrets, side+"_"+phase+"_write_key")
			iv := valueOf(secrets, side+"_"+phase+"_write_iv")
			typ, content, err := open(cs, key, iv, s.seq, l.b)
			if err == nil {
				r.Protection, r.Sequence, r.ContentType, r.Content = phase, s.seq, contentType(typ), content
				s.seq++
				break
			}
			if s.phase == 2 {
				return nil, fmt.Errorf("%s record does not open under its keys: %w", side, err)
			}
			s.phase, s.seq = 2, 0
		}
		out = append(out, r)
	}
	return out, nil
}

func contentType(t uint8) string {
	switch t {
	case 20:
		return "change_cipher_spec"
	case 21:
		return "alert"
	case 22:
		return "handshake"
	case 23:
		return "application_data"
	}
	return fmt.Sprintf("content_type(%d)", t)
}

// open removes record protection (RFC 8446 §5.2–5.3).
func open(cs uint16, key, iv []byte, seq uint64, rec []byte) (uint8, []byte, error) {
	var aead cipher.AEAD
	var err error
	if cs == tls13.TLS_CHACHA20_POLY1305_SHA256 {
		aead, err = chacha20poly1305.New(key)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			aead, err = cipher.NewGCM(b)
		}
	}
	if err != nil {
		return 0, nil, err
	}
	if len(iv) != 12 {
		return 0, nil, errors.New("no IV")
	}
	nonce := slices.Clone(iv)
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], seq)
	for i := range 8 {
		nonce[4+i] ^= sb[i]
	}
	inner, err := aead.Open(nil, nonce, rec[5:], rec[:5])
	if err != nil {
		return 0, nil, err
	}
	i := len(inner) - 1
	for i >= 0 && inner[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, errors.New("inner plaintext has no content type")
	}
	return inner[i], inner[:i], nil
}
