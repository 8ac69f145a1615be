package interop

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"

	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/vectors/gen/parser"
)

// The parser vectors on the wire: every published parser vector
// (vectors/parsers/<profile>/<structure>.json) that the peer's manifest
// lets the reference send is played against the peer in one case of the
// vector's profile. The in-process reference puts the vector's bytes
// where the vector says they belong — an extension's extension_data
// (tls13.Bugs DropExtensions plus ExtraExtensions, in the message the
// vector names), the certificate type extensions of a whole message
// (HandshakeMessage groups: the same, for both RFC 7250 extensions), the
// extension of the leaf CertificateEntry (party.Bugs.OmitPayload plus
// tls13.Bugs.ExtraEntryExtensions) or the CMW where its attestation goes
// (party.Bugs.ReplayPayload) — and the peer must react as the verdict
// says:
//
//   - invalid: the peer aborts with the vector's alert (ExpectAborts).
//   - valid: the peer acts on what the input decodes to, per structure
//     (vectorRules): the handshake completes with the decoded value in
//     force (its answer in the next flight is checked, and a nonce is
//     bound: the reference's verifier hands out the vector's nonce, so
//     its appraisal holds the peer's evidence to it), or the peer sends
//     the alert the draft prescribes for a well-formed value it cannot
//     meet (nothing in common, a selection it did not offer, a nonce no
//     TPM can bind, a CMW whose evidence does not appraise).
//   - acceptable: either is conformant. A case judges one outcome, so
//     only the CMW inputs are played: accepted or not, the CMW holds no
//     evidence that appraises, and the peer sends the vector's alert.
//
// What a peer offers and selects is predicted from the contract: its
// evidence is Parsec TPM evidence (parsectpm.MediaType), named by media
// type, with the credential kind of its side's credential. Every case
// also checks that the reference put the vector's bytes on the wire
// (placeVector's check). An input equal to what the reference sends
// anyway (vectorRule.own) is left in place: DropExtensions drops an
// extension from every message, and ea-07's remoteAttestation also
// travels in the Certificate of an attesting reference.
//
// Which case carries a vector: the first claimed case, in the manifest's
// matrix order (Matrix), whose model and peer role fit the vector's
// structure (vectorRule.fits: the peer reads the message the vector is
// about, from the side that sends it in that model). The order lists
// one-sided models before mutual ones, attestation-only before X.509 and
// background check before passport, so a vector runs once per profile,
// message and peer role, in the simplest model that has the message,
// rather than in every model: each case costs seconds in containers.
// The CMW vectors (and ea-07's Certificate extension) run once per
// profile, where the reference attests by background check and the peer
// only appraises: a CMW parser does not depend on the direction. Where
// a structure's placement depends on the input (certificate_type's
// extensions, ea-07's ClientHello lists: who attests), fits reads it,
// with alternatives in order of preference.
//
// Vectors no case can carry are left out with a reason (VectorsLeftOut):
// a model the manifest does not claim, an input that cannot reach the
// parser it is about, or an outcome a case cannot judge (the reference,
// not the peer, would abort).

func init() { generators = append(generators, Vectors) }

