package mbedtls_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/interop"
	"github.com/attested-tls/conformance/vectors/parser"
)

// The published parser vectors (vectors/parsers) reach the mbedTLS peer
// on the wire through the pair specs every peer gets: suite/interop's
// Vectors generator (`conformance run --peer mbedtls --label-filter
// kind:vector`). What stays here is what a pair case cannot judge,
// because it ends with the in-process reference, not the peer, aborting
// (a case judges the peer's alert or a completed handshake):
//
//   - poc/evidence_proposal.client_hello.json #3, [NUMERIC 60] without
//     EAT: the PoC server answers with type NONE(0), as the fork's did, and
//     the Go client, which takes only EAT, then aborts. The answer is what
//     is checked.
//   - poc/evidence_proposal.encrypted_extensions.json #3, acceptable (an
//     empty nonce, which the fork's client takes): the peer may reject it
//     with decode_error, or attest, when the Go relying party (whose
//     verifier issued no empty nonce) rejects its evidence.
//
// TestVectorsLeftOut keeps this list and the generator's in step.

// leftOutHere are the vectors the generator leaves out for the mbedTLS
// peer that this file plays; vectorsLeftOut the rest, which nobody plays.
var leftOutHere = map[string]func(t *testing.T, tc parser.Test){
	"poc/evidence_proposal.client_hello.json#3":         pocNoEAT,
	"poc/evidence_proposal.encrypted_extensions.json#3": pocEmptyNonce,
}

var vectorsLeftOut = map[string]string{
	"ta-07/cmw.json#15": "an empty CMW cannot be sent as a credential (cert_data<1..2^24-1>)",
	"poc/cmw.json#15":   "an empty CMW cannot be sent as a credential (cert_data<1..2^24-1>)",
	"ta-07/results.*":   "results_request/results_proposal belong to the passport model, which the peer does not claim",
}

// TestVectorsLeftOut: every vector the generator leaves out for the
// peer's manifest is played here or listed with a reason.
func TestVectorsLeftOut(t *testing.T) {
	m := mbedtlsManifest(t)
	out, err := interop.VectorsLeftOut(m)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for id, why := range out {
		key, listed := leftOutListed(id)
		if !listed {
			t.Errorf("%s: the generator leaves it out (%s), and it is neither played nor listed here", id, why)
		}
		seen[key] = true
	}
	for key := range leftOutHere {
		if !seen[key] {
			t.Errorf("%s: played here, but the generator plays it now: drop it", key)
		}
	}
	for key := range vectorsLeftOut {
		if !seen[key] {
			t.Errorf("%s: listed as left out, but the generator plays it now: drop it", key)
		}
	}
}

// leftOutListed finds id in leftOutHere or vectorsLeftOut, whose keys
// are IDs or, ending in "*", prefixes of IDs.
func leftOutListed(id string) (key string, ok bool) {
	if _, ok := leftOutHere[id]; ok {
		return id, true
	}
	for key := range vectorsLeftOut {
		if key == id || strings.HasSuffix(key, "*") && strings.HasPrefix(id, strings.TrimSuffix(key, "*")) {
			return key, true
		}
	}
	return "", false
}

// TestParserVectorsLeftOut plays the vectors of leftOutHere.
func TestParserVectorsLeftOut(t *testing.T) {
	for id, play := range leftOutHere {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			play(t, vectorTest(t, id))
		})
	}
}

func mbedtlsManifest(t *testing.T) *contract.Manifest {
	t.Helper()
	p, err := interop.LoadPeer(context.Background(), "mbedtls")
	if err != nil {
		t.Fatal(err)
	}
	return p.Manifest
}

// vectorTest reads test <file>#<tcId> of vectors/parsers.
func vectorTest(t *testing.T, id string) parser.Test {
	t.Helper()
	file, num, _ := strings.Cut(id, "#")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "vectors", "parsers", filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	var f parser.File
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			if fmt.Sprint(tc.TcID) == num {
				return tc
			}
		}
	}
	t.Fatalf("%s: no such vector", id)
	return parser.Test{}
}

// pocExtension replaces the Go side's poc evidence_proposal in message
// msg with data.
func pocExtension(msg uint8, data []byte, rec *received) goOptions {
	cp := codepoint.Default().PoCEvidenceProposal
	return goOptions{trace: rec, tlsBugs: tls13.Bugs{DropExtensions: []uint16{cp},
		ExtraExtensions: map[uint8][]tls13.Extension{msg: {{Type: cp, Data: data}}}}}
}

// pocNoEAT: the poc server offered no EAT answers NUMERIC NONE(0).
func pocNoEAT(t *testing.T, tc parser.Test) {
	rec := &received{}
	r := runMixed(t, pocClient, contract.Server, pocExtension(tls13.MsgClientHello, tc.Input, rec))
	body := wantReceived(t, r, rec, tls13.MsgEncryptedExtensions)
	ext, ok := extensionIn(body, codepoint.Default().PoCEvidenceProposal)
	if !ok || len(ext) < 3 || ext[0] != 0 || ext[1] != 0 || ext[2] != 0 {
		t.Fatalf("the peer's EncryptedExtensions answers %x, want NUMERIC NONE(0)\n%s", ext, r.describe())
	}
}

