package mbedtls_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/vectors/parser"
)

// The published parser vectors (vectors/parsers) against the mbedTLS
// peer's own parsers, on the wire: the Go reference puts each input
// where the vector says it belongs (an extension's extension_data, the
// certificate type extensions of a whole message, the CMW in the
// Certificate) and the peer must react as the verdict says.
//
//   - invalid: the peer sends exactly the vector's alert, the handshake
//     fails on both sides and no application data flows (wantAlert).
//   - valid: the peer takes the input and acts on what it decodes to:
//     vectorPlacements[...].accept says, per structure, what that is on
//     the wire (the answer in its next flight, the negotiation alert the
//     draft requires for a well-formed offer it cannot meet, or a
//     complete handshake).
//   - acceptable: either; a rejection carries the vector's alert.
//
// Inputs the peer has no parser for are listed in vectorsNotApplicable
// with the reason; every file under vectors/parsers is in one table or
// the other.

// vectorPlacement says where a vector file's inputs go and which of the
// peer's parsers reads them.
type vectorPlacement struct {
	m      model
	mbRole contract.Role
	// accept checks the peer's reaction to a valid input.
	accept func(t *testing.T, r run, rec *received, tc parser.Test)
}

// vectorsNotApplicable are the vector files the peer has no parser for.
var vectorsNotApplicable = map[string]string{
	"ta-07/results.client_hello.json":         "results_request carries the passport model, which the peer does not implement (manifest: background check only); it ignores the extension like any unknown one",
	"ta-07/results.encrypted_extensions.json": "results_request/results_proposal answer a passport offer the peer never makes",
	"ea-07/*": "the peer does not implement ea-07 (manifest)",
}

// vectorTestsNotApplicable are single inputs of an applicable file that
// cannot reach the parser they are about.
var vectorTestsNotApplicable = map[string]string{
	"ta-07/cmw.json#15": "an empty CMW would be an empty cert_data, which RFC 8446's CertificateEntry (cert_data<1..2^24-1>) rejects first: the Go reference cannot send it as a credential",
	"poc/cmw.json#15":   "an empty CMW would be an empty cert_data, which RFC 8446's CertificateEntry (cert_data<1..2^24-1>) rejects first: the Go reference cannot send it as a credential",
	"ta-07/certificate_type.json#11": "both certificate types in EncryptedExtensions need a client that offered both, i.e. mutual attestation, " +
		"which the peer's manifest does not admit; its client rejects the unsolicited one with unsupported_extension (RFC 8446 §4.2)",
}

