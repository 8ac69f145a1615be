package tls13

import (
	"crypto"
	"testing"
)

// RFC 7250 raw public keys between our client and server.

func rpkConfigs(t *testing.T) (*Config, *Config) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.ServerCertificateTypes = []CertificateType{CertTypeRawPublicKey}
	cc.TrustedRawPublicKeys = []crypto.PublicKey{p.serverKey.Public()}
	return cc, sc
}

func TestRawPublicKeyServer(t *testing.T) {
	cc, sc := rpkConfigs(t)
	sc.ServerCertificateTypes = []CertificateType{CertTypeRawPublicKey, CertTypeX509}
	cli, srv, cerr, serr := runPair(t, cc, sc)
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	if st := cli.ConnectionState(); st.ServerCertificateType != CertTypeRawPublicKey || st.PeerCertificate.Chain != nil {
		t.Fatalf("negotiated server type %d", st.ServerCertificateType)
	}
	echo(t, cli, srv)
}

func TestRawPublicKeyMutual(t *testing.T) {
	p := getPKI(t)
	cc, sc := rpkConfigs(t)
	sc.ServerCertificateTypes = []CertificateType{CertTypeRawPublicKey}
	cc.ClientCertificateTypes = []CertificateType{CertTypeRawPublicKey}
	cc.Certificates = []Credential{p.client}
	sc.ClientCertificateTypes = []CertificateType{CertTypeRawPublicKey}
	sc.TrustedRawPublicKeys = []crypto.PublicKey{p.client.Signer.Public()}
	sc.ClientAuth = RequireAndVerifyClientCert
	cli, srv, cerr, serr := runPair(t, cc, sc)
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	if st := srv.ConnectionState(); st.ClientCertificateType != CertTypeRawPublicKey || st.PeerCertificate == nil {
		t.Fatal("server did not get the client's raw public key")
	}
	echo(t, cli, srv)
}

// A server that can only send X.509 to a client that accepts only raw
// public keys aborts with unsupported_certificate (RFC 7250 §4.2).
func TestRawPublicKeyUnsupportedServerType(t *testing.T) {
	cc, sc := rpkConfigs(t)
	sc.ServerCertificateTypes = []CertificateType{CertTypeX509}
	_, _, cerr, serr := runPair(t, cc, sc)
	expectAlert(t, serr, AlertUnsupportedCertificate, true)
	expectAlert(t, cerr, AlertUnsupportedCertificate, false)
}

func TestRawPublicKeyUnsupportedClientType(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.ClientCertificateTypes = []CertificateType{CertTypeRawPublicKey}
	cc.Certificates = []Credential{p.client}
	sc.ClientCertificateTypes = []CertificateType{CertTypeX509}
	sc.ClientAuth = RequireAnyClientCert
	_, _, cerr, serr := runPair(t, cc, sc)
	expectAlert(t, serr, AlertUnsupportedCertificate, true)
	expectAlert(t, cerr, AlertUnsupportedCertificate, false)
}

// An untrusted raw public key is bad_certificate.
func TestRawPublicKeyUntrusted(t *testing.T) {
	p := getPKI(t)
	cc, sc := rpkConfigs(t)
	cc.TrustedRawPublicKeys = []crypto.PublicKey{p.client.Signer.Public()}
	sc.ServerCertificateTypes = []CertificateType{CertTypeRawPublicKey}
	_, _, cerr, serr := runPair(t, cc, sc)
	expectAlert(t, cerr, AlertBadCertificate, true)
	expectAlert(t, serr, AlertBadCertificate, false)
}

// A server that announces a type the client did not offer is illegal_parameter.
func TestRawPublicKeyUnofferedTypeSelected(t *testing.T) {
	cc, sc := rpkConfigs(t)
	sc.Bugs.ExtraExtensions = map[uint8][]Extension{}
	sc.ServerCertificateTypes = []CertificateType{CertTypeRawPublicKey}
	sc.Bugs.DropExtensions = []uint16{extServerCertType}
	sc.Bugs.ExtraExtensions[typeEncryptedExtensions] = []Extension{{extServerCertType, []byte{0}}} // X.509
	_, _, cerr, _ := runPair(t, cc, sc)
	expectAlert(t, cerr, AlertIllegalParameter, true)
}