// pocEmptyNonce: the poc client rejects an empty nonce with the
// vector's alert, or attests to it and the Go relying party, whose
// verifier issued no empty nonce, ends the handshake.
func pocEmptyNonce(t *testing.T, tc parser.Test) {
	rec := &received{}
	r := runMixed(t, pocClient, contract.Client, pocExtension(tls13.MsgEncryptedExtensions, tc.Input, rec))
	code := tls13.AlertCode(tc.Alert.Code)
	if r.outcome.AlertSent != nil && r.outcome.AlertSent.Code == tc.Alert.Code {
		wantAlert(t, r, code)
		return
	}
	wantReceived(t, r, rec, tls13.MsgCertificate)
	wantGoRejected(t, r, code)
}

// TestDuplicateAttestationExtensions: RFC 8446 §4.2, "There MUST NOT be
// more than one extension of the same type in a given extension block":
// each attestation extension the peer parses, sent twice in the message
// it belongs to, is fatal illegal_parameter (patch 0008).
func TestDuplicateAttestationExtensions(t *testing.T) {
	cp := codepoint.Default()
	for _, c := range []struct {
		name string
		m    model
		role contract.Role
		ext  uint16
	}{
		{"client_hello/evidence_request", ta07Server, contract.Server, cp.TA07EvidenceRequest},
		{"client_hello/evidence_proposal", ta07Client, contract.Server, cp.TA07EvidenceProposal},
		{"client_hello/server_certificate_type", ta07Server, contract.Server, extServerCertType},
		{"client_hello/client_certificate_type", ta07Client, contract.Server, extClientCertType},
		{"encrypted_extensions/evidence_request", ta07Server, contract.Client, cp.TA07EvidenceRequest},
		{"encrypted_extensions/evidence_proposal", ta07Client, contract.Client, cp.TA07EvidenceProposal},
		{"encrypted_extensions/server_certificate_type", ta07Server, contract.Client, extServerCertType},
		{"encrypted_extensions/client_certificate_type", ta07Client, contract.Client, extClientCertType},
		{"client_hello/poc_evidence_proposal", pocClient, contract.Server, cp.PoCEvidenceProposal},
		{"encrypted_extensions/poc_evidence_proposal", pocClient, contract.Client, cp.PoCEvidenceProposal},
	} {
		t.Run(c.m.profile+"/"+c.name, func(t *testing.T) {
			t.Parallel()
			r := runMixed(t, c.m, c.role, goOptions{tlsBugs: tls13.Bugs{DuplicateExtensions: []uint16{c.ext}}})
			wantAlert(t, r, alertIllegalParameter)
		})
	}
}

// RFC 7250's extensions.
const (
	extClientCertType uint16 = 19
	extServerCertType uint16 = 20
)

// received records the handshake messages the Go side received.
type received struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (r *received) Message(sent bool, raw []byte) {
	if sent {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, bytes.Clone(raw))
}

func (r *received) Record(bool, []byte)   {}
func (r *received) Secret(string, []byte) {}

// wantReceived checks the peer sent a message of type typ and returns
// its body.
func wantReceived(t *testing.T, r run, rec *received, typ uint8) []byte {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range rec.msgs {
		if len(m) >= 4 && m[0] == typ {
			return m[4:]
		}
	}
	t.Fatalf("the Go side received no message of type %d from the peer\n%s", typ, r.describe())
	return nil
}

// wantGoRejected checks the peer accepted the input and went on, and it
// was the Go relying party that ended the handshake, with code: the
// peer sent no alert and received code, and no application data flowed.
func wantGoRejected(t *testing.T, r run, code tls13.AlertCode) {
	t.Helper()
	if r.outcome.AlertSent != nil {
		t.Fatalf("the peer sent alert %+v; it should have accepted the input\n%s", r.outcome.AlertSent, r.describe())
	}
	ae, ok := tls13.AsAlert(r.goSide.failure())
	if !ok || !ae.Sent || ae.Code != code {
		t.Fatalf("Go side: want alert %v sent, got %v\n%s", code, r.goSide.failure(), r.describe())
	}
	if r.outcome.AlertReceived == nil || r.outcome.AlertReceived.Code != int(code) || r.outcome.Handshake != contract.HandshakeFailed {
		t.Fatalf("peer: alert_received %+v, handshake %s; want %d, failed\n%s", r.outcome.AlertReceived, r.outcome.Handshake, code, r.describe())
	}
	if r.outcome.AppData != contract.AppDataNone || r.goSide.got != "" {
		t.Fatalf("application data flowed: peer %s, Go side got %q\n%s", r.outcome.AppData, r.goSide.got, r.describe())
	}
}

// extensionIn returns the data of extension ext in the body of an
// EncryptedExtensions message.
func extensionIn(body []byte, ext uint16) ([]byte, bool) {
	s := cryptobyte.String(body)
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return nil, false
	}
	for !exts.Empty() {
		var et uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&et) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, false
		}
		if et == ext {
			return data, true
		}
	}
	return nil, false
}