var vectorPlacements = map[string]vectorPlacement{
	// The mbedTLS server attests: its ClientHello parser reads
	// evidence_request. Offered our type, it answers in
	// EncryptedExtensions and attests, bound to the vector's nonce,
	// which the Go relying party (whose verifier issued another) then
	// refuses; not offered, §8.1.2's unsupported_evidence.
	"ta-07/evidence_request.client_hello.json": {ta07Server, contract.Server, func(t *testing.T, r run, rec *received, tc parser.Test) {
		if !ta07Offers(t, tc, "supported_evidence_types") {
			wantAlert(t, r, alertUnsupportedEvidence)
			return
		}
		if wantTPMLimit(t, r, tc) {
			return
		}
		wantAnswer(t, r, rec, tls13.MsgEncryptedExtensions, codepoint.Default().TA07EvidenceRequest, ta07OurType())
		wantGoRejected(t, r, alertBadCertificate)
	}},
	// The mbedTLS server appraises: evidence_proposal in ClientHello.
	// With our type the handshake completes (the Go client attests to
	// the peer's nonce); without it, unsupported_evidence.
	"ta-07/evidence_proposal.client_hello.json": {ta07Client, contract.Server, func(t *testing.T, r run, rec *received, tc parser.Test) {
		if !ta07Offers(t, tc, "supported_evidence_types") {
			wantAlert(t, r, alertUnsupportedEvidence)
			return
		}
		wantSuccess(t, r, false)
	}},
	// The mbedTLS client appraises: the server's selection in
	// EncryptedExtensions. Our type: the handshake completes; any other
	// well-formed type was not offered: illegal_parameter (§8.1.2).
	"ta-07/evidence_request.encrypted_extensions.json": {ta07Server, contract.Client, func(t *testing.T, r run, rec *received, tc parser.Test) {
		if !ta07Offers(t, tc, "selected_evidence_type") {
			wantAlert(t, r, alertIllegalParameter)
			return
		}
		wantSuccess(t, r, false)
	}},
	// The mbedTLS client attests: the selection and nonce in
	// EncryptedExtensions. Our type: it attests, bound to the vector's
	// nonce, which the Go relying party refuses; another type:
	// illegal_parameter.
	"ta-07/evidence_proposal.encrypted_extensions.json": {ta07Client, contract.Client, func(t *testing.T, r run, rec *received, tc parser.Test) {
		if !ta07Offers(t, tc, "selected_evidence_type") {
			wantAlert(t, r, alertIllegalParameter)
			return
		}
		if wantTPMLimit(t, r, tc) {
			return
		}
		wantReceived(t, r, rec, tls13.MsgCertificate)
		wantGoRejected(t, r, alertBadCertificate)
	}},
	// client_certificate_type / server_certificate_type: placed per
	// test (certTypeModel); a valid one completes the handshake.
	"ta-07/certificate_type.json": {accept: func(t *testing.T, r run, rec *received, tc parser.Test) {
		m, role := certTypeModel(t, tc)
		wantSuccess(t, r, (role == contract.Client) == m.clientAttests)
	}},
	// The mbedTLS server appraises the Go client's CMW. The inputs hold
	// no real evidence, so every one ends in the profile's rejection
	// alert; a valid CMW must get past the peer's CMW parser, which its
	// verdict's reason tells (payload.malformed is the CMW parser's).
	"ta-07/cmw.json": {ta07Client, contract.Server, func(t *testing.T, r run, rec *received, tc parser.Test) {
		wantAlert(t, r, alertBadCertificate)
		wantCMWParsed(t, r)
	}},
	"poc/cmw.json": {pocClient, contract.Server, func(t *testing.T, r run, rec *received, tc parser.Test) {
		wantAlert(t, r, alertDecodeError)
		wantCMWParsed(t, r)
	}},
	// The poc server (appraises): extension 100 in ClientHello. EAT
	// offered: the handshake completes; not offered: the peer still
	// answers, with type NONE(0), as the fork's server did.
	"poc/evidence_proposal.client_hello.json": {pocClient, contract.Server, func(t *testing.T, r run, rec *received, tc parser.Test) {
		var d struct {
			ContentFormats []int `json:"content_formats"`
		}
		decode(t, tc, &d)
		for _, cf := range d.ContentFormats {
			if cf == 1 {
				wantSuccess(t, r, false)
				return
			}
		}
		body := wantReceived(t, r, rec, tls13.MsgEncryptedExtensions)
		ext, ok := extensionIn(body, codepoint.Default().PoCEvidenceProposal)
		if !ok || len(ext) < 3 || ext[0] != 0 || ext[1] != 0 || ext[2] != 0 {
			t.Fatalf("the peer's EncryptedExtensions answers %x, want NUMERIC NONE(0)\n%s", ext, r.describe())
		}
	}},
	// The poc client (attests): extension 100 in EncryptedExtensions.
	// It attests, bound to the vector's nonce, which the Go relying
	// party refuses (decode_error, as the fork did).
	"poc/evidence_proposal.encrypted_extensions.json": {pocClient, contract.Client, func(t *testing.T, r run, rec *received, tc parser.Test) {
		wantReceived(t, r, rec, tls13.MsgCertificate)
		wantGoRejected(t, r, alertDecodeError)
	}},
}

// knownDisagreements are vectors the peer does not pass today: the
// reason, and what the peer does instead, which the spec asserts (so a
// fix shows up as a failure that asks to drop the entry). None today: the
// last, six valid CMW forms the peer's reader refused, went with
// peer/cmw.c.
var knownDisagreements = map[string]knownDisagreement{}

