package tls13

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
)

// signature_algorithms_cert (RFC 8446 §4.2.3): what we advertise, how we
// pick the chain we send (§4.4.2.2), and the chains we refuse.

// edSigned is a second PKI whose CA signs with Ed25519; its leaves have
// P-256 keys, so CertificateVerify is the same as with the main PKI and
// only the chain's signature algorithm differs.
type edSigned struct {
	pool           *x509.CertPool // both CAs
	server, client Credential
}

func newEdSigned(t *testing.T) *edSigned {
	p := getPKI(t)
	_, caKey, _ := ed25519.GenerateKey(rand.Reader)
	ca := newCA(t, caKey, "Ed25519 test CA")
	e := &edSigned{pool: p.pool.Clone()}
	e.pool.AddCert(ca)
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.server = newLeaf(t, ca, caKey, sk, "server.test", x509.ExtKeyUsageServerAuth)
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.client = newLeaf(t, ca, caKey, ck, "client.test", x509.ExtKeyUsageClientAuth)
	return e
}

// leafSignature is how the leaf c received from its peer is signed.
func leafSignature(t *testing.T, c *Conn) x509.SignatureAlgorithm {
	t.Helper()
	pc := c.ConnectionState().PeerCertificate
	if pc == nil || len(pc.Chain) == 0 {
		t.Fatal("no peer chain")
	}
	return pc.Chain[0].SignatureAlgorithm
}

// rejectedChain requires the verifier to have refused the chain with
// unsupported_certificate, the default §4.4.2.2 names ("it MUST abort the
// handshake with an appropriate certificate-related alert (by default,
// "unsupported_certificate"...)"), and the other side to have received it.
func rejectedChain(t *testing.T, verifierErr error, other *Conn, otherErr error) {
	t.Helper()
	expectAlert(t, verifierErr, AlertUnsupportedCertificate, true)
	if !strings.Contains(verifierErr.Error(), "did not advertise for certificates") {
		t.Fatalf("rejected for another reason: %v", verifierErr)
	}
	if otherErr != nil {
		expectAlert(t, otherErr, AlertUnsupportedCertificate, false)
	} else {
		readAlert(t, other, AlertUnsupportedCertificate)
	}
}

// TestSignatureAlgorithmsCert: one side advertises, the other presents a
// chain, both ways (server: the server verifies the client's chain).
func TestSignatureAlgorithmsCert(t *testing.T) {
	p, e := getPKI(t), newEdSigned(t)
	edOnly := []SignatureScheme{Ed25519}
	for _, tc := range []struct {
		name        string
		server      bool
		schemes     []SignatureScheme // verifier's signature_algorithms; nil: default
		certSchemes []SignatureScheme // verifier's signature_algorithms_cert
		creds       []Credential      // presenter's, in order
		want        x509.SignatureAlgorithm
	}{
		// Without the extension the presenter sends its first credential…
		{name: "server chain, no extension: first credential", creds: []Credential{p.server, e.server}, want: x509.ECDSAWithSHA256},
		// …with it, the first whose chain the verifier accepts (§4.4.2.2:
		// "All certificates provided by the server MUST be signed by a
		// signature algorithm advertised by the client, if it is able to
		// provide such a chain").
		{name: "server chain, Ed25519 only: the Ed25519-signed chain", certSchemes: edOnly,
			creds: []Credential{p.server, e.server}, want: x509.PureEd25519},
		// §4.4.2.2: a server with no such chain "SHOULD continue the
		// handshake by sending the client a certificate chain of its
		// choice"; the client, which did not advertise it, aborts.
		{name: "server chain, Ed25519 only, no such chain: sent anyway, refused", certSchemes: edOnly, creds: []Credential{p.server}},
		// §4.2.3: "If no signature_algorithms_cert extension is present,
		// then the signature_algorithms extension also applies to
		// signatures appearing in certificates." server384's leaf is
		// signed with ECDSA-SHA256 by the P-256 CA.
		{name: "server chain, no extension: signature_algorithms applies", schemes: []SignatureScheme{ECDSAWithP384AndSHA384},
			creds: []Credential{p.server384}},
		{name: "server chain, extension overrides signature_algorithms", schemes: []SignatureScheme{ECDSAWithP384AndSHA384},
			certSchemes: []SignatureScheme{ECDSAWithP256AndSHA256}, creds: []Credential{p.server384}, want: x509.ECDSAWithSHA256},
		// The same from a CertificateRequest (§4.3.2).
		{name: "client chain, no extension: first credential", server: true, creds: []Credential{p.client, e.client}, want: x509.ECDSAWithSHA256},
		{name: "client chain, Ed25519 only: the Ed25519-signed chain", server: true, certSchemes: edOnly,
			creds: []Credential{p.client, e.client}, want: x509.PureEd25519},
		{name: "client chain, Ed25519 only, no such chain: sent anyway, refused", server: true, certSchemes: edOnly,
			creds: []Credential{p.client}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := p.clientConfig(), p.serverConfig()
			cc.RootCAs, sc.ClientCAs = e.pool, e.pool
			verifier, presenter := cc, sc
			if tc.server {
				verifier, presenter = sc, cc
				sc.ClientAuth = RequireAndVerifyClientCert
			}
			verifier.SignatureSchemes, verifier.SignatureSchemesCert = tc.schemes, tc.certSchemes
			presenter.Certificates = tc.creds
			cli, srv, cerr, serr := runPair(t, cc, sc)
			v, vErr, pr, prErr := cli, cerr, srv, serr
			if tc.server {
				v, vErr, pr, prErr = srv, serr, cli, cerr
			}
			if tc.want == x509.UnknownSignatureAlgorithm {
				rejectedChain(t, vErr, pr, prErr)
				return
			}
			if cerr != nil || serr != nil {
				t.Fatalf("client %v, server %v", cerr, serr)
			}
			if got := leafSignature(t, v); got != tc.want {
				t.Fatalf("leaf signed with %v, want %v", got, tc.want)
			}
		})
	}
}

