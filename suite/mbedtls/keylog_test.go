package mbedtls_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/capture"
	"github.com/attested-tls/conformance/peers/contract"
)

// The mbedTLS peer's SSLKEYLOGFILE decrypts its handshake: the Go side
// records the connection as a pcap (peers/capture) and tshark, given only
// the mbedTLS peer's key log, shows the encrypted handshake messages, the
// attestation extension in them and the application data; without the
// key log it shows none of them.
func TestKeyLog(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatalf("tshark is needed (apt-get install tshark): %v", err)
	}
	cp := codepoint.Default()
	for _, c := range []struct {
		m      model
		mbRole contract.Role
		// ext is an extension that only the decrypted handshake shows:
		// ta-07's evidence_request or evidence_proposal in
		// EncryptedExtensions.
		ext  uint16
		ping string // the application data the mbedTLS peer sends
	}{
		{ta07Server, contract.Server, cp.TA07EvidenceRequest, "pong"},
		{ta07Client, contract.Client, cp.TA07EvidenceProposal, "ping"},
	} {
		t.Run(c.m.id()+"/mbedtls-"+string(c.mbRole), func(t *testing.T) {
			dir := t.TempDir()
			pcap := filepath.Join(dir, "handshake.pcap")
			f, err := os.Create(pcap)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Synthetic addresses: the capture is of the Go side's records.
			client := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 50000}
			server := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4433}
			goIsClient := c.mbRole == contract.Server
			local, remote := client, server
			if !goIsClient {
				local, remote = server, client
			}
			cw, err := capture.New(f, local, remote, goIsClient)
			if err != nil {
				t.Fatal(err)
			}
			r := runMixed(t, c.m, c.mbRole, goOptions{trace: cw})
			cw.Close()
			f.Close()
			wantSuccess(t, r, c.m.clientAttests == (c.mbRole == contract.Client))

			keylog := r.peer.cfg.KeyLog
			b, err := os.ReadFile(keylog)
			if err != nil {
				t.Fatalf("the mbedTLS peer wrote no key log: %v\n%s", err, r.describe())
			}
			for _, label := range []string{"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
				"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"} {
				if !strings.Contains(string(b), label+" ") {
					t.Fatalf("key log lacks %s:\n%s", label, b)
				}
			}
			ee := tshark(t, pcap, keylog, "tls.handshake.type == 8", "tls.handshake.extension.type")
			if !strings.Contains(ee, fmt.Sprint(c.ext)) {
				t.Fatalf("decrypted EncryptedExtensions show extensions %q, want %d among them", ee, c.ext)
			}
			// Certificate, CertificateVerify, Finished, and the data.
			msgs := tshark(t, pcap, keylog, "tls.handshake.type == 11 || tls.handshake.type == 15 || tls.handshake.type == 20 || data", "tls.handshake.type", "data.data")
			for _, typ := range []string{"11", "15", "20"} {
				if !strings.Contains(msgs, typ) {
					t.Fatalf("no handshake message of type %s decrypted: %q", typ, msgs)
				}
			}
			if !strings.Contains(msgs, fmt.Sprintf("%x", c.ping+"\n")) {
				t.Fatalf("decrypted application data %q lacks %q", msgs, c.ping)
			}
			if got := tshark(t, pcap, "", "tls.handshake.type == 8 || tls.handshake.type == 11", "tls.handshake.type"); got != "" {
				t.Fatalf("without the key log tshark still shows %q", got)
			}
		})
	}
}

// tshark prints fields of the packets matching filter in pcap, decrypted
// with keylog if it is not "".
func tshark(t *testing.T, pcap, keylog, filter string, fields ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	args := []string{"-n", "-r", pcap, "-d", "tcp.port==4433,tls", "-Y", filter, "-T", "fields"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	if keylog != "" {
		args = append([]string{"-o", "tls.keylog_file:" + keylog}, args...)
	}
	out, err := exec.CommandContext(ctx, "tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// A relying party accepts results only from the verifiers it is given
// (peers/CONTRACT.md, ATLS_TRUSTED_VERIFIERS): the mbedTLS relying party
// given another verifier's key rejects Veraison's EAR, however affirming,
// with the profile's failure alert, and no application data flows.
func TestUntrustedVerifier(t *testing.T) {
	w := env(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := attest.VerifierIdentity(&other.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := writeTrusted(w.dir, "untrusted-verifiers.json", attest.TrustedVerifier{ID: id, Key: &other.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m      model
		mbRole contract.Role
		want   tls13.AlertCode
	}{
		{ta07Client, contract.Server, alertBadCertificate},
		{ta07Server, contract.Client, alertBadCertificate},
		{pocClient, contract.Server, alertDecodeError},
	} {
		t.Run(c.m.id()+"/mbedtls-"+string(c.mbRole), func(t *testing.T) {
			r := runMixed(t, c.m, c.mbRole, goOptions{peer: func(cfg *contract.Config) { cfg.TrustedVerifiers = untrusted }})
			wantAlert(t, r, c.want)
			if v := r.outcome.Verdict; v == nil || v.Reason != "result.untrusted-verifier" {
				t.Fatalf("verdict %+v, want reason result.untrusted-verifier\n%s", v, r.describe())
			}
		})
	}
}

// ATLS_VERIFIER_KEY alone (no list) names the one verifier a relying
// party trusts: the mbedTLS relying party given Veraison's EAR key that
// way accepts its results.
func TestVerifierKey(t *testing.T) {
	w := env(t)
	spki, err := x509.MarshalPKIXPublicKey(w.svc.EARKey)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(w.dir, "veraison-ear-key.pem")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runMixed(t, ta07Client, contract.Server, goOptions{peer: func(cfg *contract.Config) {
		cfg.TrustedVerifiers, cfg.VerifierKey = "", key
	}})
	wantSuccess(t, r, false)
}