type knownDisagreement struct {
	why   string
	check func(t *testing.T, r run)
}

func TestParserVectors(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "vectors", "parsers")
	paths, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no parser vectors under %s: %v", dir, err)
	}
	tally := newVectorTally()
	var jobs []vectorJob
	t.Cleanup(func() { t.Log("\n" + tally.String()) })
	for _, path := range paths {
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if why, ok := notApplicable(rel); ok {
			t.Logf("%s: not applicable: %s", rel, why)
			continue
		}
		pl, ok := vectorPlacements[rel]
		if !ok {
			t.Errorf("%s: neither placed nor listed as not applicable", rel)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f parser.File
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, g := range f.TestGroups {
			for _, tc := range g.Tests {
				id := fmt.Sprintf("%s#%d", rel, tc.TcID)
				if why, ok := vectorTestsNotApplicable[id]; ok {
					t.Logf("%s: not applicable: %s", id, why)
					continue
				}
				name := fmt.Sprintf("%s/tc%d-%s", strings.TrimSuffix(rel, ".json"), tc.TcID, tc.Result)
				known, isKnown := knownDisagreements[id]
				jobs = append(jobs, vectorJob{name, func(t *testing.T) {
					defer func() { tally.add(rel, id, !isKnown && !t.Failed()) }()
					p := pl // each run its own copy: they run concurrently
					if isKnown {
						t.Logf("known disagreement: %s", known.why)
						p.accept = func(t *testing.T, r run, _ *received, _ parser.Test) { known.check(t, r) }
					}
					vectorRun(t, p, g, tc)
				}})
			}
		}
	}
	runVectorJobs(t, jobs)
}

// vectorJob is one vector's subtest.
type vectorJob struct {
	name string
	f    func(*testing.T)
}

// runVectorJobs runs the subtests ATLS_VECTOR_WORKERS (default 4) at a
// time, whatever go test's -parallel: each is a peer process or
// container and a handshake, mostly waiting. (t.Run may be called from
// several goroutines at once.)
func runVectorJobs(t *testing.T, jobs []vectorJob) {
	workers := 4
	if n, err := strconv.Atoi(os.Getenv("ATLS_VECTOR_WORKERS")); err == nil && n > 0 {
		workers = n
	}
	next := make(chan vectorJob)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				t.Run(j.name, j.f)
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
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

// vectorRun puts one vector on the wire and checks the peer's reaction
// against its verdict.
func vectorRun(t *testing.T, pl vectorPlacement, g parser.Group, tc parser.Test) {
	m, role, o := pl.m, pl.mbRole, goOptions{}
	switch g.Type {
	case "ExtensionData":
		msg := messageType(t, g.Message)
		cp := uint16(g.Extension.Codepoint)
		o.tlsBugs = tls13.Bugs{DropExtensions: []uint16{cp},
			ExtraExtensions: map[uint8][]tls13.Extension{msg: {{Type: cp, Data: tc.Input}}}}
	case "HandshakeMessage":
		m, role = certTypeModel(t, tc)
		msg, exts := certTypeExtensions(t, tc.Input)
		o.tlsBugs = tls13.Bugs{DropExtensions: []uint16{extClientCertType, extServerCertType},
			ExtraExtensions: map[uint8][]tls13.Extension{msg: exts}}
	case "CMW":
		o.bugs = party.Bugs{ReplayPayload: tc.Input}
	default:
		t.Fatalf("group type %q has no placement", g.Type)
	}
	rec := &received{}
	o.trace = rec
	r := runMixed(t, m, role, o)
	switch tc.Result {
	case parser.Invalid:
		wantAlert(t, r, tls13.AlertCode(tc.Alert.Code))
	case parser.Acceptable:
		if r.outcome.AlertSent != nil && r.outcome.AlertSent.Code == tc.Alert.Code {
			wantAlert(t, r, tls13.AlertCode(tc.Alert.Code))
			return
		}
		pl.accept(t, r, rec, tc)
	case parser.Valid:
		pl.accept(t, r, rec, tc)
	default:
		t.Fatalf("result %q", tc.Result)
	}
}

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

func (r *received) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs
}

