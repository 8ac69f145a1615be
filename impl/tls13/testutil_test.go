package tls13

import (
	"bytes"
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
	"slices"
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

// newCA returns a self-signed CA certificate for key.
func newCA(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func getPKI(t testing.TB) *testPKI {
	pkiOnce.Do(func() {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ca := newCA(t, caKey, "test CA")
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

// records returns the records one side sent (or received) so far.
func (r *recorder) records(sent bool) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sent {
		return slices.Clone(r.sentRecords)
	}
	return slices.Clone(r.receivedRecords)
}

// countCCS counts the records that are change_cipher_spec on the wire
// (whatever their value; a protected one is application_data outside).
func countCCS(recs [][]byte) int {
	n := 0
	for _, r := range recs {
		if r[0] == recordChangeCipherSpec {
			n++
		}
	}
	return n
}

// expectCompatCCS requires what one side sent to carry D.4's dummy
// change_cipher_spec exactly once, right after its first handshake record
// (ClientHello, ServerHello or HelloRetryRequest), and then, after a
// HelloRetryRequest, the second hello in the clear, otherwise protected
// records. For a client that is "immediately before its second flight";
// for a server "immediately after its first handshake message".
func expectCompatCCS(t *testing.T, recs [][]byte, hrr bool) {
	t.Helper()
	next := recordApplicationData
	if hrr {
		next = recordHandshake
	}
	if len(recs) < 3 || recs[0][0] != recordHandshake || !bytes.Equal(recs[1], plainCCS(1)) || recs[2][0] != next || countCCS(recs) != 1 {
		t.Fatalf("want one change_cipher_spec 0x01 as the second record, followed by a record of type %d; records sent: %x", next, recs)
	}
}

func expectNoCCS(t *testing.T, recs [][]byte) {
	t.Helper()
	if n := countCCS(recs); n != 0 {
		t.Fatalf("%d change_cipher_spec records sent, want none", n)
	}
}

// readAlert reads from c and requires the peer's alert code, and no data
// (fail-closed), twice: the error must stick.
func readAlert(t *testing.T, c *Conn, code AlertCode) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 2 {
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if n > 0 {
			t.Fatalf("Read returned data %q, want alert %s", buf[:n], code)
		}
		expectAlert(t, err, code, false)
	}
}

// noData requires that c's Read fails without returning any data.
func noData(t *testing.T, c *Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); n > 0 || err == nil {
		t.Fatalf("Read returned %q, %v after a failed handshake", buf[:n], err)
	}
}

// lastMessage parses into m the last message of m's type in msgs (as a
// recorder keeps them); it fails if there is none.
func lastMessage(t *testing.T, msgs [][]byte, typ uint8, m handshakeMessage) {
	t.Helper()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i][0] == typ {
			if err := m.unmarshal(msgs[i]); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no handshake message of type %d", typ)
}

// must is an encoding a test builds from values that fit.
func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
