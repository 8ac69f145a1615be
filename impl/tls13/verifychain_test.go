package tls13

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

// chainHooks validates the peer's chain through HookState.VerifyChain.
type chainHooks struct {
	NoHooks
	verified *PeerCertificate
}

func (h *chainHooks) VerifyPeerCertificate(hs *HookState, pc *PeerCertificate) error {
	if len(pc.Entries) == 0 {
		return nil
	}
	if err := hs.VerifyChain(pc); err != nil {
		return err
	}
	h.verified = pc
	return nil
}

// HookState.VerifyChain validates a chain the configuration would have
// the engine only parse (or skip), with the engine's alerts.
func TestHookVerifyChain(t *testing.T) {
	p := getPKI(t)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	strangerCA := newCA(t, caKey, "stranger CA")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger := newLeaf(t, strangerCA, caKey, key, "client.test", x509.ExtKeyUsageClientAuth)
	later := func() time.Time { return time.Now().Add(48 * time.Hour) }

	for _, tc := range []struct {
		name   string
		client bool // whose hook verifies
		setup  func(cc, sc *Config)
		want   AlertCode // 0: the handshake succeeds
	}{
		{"client chain", false, func(cc, sc *Config) {}, 0},
		{"client chain from an unknown CA", false, func(cc, sc *Config) { cc.Certificates = []Credential{stranger} }, AlertUnknownCA},
		{"expired client chain", false, func(cc, sc *Config) { sc.Time = later }, AlertCertificateExpired},
		{"server chain with InsecureSkipVerify", true, func(cc, sc *Config) {}, 0},
		{"server chain from an unknown CA", true, func(cc, sc *Config) { cc.RootCAs = x509.NewCertPool() }, AlertUnknownCA},
		{"server chain for another name", true, func(cc, sc *Config) { cc.ServerName = "other.test" }, AlertBadCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := p.clientConfig(), p.serverConfig()
			cc.Certificates = []Credential{p.client}
			cc.InsecureSkipVerify = true
			sc.ClientAuth = RequireAnyClientCert // parse only
			h := &chainHooks{}
			if tc.client {
				cc.NewHooks = func() Hooks { return h }
			} else {
				sc.NewHooks = func() Hooks { return h }
			}
			tc.setup(cc, sc)
			_, _, cerr, serr := runPair(t, cc, sc)
			err := serr
			if tc.client {
				err = cerr
			}
			if tc.want == 0 {
				if cerr != nil || serr != nil {
					t.Fatalf("client %v, server %v", cerr, serr)
				}
				if h.verified == nil || len(h.verified.Chain) == 0 || h.verified.PublicKey == nil {
					t.Fatalf("VerifyChain left %+v", h.verified)
				}
				return
			}
			if ae, ok := AsAlert(err); !ok || ae.Code != tc.want || !ae.Sent {
				t.Fatalf("%v, want %v sent", err, tc.want)
			}
		})
	}
}
