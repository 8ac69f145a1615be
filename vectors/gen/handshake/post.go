package handshake

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/profile/xp03"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Framing is the post-handshake traces' framing of the application stream.
const Framing = "attested-tls conformance post-handshake attestation framing (peers/CONTRACT.md, impl/attest/eaframe): uint8 type, uint24 length, body"

// postHandshake says whether tr's profile attests after the handshake.
func postHandshake(tr *Trace) (bool, error) {
	d, err := profile.Describe(tr.Profile)
	if err != nil {
		return false, err
	}
	return d.Phase == party.PostHandshake, nil
}

// causalOrder puts both directions' records in one order that is the
// same on every run: each side's own order, a record only after the peer
// records its sender had read when sending it, the client's first where
// both could go. The order the two goroutines happened to log in is not
// stable once both write before reading (two requests at once).
func causalOrder(logged []loggedBytes) ([]loggedBytes, error) {
	var sides [2][]loggedBytes // server, client
	for _, l := range logged {
		k := 0
		if l.client {
			k = 1
		}
		sides[k] = append(sides[k], l)
	}
	var out []loggedBytes
	var next [2]int
	for len(out) < len(logged) {
		took := false
		for _, k := range []int{1, 0} {
			if next[k] < len(sides[k]) && sides[k][next[k]].after <= next[1-k] {
				out = append(out, sides[k][next[k]])
				next[k]++
				took = true
				break
			}
		}
		if !took {
			return nil, errors.New("the records of the two sides have no causal order")
		}
	}
	return out, nil
}

// framesOf splits each sender's application data records into frames,
// in the order of the records that complete them.
func framesOf(records []Record) ([]Frame, error) {
	type pending struct {
		buf  []byte
		recs []int
	}
	p := map[string]*pending{"client": {}, "server": {}}
	var out []Frame
	for i, r := range records {
		if r.Protection != "application" || r.ContentType != "application_data" {
			continue
		}
		s := p[r.Sender]
		s.buf = append(s.buf, r.Content...)
		s.recs = append(s.recs, i)
		for {
			f, rest, err := eaframe.Next(s.buf)
			if errors.Is(err, eaframe.ErrShort) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
			whole, _ := f.Marshal()
			out = append(out, Frame{Sender: r.Sender, Type: f.Type.String(), Records: s.recs, Hex: whole})
			s.buf, s.recs = rest, nil
			if len(rest) > 0 {
				s.recs = []int{i}
			}
		}
	}
	for side, s := range p {
		if len(s.buf) > 0 {
			return nil, fmt.Errorf("the %s's application data ends inside a frame", side)
		}
	}
	return out, nil
}

func frameBody(f Frame) []byte { return f.Hex[4:] }

// appDataOf is what each side wrote as application data: the records'
// content, or for a post-handshake profile the bodies of its
// application_data frames.
func appDataOf(records []Record, frames []Frame, post bool) []AppData {
	var out []AppData
	if post {
		for _, f := range frames {
			if f.Type == eaframe.ApplicationData.String() {
				out = append(out, AppData{Sender: f.Sender, Text: string(frameBody(f)), Hex: frameBody(f)})
			}
		}
		return out
	}
	for _, r := range records {
		if r.Protection == "application" && r.ContentType == "application_data" {
			out = append(out, AppData{Sender: r.Sender, Text: string(r.Content), Hex: r.Content})
		}
	}
	return out
}

// postHandshakeOf derives the post-handshake section of tr from its
// records, its exporter_master_secret and nothing else: the frames, and
// for each authenticator request the authenticator answering it with the
// RFC 9261 and binding values recomputed.
func postHandshakeOf(tr *Trace) (*PostHandshake, error) {
	cs, err := suiteByName(tr.CipherSuite)
	if err != nil {
		return nil, err
	}
	h, _ := suiteHash(cs)
	ems := valueOf(tr.Secrets, "exporter_master_secret")
	if ems == nil {
		return nil, errors.New("no exporter_master_secret")
	}
	frames, err := framesOf(tr.Records)
	if err != nil {
		return nil, err
	}
	ph := &PostHandshake{Framing: Framing, Frames: frames}
	for _, req := range frames {
		if req.Type != eaframe.AuthenticatorRequest.String() {
			continue
		}
		x, err := exchangeOf(h, ems, req, frames)
		if err != nil {
			return nil, err
		}
		ph.Exchanges = append(ph.Exchanges, x)
	}
	return ph, nil
}

