package tls13

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// testPKI is a CA with server and client leaves for tests.
type testPKI struct {
	caCert                         *x509.Certificate
	pool                           *x509.CertPool
	server, client                 Credential
	serverKey                      crypto.Signer
	serverRSA, server384, serverEd Credential
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

func newLeaf(t testing.TB, ca *x509.Certificate, caKey crypto.Signer, key crypto.Signer, cn string, eku x509.ExtKeyUsage) Credential {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{cn, "localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return Credential{Chain: [][]byte{der}, Signer: key}
}

func getPKI(t testing.TB) *testPKI {
	pkiOnce.Do(func() {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
		ca, _ := x509.ParseCertificate(caDER)
		p := &testPKI{caCert: ca, pool: x509.NewCertPool()}
		p.pool.AddCert(ca)
		sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p.serverKey = sk
		p.server = newLeaf(t, ca, caKey, sk, "server.test", x509.ExtKeyUsageServerAuth)
		ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p.client = newLeaf(t, ca, caKey, ck, "client.test", x509.ExtKeyUsageClientAuth)
		rk, _ := rsa.GenerateKey(rand.Reader, 2048)
		p.serverRSA = newLeaf(t, ca, caKey, rk, "server.test", x509.ExtKeyUsageServerAuth)
		k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		p.server384 = newLeaf(t, ca, caKey, k384, "server.test", x509.ExtKeyUsageServerAuth)
		_, ek, _ := ed25519.GenerateKey(rand.Reader)
		p.serverEd = newLeaf(t, ca, caKey, ek, "server.test", x509.ExtKeyUsageServerAuth)
		pki = p
	})
	return pki
}

func (p *testPKI) clientConfig() *Config {
	return &Config{ServerName: "server.test", RootCAs: p.pool}
}

func (p *testPKI) serverConfig() *Config {
	return &Config{Certificates: []Credential{p.server}, ClientCAs: p.pool}
}

// pipe returns a connected pair of loopback TCP connections (net.Pipe is
// synchronous and would deadlock a flight written before it is read).
func pipe(t testing.TB) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c2 := <-ch
	t.Cleanup(func() { c1.Close(); c2.Close() })
	return c1, c2
}
