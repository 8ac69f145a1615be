// Package authenticator holds the RFC 9261 (Exported Authenticators)
// vectors: per test, the inputs (the suite's hash, exporter_master_secret,
// the authenticator request, the sender's role and, for a certificate-
// bearing authenticator, its Certificate and CertificateVerify), the
// intermediates (Handshake Context, Finished MAC Key, transcript hashes)
// and the outputs (Finished and the whole authenticator). The first tests
// are the known answers over RFC 8448 §3 of
// impl/tls13/testdata/rfc9261; the rest cover SHA-384 and a client's
// certificate.
//
// A CertificateVerify signature is an input, not a computed value: RSA-PSS
// salts are random, so Check verifies it against the Certificate's
// end-entity key instead of recomputing it.
package authenticator

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/vectors/gen/fixture"
)

// Path of the authenticator file under vectors/.
const Path = "authenticators/rfc9261.json"

// Hex is bytes that travel as lowercase hex in JSON.
type Hex = fixture.Hex

// File is the authenticator vector file.
type File struct {
	Authenticator string `json:"authenticator"`
	RFC           string `json:"rfc"`
	// Definition is the computation in the RFC's notation.
	Definition []string `json:"definition"`
	Tests      []Test   `json:"tests"`
}

// Test is one authenticator.
type Test struct {
	ID      int    `json:"id"`
	Comment string `json:"comment"`
	// Hash is the cipher suite's hash: "SHA-256" or "SHA-384".
	Hash string `json:"hash"`
	// Sender is the role of the side that sends the authenticator:
	// "client" or "server".
	Sender        string  `json:"sender"`
	Inputs        []Value `json:"inputs"`
	Intermediates []Value `json:"intermediates"`
	Outputs       []Value `json:"outputs"`
}

// Value is a named byte string.
type Value struct {
	Name string `json:"name"`
	Hex  Hex    `json:"hex"`
}