// exchangeOf pairs request req with the peer's authenticator for its
// context and derives the exchange's values.
func exchangeOf(h crypto.Hash, ems []byte, req Frame, frames []Frame) (Exchange, error) {
	attester := "client"
	if req.Sender == "client" {
		attester = "server"
	}
	x := Exchange{Requester: req.Sender, Attester: attester, Request: frameBody(req)}
	ctx, err := tls13.AuthenticatorRequestContext(x.Request)
	if err != nil {
		return x, fmt.Errorf("the %s's request: %w", req.Sender, err)
	}
	x.CertificateRequestContext = ctx
	var auth []byte
	for _, f := range frames {
		if f.Sender != attester || f.Type != eaframe.Authenticator.String() {
			continue
		}
		if c, err := tls13.AuthenticatorContext(frameBody(f)); err == nil && bytes.Equal(c, ctx) {
			auth = frameBody(f)
		}
	}
	if auth == nil {
		return x, fmt.Errorf("no authenticator from the %s for context %x", attester, ctx)
	}
	msgs, err := splitMessages(auth)
	if err != nil || len(msgs) != 3 {
		return x, fmt.Errorf("the %s's authenticator is not Certificate, CertificateVerify, Finished", attester)
	}
	x.Certificate, x.CertificateVerify, x.Finished = msgs[0], msgs[1], msgs[2]
	hc, fk := tls13.AuthenticatorKeys(h, ems, attester == "client")
	cth := hashOf(h, hc, x.Request, x.Certificate)
	fth := hashOf(h, hc, x.Request, x.Certificate, x.CertificateVerify)
	if !bytes.Equal(tls13.AuthenticatorFinished(h, fk, fth), x.Finished[4:]) {
		return x, fmt.Errorf("the %s's authenticator Finished is not HMAC(finished_key, transcript)", attester)
	}
	cert, err := parseCertificate(x.Certificate)
	if err != nil || len(cert.entries) == 0 {
		return x, fmt.Errorf("the %s's authenticator Certificate: %v", attester, err)
	}
	leaf, err := x509.ParseCertificate(cert.entries[0].data)
	if err != nil {
		return x, fmt.Errorf("the %s's end-entity certificate: %w", attester, err)
	}
	// The profile's binding of the attestation to this request (§5.1,
	// §5.2), by the default label.
	in := []party.Value{{Name: "exporter_master_secret", Bytes: ems}, {Name: "label", Bytes: []byte(xp03.LabelBinder)},
		{Name: "certificate_request_context", Bytes: ctx}, {Name: "spki", Bytes: leaf.RawSubjectPublicKeyInfo}}
	mid, outs, err := xp03.Profile{}.Describe().Binder(h, in)
	if err != nil {
		return x, err
	}
	x.Values = []Value{{Name: "exporter_master_secret", Hex: ems}, {Name: "handshake_context", Hex: hc}, {Name: "finished_key", Hex: fk},
		{Name: "certificate_transcript_hash", Hex: cth}, {Name: "finished_transcript_hash", Hex: fth}}
	for _, v := range append(append(in[1:2:2], mid...), in[3]) {
		x.Values = append(x.Values, Value{Name: v.Name, Hex: v.Bytes})
	}
	for _, v := range outs {
		x.Values = append(x.Values, Value{Name: v.Name, Hex: v.Bytes})
	}
	return x, nil
}

func hashOf(h crypto.Hash, parts ...[]byte) []byte {
	d := h.New()
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum(nil)
}

// splitMessages splits concatenated handshake messages at their headers.
func splitMessages(b []byte) ([]Hex, error) {
	var out []Hex
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errors.New("truncated handshake message")
		}
		n := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
		if len(b) < n {
			return nil, errors.New("truncated handshake message")
		}
		out = append(out, Hex(b[:n]))
		b = b[n:]
	}
	return out, nil
}

// exchangeBy is the exchange in which side attester attested.
func exchangeBy(tr *Trace, attester string) (Exchange, bool) {
	if tr.PostHandshake == nil {
		return Exchange{}, false
	}
	for _, x := range tr.PostHandshake.Exchanges {
		if x.Attester == attester {
			return x, true
		}
	}
	return Exchange{}, false
}

// attesterCertificate is the Certificate message carrying side client's
// CMW: its authenticator's after the handshake, else its handshake's.
func attesterCertificate(tr *Trace, client bool) []byte {
	if x, ok := exchangeBy(tr, sideName(client)); ok {
		return x.Certificate
	}
	return certificateOf(tr.Messages, sideName(client))
}

// challengeNonce is the verifier's nonce of a post-handshake background
// check: the request's context, which the attester never sees apart (the
// binding value covers it).
func challengeNonce(tr *Trace, client bool) []byte {
	c := Case{Profile: tr.Profile, Model: tr.Model}
	x, ok := exchangeBy(tr, sideName(client))
	if !ok || c.topology(client) != party.BackgroundCheck {
		return nil
	}
	return x.CertificateRequestContext
}