// parserVectors are the published parser vector files, sorted by path:
// what `conformance vectors generate` writes to vectors/parsers, which
// `conformance vectors check` (and make test) keeps byte-identical to the
// committed files. Taking them from the generator spares a run the path
// to the checkout.
var parserVectors = sync.OnceValues(func() ([]vectorFile, error) {
	files, err := parser.Generate()
	if err != nil {
		return nil, err
	}
	var out []vectorFile
	for path, f := range files {
		out = append(out, vectorFile{name: strings.TrimPrefix(path, "parsers/"), File: f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
})

// vectorFile is one parser vector file; name is <profile>/<structure>.json.
type vectorFile struct {
	name string
	parser.File
}

// vectorPlan is where one parser vector goes for a manifest: its case,
// or why there is none.
type vectorPlan struct {
	id string // <profile>/<structure>.json#<tcId>
	// carrier is the claimed case the vector's case derives from.
	carrier Case
	k       Case
	skip    string
}

// vectorPlans places every vector of the profiles m claims.
func vectorPlans(m *contract.Manifest) ([]vectorPlan, error) {
	files, err := parserVectors()
	if err != nil {
		return nil, fmt.Errorf("parser vectors: %w", err)
	}
	matrix := Matrix(m, false)
	var out []vectorPlan
	for _, f := range files {
		if !slices.Contains(m.Profiles, f.Profile) {
			continue
		}
		rule, ok := vectorRules[f.name]
		for _, g := range f.TestGroups {
			for _, tc := range g.Tests {
				p := vectorPlan{id: f.name + "#" + strconv.Itoa(tc.TcID)}
				if !ok {
					p.skip = "no placement for this structure"
				} else {
					p.carrier, p.k, p.skip = planVector(m, matrix, f, rule, g, tc)
				}
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// planVector finds the case that carries tc and builds its variant.
func planVector(m *contract.Manifest, matrix []Case, f vectorFile, rule vectorRule, g parser.Group, tc parser.Test) (carrier, k Case, skip string) {
	if g.Type == "CMW" && len(tc.Input) == 0 {
		return carrier, k, "an empty CMW cannot reach a CMW parser: its carrier's syntax (cert_data<1..2^24-1>, cmw_payload<1..2^24-1>) rejects it first"
	}
	fits, what := rule.fits(g, tc)
	found := false
	for _, fit := range fits {
		for _, c := range matrix {
			if c.Model.Profile == f.Profile && fit(c.Model, c.PeerRole) {
				carrier, found = c, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return carrier, k, "no claimed case has " + what
	}
	var want vectorWant
	switch tc.Result {
	case parser.Valid:
		want = rule.valid(carrier, g, tc)
	case parser.Acceptable:
		if g.Type != "CMW" {
			// Either outcome is the peer's to choose; each is judged.
			break
		}
		// A CMW: accepted or not, the evidence fails.
		want = vectorWant{alert: tls13.AlertCode(tc.Alert.Code), it: "whether it accepts the CMW or not: the evidence in it would not appraise"}
	default:
		want = vectorWant{alert: tls13.AlertCode(tc.Alert.Code)}
	}
	if want.skip != "" {
		return carrier, k, want.skip
	}
	k = withServices(m, Case{Model: carrier.Model, PeerRole: carrier.PeerRole, Timeout: carrier.Timeout}, false)
	structure := strings.TrimSuffix(f.Structure, ".json")
	k.Variant, k.Kind = fmt.Sprintf("vector-%s-%d", structure, tc.TcID), "vector"
	desc := fmt.Sprintf("the parser vector %s #%d, %s %q", f.name, tc.TcID, where(g), tc.Comment)
	switch {
	case tc.Result == parser.Acceptable && g.Type != "CMW":
		alert := tls13.AlertCode(tc.Alert.Code)
		k.Judge = expectEither(alert)
		k.It = fmt.Sprintf("takes %s, or rejects it with %s (either is allowed)", desc, alert)
	case want.refAborts:
		k.Judge = expectReferenceAborts
		k.It = fmt.Sprintf("takes %s: it %s, which the reference cannot take", desc, want.it)
	case want.alert != 0:
		k.Negative = &Negative{Alert: want.alert}
		k.It = fmt.Sprintf("rejects %s with %s", desc, want.alert)
		if want.it != "" {
			k.It += " (" + want.it + ")"
		}
	default:
		k.It = fmt.Sprintf("accepts %s and completes the handshake: it %s", desc, want.it)
	}
	tweak, sent, err := placeVector(carrier, rule, g, tc, want)
	if err != nil {
		return carrier, Case{}, err.Error()
	}
	k.Reference.Tweak = tweak
	check := want.check
	k.Check = func(c Case, r *Result) {
		GinkgoHelper()
		sent(r)
		if check != nil {
			check(c, r)
		}
	}
	return carrier, k, ""
}

// where names the place of a group's inputs.
func where(g parser.Group) string {
	msg := map[string]string{"client_hello": "ClientHello", "encrypted_extensions": "EncryptedExtensions",
		"certificate_request": "CertificateRequest", "certificate": "Certificate"}[g.Message]
	switch {
	case g.Type == "CMW":
		return "a CMW in the " + msg
	case g.Type == "HandshakeMessage":
		return "certificate types in the " + msg
	case g.Extension != nil:
		return g.Extension.Name + " in the " + msg
	}
	return msg
}

// Vectors is the parser vectors' cases carried by claimed case c (see
// the rule above: each vector goes to one claimed case).
func Vectors(m *contract.Manifest, c Case) []Case {
	plans, err := vectorPlans(m)
	if err != nil {
		// Only when the parsers disagree with their own vectors (make
		// test fails then): one spec says so, on the first claimed case.
		if mx := Matrix(m, false); len(mx) > 0 && mx[0].Model == c.Model && mx[0].PeerRole == c.PeerRole {
			k := withServices(m, Case{Model: c.Model, PeerRole: c.PeerRole, Timeout: c.Timeout}, false)
			k.Variant, k.Kind, k.It, k.Unrunnable = "vectors", "vector", "plays the parser vectors", err.Error()
			return []Case{k}
		}
		return nil
	}
	var out []Case
	for _, p := range plans {
		if p.skip == "" && p.carrier.Model == c.Model && p.carrier.PeerRole == c.PeerRole {
			out = append(out, p.k)
		}
	}
	return out
}

// VectorsLeftOut says, for each parser vector of a profile m claims that
// no case carries, why (by <profile>/<structure>.json#<tcId>).
func VectorsLeftOut(m *contract.Manifest) (map[string]string, error) {
	plans, err := vectorPlans(m)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range plans {
		if p.skip != "" {
			out[p.id] = p.skip
		}
	}
	return out, nil
}