var hashes = map[string]crypto.Hash{"SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384}

// Handshake message types (RFC 8446 §4, RFC 9261 §4).
const (
	typeCertificateRequest       = 13
	typeCertificate              = 11
	typeCertificateVerify        = 15
	typeFinished                 = 20
	typeClientCertificateRequest = 17
)

// RFC 8448 §3 values, as in impl/tls13/testdata/rfc9261/rfc8448_simple_1rtt.json:
// the exporter_master_secret; the client's ClientCertificateRequest and the
// server's Certificate (the RFC 8448 RSA certificate) and CertificateVerify
// (rsa_pss_rsae_sha256, random salt) answering it; the server's
// CertificateRequest that the client refuses.
var (
	rfc8448ExporterMasterSecret = mustHex("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")
	rfc8448ClientRequest        = mustHex("1100002b20000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0008000d000400020804")
	rfc8448ServerCertificate    = mustHex("0b0001d920000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0001b50001b0308201ac30820115a003020102020102300d06092a864886f70d01010b0500300e310c300a06035504031303727361301e170d3136303733303031323335395a170d3236303733303031323335395a300e310c300a0603550403130372736130819f300d06092a864886f70d010101050003818d0030818902818100b4bb498f8279303d980836399b36c6988c0c68de55e1bdb826d3901a2461eafd2de49a91d015abbc9a95137ace6c1af19eaa6af98c7ced43120998e187a80ee0ccb0524b1b018c3e0b63264d449a6d38e22a5fda430846748030530ef0461c8ca9d9efbfae8ea6d1d03e2bd193eff0ab9a8002c47428a6d35a8d88d79f7f1e3f0203010001a31a301830090603551d1304023000300b0603551d0f0404030205a0300d06092a864886f70d01010b05000381810085aad2a0e5b9276b908c65f73a7267170618a54c5f8a7b337d2df7a594365417f2eae8f8a58c8f8172f9319cf36b7fd6c55b80f21a03015156726096fd335e5e67f2dbf102702e608ccae6bec1fc63a42a99be5c3eb7107c3c54e9b9eb2bd5203b1c3b84e0a8b2f759409ba3eac9d91d402dcc0cc8f8961229ac9187b42b4de10000")
	rfc8448ServerCertVerify     = mustHex("0f000084080400804e251ee23cb618d8b6a3179655e8af017bb0f9e06b2bb589fb3a901b9d80ce2a6a81216a1d898a1998f5b0a82b369de57b838089e3a9bf5ee828a13e81eaf099b4918fe57a078fff5f1feff24b4a5b2d81e38a3a35c73e1f5f69c5388e57ffc15c63ebe5246b04955a1163caf5410a39c91bc20b2ecad2c726b43899b0482176")
	rfc8448ServerRequest        = mustHex("0d00002b20202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f0008000d000400020804")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func u24(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }

// message is a handshake message: type, uint24 length, body.
func message(typ byte, body []byte) []byte {
	return append(append([]byte{typ}, u24(len(body))...), body...)
}

// request is a (Client)CertificateRequest with context and a
// signature_algorithms extension listing one scheme.
func request(typ byte, ctx []byte, scheme uint16) []byte {
	body := append([]byte{byte(len(ctx))}, ctx...)
	body = append(body, 0, 8, 0, 13, 0, 4, 0, 2, byte(scheme>>8), byte(scheme))
	return message(typ, body)
}

// certificate is a Certificate with context and the chain's entries
// without extensions.
func certificate(ctx []byte, chain ...[]byte) []byte {
	body := append([]byte{byte(len(ctx))}, ctx...)
	var list []byte
	for _, der := range chain {
		list = append(append(append(list, u24(len(der))...), der...), 0, 0)
	}
	return message(typeCertificate, append(append(body, u24(len(list))...), list...))
}

// signedContent is RFC 9261 §5.2.2's: 64 spaces, "Exported
// Authenticator", a 0 byte, the transcript hash.
func signedContent(th []byte) []byte {
	m := bytes.Repeat([]byte{0x20}, 64)
	m = append(m, "Exported Authenticator"...)
	return append(append(m, 0), th...)
}

func sum(h crypto.Hash, parts ...[]byte) []byte {
	d := h.New()
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum(nil)
}

// Definition is the file's statement of the computation.
var Definition = []string{
	`handshake_context = TLS-Exporter("EXPORTER-{client,server} authenticator handshake context", "", Hash.length), by the sender's role (RFC 9261 §5.1; TLS-Exporter of RFC 8446 §7.5 over exporter_master_secret)`,
	`finished_mac_key = TLS-Exporter("EXPORTER-{client,server} authenticator finished key", "", Hash.length), by the sender's role`,
	`certificate_transcript_hash = Hash(handshake_context || request || Certificate); CertificateVerify signs 64 x 0x20 || "Exported Authenticator" || 0x00 || certificate_transcript_hash with the end-entity key (RFC 9261 §5.2.2)`,
	`finished_transcript_hash = Hash(handshake_context || request || Certificate || CertificateVerify); finished = Finished(HMAC(finished_mac_key, finished_transcript_hash)) (RFC 9261 §5.2.3: the key is used directly, without a "finished" HKDF-Expand-Label)`,
	`authenticator = Certificate || CertificateVerify || Finished (RFC 9261 §5.2.4)`,
	`empty authenticator (RFC 9261 §6): no certificate or certificate_verify input; empty_certificate is a Certificate with the request's certificate_request_context and no entries, not sent; finished_transcript_hash = Hash(handshake_context || request || empty_certificate); authenticator = Finished`,
	`Messages are whole handshake messages with their 4-byte header. A client answers a CertificateRequest (type 13), a server a ClientCertificateRequest (type 17). Signatures have random salts (RSA-PSS) or RFC 6979 nonces (ECDSA): verify them, do not recompute them`,
}

// Generate is the authenticator file.
func Generate() (File, error) {
	f := File{Authenticator: "RFC 9261 exported authenticators", RFC: "RFC 9261 §5, §6", Definition: Definition}
	var err error
	add := func(comment, hname, sender string, inputs []Value) {
		t := Test{ID: len(f.Tests) + 1, Comment: comment, Hash: hname, Sender: sender, Inputs: inputs}
		terr := compute(&t)
		err = errors.Join(err, terr)
		f.Tests = append(f.Tests, t)
	}
	add("RFC 8448 §3 (TLS_AES_128_GCM_SHA256): the server answers the client's ClientCertificateRequest with the RFC 8448 RSA certificate, rsa_pss_rsae_sha256",
		"SHA-256", "server", []Value{{"exporter_master_secret", rfc8448ExporterMasterSecret}, {"request", rfc8448ClientRequest},
			{"certificate", rfc8448ServerCertificate}, {"certificate_verify", rfc8448ServerCertVerify}})
	add("RFC 8448 §3 (TLS_AES_128_GCM_SHA256): the client refuses the server's CertificateRequest with an empty authenticator",
		"SHA-256", "client", []Value{{"exporter_master_secret", rfc8448ExporterMasterSecret}, {"request", rfc8448ServerRequest}})

	// SHA-384: a client's P-256 certificate under a fixed CA, signed with
	// an RFC 6979 nonce, and a server's empty authenticator.
	ems := fixture.Bytes("authenticator/SHA-384/exporter_master_secret", 48)
	caKey, kerr := fixture.Key(fixture.Scalar("authenticator/ca"))
	if kerr != nil {
		return f, kerr
	}
	leafKey, kerr := fixture.Key(fixture.Scalar("authenticator/client"))
	if kerr != nil {
		return f, kerr
	}
	caDER, cerr := fixture.CACertificate(caKey, "Authenticator Vectors CA")
	if cerr != nil {
		return f, cerr
	}
	leafDER, cerr := fixture.LeafCertificate(caDER, caKey, leafKey.Public(), "client.authenticator.example", true, 2)
	if cerr != nil {
		return f, cerr
	}
	ctx := fixture.Bytes("authenticator/SHA-384/client/context", 32)
	req := request(typeCertificateRequest, ctx, 0x0403)
	cert := certificate(ctx, leafDER)
	hc, _ := tls13.AuthenticatorKeys(crypto.SHA384, ems, true)
	digest := sum(crypto.SHA256, signedContent(sum(crypto.SHA384, hc, req, cert)))
	sig, serr := fixture.RFC6979{Key: leafKey}.Sign(nil, digest, crypto.SHA256)
	if serr != nil {
		return f, serr
	}
	cv := message(typeCertificateVerify, append([]byte{0x04, 0x03, byte(len(sig) >> 8), byte(len(sig))}, sig...))
	add("SHA-384 (TLS_AES_256_GCM_SHA384): the client answers the server's CertificateRequest with a P-256 certificate, ecdsa_secp256r1_sha256 with an RFC 6979 nonce",
		"SHA-384", "client", []Value{{"exporter_master_secret", ems}, {"request", req}, {"certificate", cert}, {"certificate_verify", cv}})
	sctx := fixture.Bytes("authenticator/SHA-384/server/context", 32)
	add("SHA-384 (TLS_AES_256_GCM_SHA384): the server refuses the client's ClientCertificateRequest with an empty authenticator",
		"SHA-384", "server", []Value{{"exporter_master_secret", ems}, {"request", request(typeClientCertificateRequest, sctx, 0x0503)}})
	return f, err
}

// compute fills t's intermediates and outputs from its inputs, verifying
// a CertificateVerify's signature on the way.
func compute(t *Test) error {
	h, ok := hashes[t.Hash]
	if !ok {
		return fmt.Errorf("unknown hash %q", t.Hash)
	}
	if t.Sender != "client" && t.Sender != "server" {
		return fmt.Errorf("unknown sender %q", t.Sender)
	}
	in := map[string][]byte{}
	for _, v := range t.Inputs {
		switch v.Name {
		case "exporter_master_secret", "request", "certificate", "certificate_verify":
		default:
			return fmt.Errorf("unknown input %q", v.Name)
		}
		if _, dup := in[v.Name]; dup {
			return fmt.Errorf("input %q twice", v.Name)
		}
		in[v.Name] = v.Hex
	}
	ems, req, cert, cv := in["exporter_master_secret"], in["request"], in["certificate"], in["certificate_verify"]
	if len(ems) != h.Size() {
		return fmt.Errorf("exporter_master_secret of %d bytes, want %d", len(ems), h.Size())
	}
	if (cert == nil) != (cv == nil) {
		return errors.New("certificate and certificate_verify come together or not at all")
	}
	ctx, err := requestContext(req, t.Sender)
	if err != nil {
		return err
	}
	hc, fk := tls13.AuthenticatorKeys(h, ems, t.Sender == "client")
	t.Intermediates = []Value{{"handshake_context", hc}, {"finished_mac_key", fk}}
	var th []byte
	var sent []byte
	if cert == nil {
		empty := certificate(ctx)
		th = sum(h, hc, req, empty)
		t.Intermediates = append(t.Intermediates, Value{"empty_certificate", empty})
	} else {
		certCtx, leaf, err := parseCertificate(cert)
		if err != nil {
			return err
		}
		if !bytes.Equal(certCtx, ctx) {
			return errors.New("the Certificate's certificate_request_context is not the request's")
		}
		cth := sum(h, hc, req, cert)
		if err := verifyCertificateVerify(cv, leaf, signedContent(cth)); err != nil {
			return err
		}
		th = sum(h, hc, req, cert, cv)
		t.Intermediates = append(t.Intermediates, Value{"certificate_transcript_hash", cth})
		sent = append(append(sent, cert...), cv...)
	}
	fin := message(typeFinished, tls13.AuthenticatorFinished(h, fk, th))
	t.Intermediates = append(t.Intermediates, Value{"finished_transcript_hash", th})
	t.Outputs = []Value{{"finished", fin}, {"authenticator", append(sent, fin...)}}
	return nil
}

// body checks msg's type and length and returns its body.
func body(msg []byte, typ byte, name string) ([]byte, error) {
	if len(msg) < 4 || msg[0] != typ {
		return nil, fmt.Errorf("%s: not a message of type %d", name, typ)
	}
	if n := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]); n != len(msg)-4 {
		return nil, fmt.Errorf("%s: length %d, %d bytes follow", name, n, len(msg)-4)
	}
	return msg[4:], nil
}