// TestUnacceptableSignatureSkipsSelfSigned: a self-signed certificate may
// be signed with anything (§4.4.2.2: they "are not validated as part of
// the chain and therefore MAY be signed with any algorithm"); a leaf may not.
func TestUnacceptableSignatureSkipsSelfSigned(t *testing.T) {
	p := getPKI(t)
	leaf, err := x509.ParseCertificate(p.server.Chain[0])
	if err != nil {
		t.Fatal(err)
	}
	edOnly := []SignatureScheme{Ed25519}
	if bad := unacceptableSignature([]*x509.Certificate{leaf, p.caCert}, edOnly); bad != leaf {
		t.Fatalf("got %v, want the ECDSA-signed leaf", bad)
	}
	if bad := unacceptableSignature([]*x509.Certificate{p.caCert}, edOnly); bad != nil {
		t.Fatalf("self-signed CA refused: %v", bad.Subject)
	}
	if bad := unacceptableSignature([]*x509.Certificate{leaf, p.caCert}, []SignatureScheme{ECDSAWithP256AndSHA256}); bad != nil {
		t.Fatalf("ECDSA-signed leaf refused under ecdsa_secp256r1_sha256: %v", bad.Subject)
	}
}

// TestSignatureAlgorithmsCertOnTheWire: the extension goes in the
// ClientHello and the CertificateRequest only when configured, and
// parses back.
func TestSignatureAlgorithmsCertOnTheWire(t *testing.T) {
	p := getPKI(t)
	// ECDSA-SHA256 admits the test PKI's chains.
	list := []SignatureScheme{Ed25519, PKCS1WithSHA256, ECDSAWithP256AndSHA256}
	for _, set := range []bool{false, true} {
		cc, sc := p.clientConfig(), p.serverConfig()
		cc.Certificates, sc.ClientAuth = []Credential{p.client}, RequireAndVerifyClientCert
		crec := newRecorder()
		cc.Trace = crec
		var want []SignatureScheme
		if set {
			cc.SignatureSchemesCert, sc.SignatureSchemesCert, want = list, list, list
		}
		if _, _, cerr, serr := runPair(t, cc, sc); cerr != nil || serr != nil {
			t.Fatalf("client %v, server %v", cerr, serr)
		}
		var ch clientHelloMsg
		var cr certificateRequestMsg
		lastMessage(t, crec.sent, typeClientHello, &ch)
		lastMessage(t, crec.received, typeCertificateRequest, &cr)
		if !slices.Equal(ch.sigAlgsCert, want) || !slices.Equal(cr.sigAlgsCert, want) {
			t.Fatalf("configured %v: ClientHello carries %v, CertificateRequest %v", set, ch.sigAlgsCert, cr.sigAlgsCert)
		}
		if cr.sigAlgs == nil {
			t.Fatal("CertificateRequest lost signature_algorithms")
		}
	}
}