// first returns the body of the first received message of type typ.
func (r *received) first(typ uint8) ([]byte, bool) {
	for _, m := range r.all() {
		if len(m) >= 4 && m[0] == typ {
			return m[4:], true
		}
	}
	return nil, false
}

// wantReceived checks the peer sent a message of type typ and returns
// its body.
func wantReceived(t *testing.T, r run, rec *received, typ uint8) []byte {
	t.Helper()
	body, ok := rec.first(typ)
	if !ok {
		t.Fatalf("the Go side received no message of type %d from the peer\n%s", typ, r.describe())
	}
	return body
}

// wantAnswer checks the peer's message typ carries extension ext with
// body data.
func wantAnswer(t *testing.T, r run, rec *received, typ uint8, ext uint16, data []byte) {
	t.Helper()
	got, ok := extensionIn(wantReceived(t, r, rec, typ), ext)
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("the peer's message %d carries extension %#x = %x (present %v), want %x\n%s", typ, ext, got, ok, data, r.describe())
	}
}

// wantGoRejected checks the peer accepted the vector and went on, and it
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

// wantCMWParsed checks the peer's verdict blames the evidence, not the
// CMW around it.
func wantCMWParsed(t *testing.T, r run) {
	t.Helper()
	if r.outcome.Verdict == nil || r.outcome.Verdict.Reason == "" || r.outcome.Verdict.Reason == "payload.malformed" {
		t.Fatalf("the peer's verdict %+v: its CMW parser rejected a valid CMW\n%s", r.outcome.Verdict, r.describe())
	}
}

// maxQualifyingData is what a TPM takes as TPM2_Certify/TPM2_Quote
// qualifyingData (TPMU_HA with SHA-512), the Go TPM attester's limit too.
const maxQualifyingData = 64

// wantTPMLimit handles a well-formed ta-07 nonce longer than a TPM can
// bind (nonce<8..2^8-1> allows 255 bytes): the peer's parser takes it,
// and its TPM attester, like the Go reference's, cannot put it in
// qualifyingData, so the handshake ends with internal_error. It reports
// whether the nonce was that long.
func wantTPMLimit(t *testing.T, r run, tc parser.Test) bool {
	t.Helper()
	var d struct {
		Nonce string `json:"nonce"`
	}
	decode(t, tc, &d)
	if len(d.Nonce)/2 <= maxQualifyingData {
		return false
	}
	wantAlert(t, r, tls13.AlertInternalError)
	return true
}

// ta07OurType is the one EvidenceType the peer supports, encoded:
// ATTESTATION(0), MEDIA_TYPE(1), the Parsec TPM media type.
func ta07OurType() []byte {
	var b cryptobyte.Builder
	b.AddUint8(0)
	b.AddUint8(1)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(parsectpm.MediaType)) })
	return b.BytesOrPanic()
}

// ta07Type is an EvidenceType as the vectors decode it.
type ta07Type struct {
	CredentialKind string `json:"credential_kind"`
	TypeEncoding   string `json:"type_encoding"`
	MediaType      string `json:"media_type"`
}

func (e ta07Type) ours() bool {
	return e.CredentialKind == "ATTESTATION" && e.TypeEncoding == "MEDIA_TYPE" && e.MediaType == parsectpm.MediaType
}

// ta07Offers says whether the decoded field (a list or a single
// EvidenceType) holds the peer's type.
func ta07Offers(t *testing.T, tc parser.Test, field string) bool {
	t.Helper()
	var d map[string]json.RawMessage
	decode(t, tc, &d)
	raw, ok := d[field]
	if !ok {
		t.Fatalf("decoded has no %s: %s", field, tc.Decoded)
	}
	var list []ta07Type
	if err := json.Unmarshal(raw, &list); err != nil {
		var one ta07Type
		if err := json.Unmarshal(raw, &one); err != nil {
			t.Fatalf("decoded %s: %v", field, err)
		}
		list = []ta07Type{one}
	}
	for _, e := range list {
		if e.ours() {
			return true
		}
	}
	return false
}