// requestContext returns the certificate_request_context of an
// authenticator request of the type sender answers.
func requestContext(req []byte, sender string) ([]byte, error) {
	typ := byte(typeClientCertificateRequest)
	if sender == "client" {
		typ = typeCertificateRequest
	}
	b, err := body(req, typ, "request")
	if err != nil {
		return nil, err
	}
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, errors.New("request: short certificate_request_context")
	}
	return b[1 : 1+int(b[0])], nil
}

// parseCertificate returns a Certificate's context and end-entity
// certificate.
func parseCertificate(msg []byte) ([]byte, *x509.Certificate, error) {
	b, err := body(msg, typeCertificate, "certificate")
	if err != nil {
		return nil, nil, err
	}
	if len(b) < 1+int(b[0])+3 {
		return nil, nil, errors.New("certificate: short")
	}
	ctx, rest := b[1:1+int(b[0])], b[1+int(b[0]):]
	if n := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2]); n != len(rest)-3 || n < 3 {
		return nil, nil, errors.New("certificate: bad certificate_list length")
	}
	rest = rest[3:]
	n := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
	if n == 0 || len(rest) < 3+n {
		return nil, nil, errors.New("certificate: bad end-entity cert_data")
	}
	leaf, err := x509.ParseCertificate(rest[3 : 3+n])
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	return ctx, leaf, nil
}

