package tls13

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

// TestFlushBeforeCredential: with the option each side's flight is cut
// before its Certificate is built and before CertificateVerify is
// signed (two more server records, one more client record with client
// authentication), and the handshake messages stay byte for byte the
// same.
func TestFlushBeforeCredential(t *testing.T) {
	pki := getPKI(t)
	run := func(flush bool) (srv, cli *recorder) {
		cc, sc := pki.clientConfig(), pki.serverConfig()
		cc.Certificates = []Credential{pki.client}
		sc.ClientAuth = RequireAndVerifyClientCert
		for _, c := range []*Config{cc, sc} {
			c.Rand = bytes.NewReader(bytes.Repeat([]byte{7}, 4096))
			c.KeySharePrivate = func(CurveID) []byte { return bytes.Repeat([]byte{9}, 32) }
			c.DeterministicSignatures = true
			c.FlushBeforeCredential = flush
		}
		srv, cli = newRecorder(), newRecorder()
		sc.Trace, cc.Trace = srv, cli
		c, s, cerr, serr := runPair(t, cc, sc)
		if cerr != nil || serr != nil {
			t.Fatalf("flush=%v: client %v, server %v", flush, cerr, serr)
		}
		echo(t, c, s)
		return srv, cli
	}
	srv0, cli0 := run(false)
	srv1, cli1 := run(true)
	if got, want := len(srv1.records(true)), len(srv0.records(true))+2; got != want {
		t.Errorf("server records: %d flushed, want %d (batched %d)", got, want, len(srv0.records(true)))
	}
	if got, want := len(cli1.records(true)), len(cli0.records(true))+1; got != want {
		t.Errorf("client records: %d flushed, want %d (batched %d)", got, want, len(cli0.records(true)))
	}
	for _, side := range []struct {
		name   string
		before *recorder
		after  *recorder
	}{{"server", srv0, srv1}, {"client", cli0, cli1}} {
		b, a := side.before.sent, side.after.sent
		if len(a) != len(b) {
			t.Fatalf("%s sent %d messages flushed, %d batched", side.name, len(a), len(b))
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Errorf("%s message %d (type %d) differs when flushed", side.name, i, a[i][0])
			}
		}
	}
}

// refuseEE is a client that aborts on reading EncryptedExtensions.
type refuseEE struct{ NoHooks }

func (refuseEE) ReadEncryptedExtensions(*HookState, []Extension) error {
	return Alertf(AlertIllegalParameter, "refusing the server's extensions")
}

// TestAlertBehindARefusedFlight: a client that aborts after
// EncryptedExtensions closes with the rest of a cut flight unread, so
// the server's next write meets a reset; the server still reports the
// client's alert, which arrived before it.
func TestAlertBehindARefusedFlight(t *testing.T) {
	pki := getPKI(t)
	for range 20 { // the reset races the server's writes: try it often
		cc, sc := pki.clientConfig(), pki.serverConfig()
		cc.NewHooks = func() Hooks { return refuseEE{} }
		sc.FlushBeforeCredential = true
		_, _, cerr, serr := runPair(t, cc, sc)
		if ae, ok := AsAlert(cerr); !ok || !ae.Sent || ae.Code != AlertIllegalParameter {
			t.Fatalf("client: %v, want illegal_parameter sent", cerr)
		}
		if ae, ok := AsAlert(serr); !ok || ae.Sent || ae.Code != AlertIllegalParameter {
			t.Fatalf("server: %v, want illegal_parameter received", serr)
		}
	}
}

// TestAlertBehindApplicationData: a server that refuses the client's
// certificate aborts after the client's handshake is done; the client's
// application data then meets a reset, and Write reports the server's
// alert, which arrived before it (also when reading that alert makes the
// client write, as a Bugs knob asks: Write must not hold its lock then).
func TestAlertBehindApplicationData(t *testing.T) {
	pki := getPKI(t)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := newCA(t, caKey, "a CA the server does not trust")
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger := newLeaf(t, ca, caKey, ck, "client.test", x509.ExtKeyUsageClientAuth)
	for i := range 10 {
		cc, sc := pki.clientConfig(), pki.serverConfig()
		cc.Certificates = []Credential{stranger}
		sc.ClientAuth = RequireAndVerifyClientCert
		if i%2 == 1 {
			cc.Bugs.ApplicationDataAfterAlertReceived = []byte("late")
		}
		cli, _, cerr, serr := runPair(t, cc, sc)
		if cerr != nil {
			t.Fatalf("client handshake: %v", cerr)
		}
		if ae, ok := AsAlert(serr); !ok || !ae.Sent {
			t.Fatalf("server: %v, want an alert sent", serr)
		}
		var werr error
		for i := 0; i < 100 && werr == nil; i++ {
			_, werr = cli.Write(bytes.Repeat([]byte{'x'}, 1000))
			time.Sleep(time.Millisecond)
		}
		if ae, ok := AsAlert(werr); !ok || ae.Sent || ae.Code != AlertUnknownCA {
			t.Fatalf("client Write: %v, want unknown_ca received", werr)
		}
	}
}