func decode(t *testing.T, tc parser.Test, v any) {
	t.Helper()
	if err := json.Unmarshal(tc.Decoded, v); err != nil {
		t.Fatalf("tc %d decoded: %v", tc.TcID, err)
	}
}

func messageType(t *testing.T, name string) uint8 {
	t.Helper()
	switch name {
	case "client_hello":
		return tls13.MsgClientHello
	case "encrypted_extensions":
		return tls13.MsgEncryptedExtensions
	}
	t.Fatalf("no placement for extensions of %q", name)
	return 0
}

// RFC 7250's extensions.
const (
	extClientCertType uint16 = 19
	extServerCertType uint16 = 20
)

// certTypeModel places a certificate_type vector: a message carrying
// only client_certificate_type goes where the client attests, any other
// where the server does; a ClientHello to the mbedTLS server,
// EncryptedExtensions to the mbedTLS client.
func certTypeModel(t *testing.T, tc parser.Test) (model, contract.Role) {
	t.Helper()
	msg, exts := certTypeExtensions(t, tc.Input)
	m := ta07Server
	if len(exts) == 1 && exts[0].Type == extClientCertType {
		m = ta07Client
	}
	if msg == tls13.MsgClientHello {
		return m, contract.Server
	}
	return m, contract.Client
}

// certTypeExtensions returns a vector message's type and its certificate
// type extensions, in order.
func certTypeExtensions(t *testing.T, msg []byte) (uint8, []tls13.Extension) {
	t.Helper()
	s := cryptobyte.String(msg)
	var typ uint8
	var body, exts cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		t.Fatalf("vector message %x does not parse", msg)
	}
	switch typ {
	case tls13.MsgClientHello:
		var v uint16
		var sid, suites, comp cryptobyte.String
		if !body.ReadUint16(&v) || !body.Skip(32) || !body.ReadUint8LengthPrefixed(&sid) ||
			!body.ReadUint16LengthPrefixed(&suites) || !body.ReadUint8LengthPrefixed(&comp) {
			t.Fatalf("vector ClientHello %x does not parse", msg)
		}
	case tls13.MsgEncryptedExtensions:
	default:
		t.Fatalf("vector message type %d", typ)
	}
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		t.Fatalf("vector message %x: extensions do not parse", msg)
	}
	var out []tls13.Extension
	for !exts.Empty() {
		var et uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&et) || !exts.ReadUint16LengthPrefixed(&data) {
			t.Fatalf("vector message %x: extensions do not parse", msg)
		}
		if et == extClientCertType || et == extServerCertType {
			out = append(out, tls13.Extension{Type: et, Data: bytes.Clone(data)})
		}
	}
	if len(out) == 0 {
		t.Fatalf("vector message %x carries no certificate type extension", msg)
	}
	return typ, out
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

func notApplicable(rel string) (string, bool) {
	if why, ok := vectorsNotApplicable[rel]; ok {
		return why, true
	}
	why, ok := vectorsNotApplicable[strings.SplitN(rel, "/", 2)[0]+"/*"]
	return why, ok
}

// vectorTally counts, per file, the vectors run and those the peer
// agreed with.
type vectorTally struct {
	mu         sync.Mutex
	ran, agree map[string]int
	disagree   []string
}

func newVectorTally() *vectorTally {
	return &vectorTally{ran: map[string]int{}, agree: map[string]int{}}
}

func (v *vectorTally) add(file, id string, agreed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ran[file]++
	if agreed {
		v.agree[file]++
	} else {
		v.disagree = append(v.disagree, id)
	}
}

func (v *vectorTally) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var files []string
	for f := range v.ran {
		files = append(files, f)
	}
	sort.Strings(files)
	var b strings.Builder
	fmt.Fprintf(&b, "%-52s %5s %6s\n", "parser vectors vs the mbedTLS peer", "ran", "agree")
	for _, f := range files {
		fmt.Fprintf(&b, "%-52s %5d %6d\n", f, v.ran[f], v.agree[f])
	}
	sort.Strings(v.disagree)
	fmt.Fprintf(&b, "disagreements: %v\n", v.disagree)
	return b.String()
}