// verifyCertificateVerify checks cv's signature over content with leaf's
// key, for the schemes the vectors use and their kin.
func verifyCertificateVerify(cv []byte, leaf *x509.Certificate, content []byte) error {
	b, err := body(cv, typeCertificateVerify, "certificate_verify")
	if err != nil {
		return err
	}
	if len(b) < 4 || int(b[2])<<8|int(b[3]) != len(b)-4 {
		return errors.New("certificate_verify: bad signature length")
	}
	scheme, sig := uint16(b[0])<<8|uint16(b[1]), b[4:]
	var h crypto.Hash
	switch scheme {
	case 0x0804, 0x0403:
		h = crypto.SHA256
	case 0x0805, 0x0503:
		h = crypto.SHA384
	case 0x0806, 0x0603:
		h = crypto.SHA512
	case 0x0807:
		if pub, ok := leaf.PublicKey.(ed25519.PublicKey); ok && ed25519.Verify(pub, content, sig) {
			return nil
		}
		return errors.New("certificate_verify: the ed25519 signature does not verify")
	default:
		return fmt.Errorf("certificate_verify: unsupported scheme %#04x", scheme)
	}
	digest := sum(h, content)
	switch pub := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if scheme>>8 == 0x08 && rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil {
			return nil
		}
	case *ecdsa.PublicKey:
		if scheme>>8 != 0x08 && ecdsa.VerifyASN1(pub, digest, sig) {
			return nil
		}
	}
	return fmt.Errorf("certificate_verify: the %#04x signature does not verify with the certificate's key", scheme)
}

// Check recomputes every test of f from its inputs (verifying each
// CertificateVerify against its certificate) and compares the
// intermediates and outputs.
func Check(f File) error {
	if len(f.Tests) == 0 {
		return errors.New("authenticator file without tests")
	}
	for _, t := range f.Tests {
		got := Test{Hash: t.Hash, Sender: t.Sender, Inputs: t.Inputs}
		if err := compute(&got); err != nil {
			return fmt.Errorf("test %d: %w", t.ID, err)
		}
		for _, c := range []struct {
			what      string
			got, want []Value
		}{{"intermediate", got.Intermediates, t.Intermediates}, {"output", got.Outputs, t.Outputs}} {
			if len(c.got) != len(c.want) {
				return fmt.Errorf("test %d: %d %ss, recomputed %d", t.ID, len(c.want), c.what, len(c.got))
			}
			for i := range c.got {
				if c.got[i].Name != c.want[i].Name || !bytes.Equal(c.got[i].Hex, c.want[i].Hex) {
					return fmt.Errorf("test %d: %s %s is %x, recomputed %s %x", t.ID, c.what,
						c.want[i].Name, []byte(c.want[i].Hex), c.got[i].Name, []byte(c.got[i].Hex))
				}
			}
		}
	}
	return nil
}
