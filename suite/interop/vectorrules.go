package interop

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
	"github.com/attested-tls/conformance/impl/attest/profile/poc"
	"github.com/attested-tls/conformance/impl/attest/profile/ta07"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/harness/wire"
	"github.com/attested-tls/conformance/vectors/gen/parser"
)

// maxQualifyingData is what a TPM takes as TPM2_Certify/TPM2_Quote
// qualifyingData (TPMU_HA with SHA-512): a well-formed ta-07 nonce
// (nonce<8..2^8-1>) or channel binder longer than that cannot be bound.
const maxQualifyingData = parsectpm.MaxQualifyingData

// RFC 7250's certificate type extensions.
const (
	extClientCertType uint16 = 19
	extServerCertType uint16 = 20
)

// caseFit says whether a case (its model and the peer's role) can carry
// a vector.
type caseFit func(m party.Model, peerRole contract.Role) bool

// vectorRule places one structure's inputs and says what a valid one
// makes the peer do.
type vectorRule struct {
	// fits lists, in order of preference, the cases that can carry tc,
	// and says what they are (for VectorsLeftOut).
	fits func(g parser.Group, tc parser.Test) (fits []caseFit, what string)
	// valid says what the peer does with a valid input in case k.
	valid func(k Case, g parser.Group, tc parser.Test) vectorWant
	// own, if set, is the body the reference sends itself in case k: an
	// input equal to it is left in place instead of replaced.
	own func(k Case) []byte
}

// vectorWant is what the peer must do with a vector.
type vectorWant struct {
	// alert, if set, is the alert the peer aborts with; otherwise the
	// handshake completes.
	alert tls13.AlertCode
	// it says why the peer sends alert, or what it does when the
	// handshake completes.
	it string
	// check, if set, checks the peer acted on the decoded value.
	check func(k Case, r *Result)
	// nonce, if set, is the nonce the reference's verifier issues, so
	// that its appraisal holds the peer's evidence to the vector's.
	nonce []byte
	// skip, if set, says why no case can judge the vector.
	skip string
	// refAborts: the peer answers and the reference, which cannot take
	// the answer, aborts; check judges the answer.
	refAborts bool
}

// sides are the reference's and the peer's sides of a model.
func sides(m party.Model, peerRole contract.Role) (ref, peer party.Side) {
	if peerRole == contract.Server {
		return m.Client, m.Server
	}
	return m.Server, m.Client
}

func bgSide(s party.Side) bool { return s.Attests && s.Topology == party.BackgroundCheck }

func ppSide(s party.Side) bool { return s.Attests && s.Topology == party.Passport }

func aoSide(s party.Side) bool { return s.Attests && s.Credential == party.AttestationOnly }

// fit is a caseFit: the peer plays role and ok holds for the sides.
func fit(role contract.Role, ok func(server, client party.Side) bool) caseFit {
	return func(m party.Model, r contract.Role) bool { return r == role && ok(m.Server, m.Client) }
}

// one is a structure every input of which goes to the same kind of case.
func one(f caseFit, what string) func(parser.Group, parser.Test) ([]caseFit, string) {
	return func(parser.Group, parser.Test) ([]caseFit, string) { return []caseFit{f}, what }
}

// refAppraised: the reference attests by background check and the peer
// only appraises it; where the CMW vectors (and ea-07's Certificate
// extension) go.
var refAppraised = one(func(m party.Model, r contract.Role) bool {
	ref, peer := sides(m, r)
	return bgSide(ref) && !peer.Attests
}, "the reference attesting by background check to a peer that only appraises")

// ta07Ours is the one EvidenceType of the contract's evidence (Parsec
// TPM) for a side with credential c.
func ta07Ours(c party.Credential) ta07.EvidenceType {
	kind := ta07.Attestation
	if c == party.X509 {
		kind = ta07.CertAttestation
	}
	return ta07.EvidenceType{CredentialKind: kind, Encoding: ta07.MediaType, MediaType: parsectpm.MediaType}
}

// ea07Ours is ea-07's scheme for the contract's evidence.
var ea07Ours = ea07.AttestationScheme{Mechanism: ea07.MechanismEvidence,
	Evidence: ea07.EvidenceType{Encoding: ea07.MediaType, MediaType: parsectpm.MediaType}}

// tpmLimit is a nonce longer than TPM evidence binds: refused when it is
// negotiated with unsupported_evidence (catalog TA07-I-6).
func tpmLimit(nonce []byte) vectorWant {
	return vectorWant{alert: defaults.TA07UnsupportedEvidence,
		it: fmt.Sprintf("refuses a %d-byte nonce its TPM cannot bind (qualifyingData holds at most %d bytes) with unsupported_evidence", len(nonce), maxQualifyingData)}
}

// cmwRejected is a CMW the peer parses (or may reject as a whole): the
// evidence in it does not appraise, so the peer sends its profile's
// rejection alert either way.
func cmwRejected(k Case, g parser.Group, tc parser.Test) vectorWant {
	a := describe(k.Model).Alerts.Rejected
	return vectorWant{alert: a, it: "the CMW parses, but the evidence in it does not appraise",
		// The verdict is the peer's own report, not wire evidence; a
		// peer using the reference's reason for a CMW it cannot parse
		// contradicts the vector.
		check: func(_ Case, r *Result) {
			GinkgoHelper()
			if o := r.Peer.Outcome; o != nil && o.Verdict != nil {
				Expect(o.Verdict.Reason).NotTo(Equal(string(party.ReasonMalformedPayload)),
					"the peer's verdict says its CMW parser refused a valid CMW\n%s", r.Describe())
			}
		}}
}

var vectorRules = map[string]vectorRule{
	// The server attests: its ClientHello parser reads evidence_request.
	// Offered its type, it answers in EncryptedExtensions and attests,
	// bound to the vector's nonce; not offered, unsupported_evidence
	// (§8.1.2).
	"ta-07/evidence_request.client_hello.json": {
		fits: one(fit(contract.Server, func(s, _ party.Side) bool { return bgSide(s) }), "the peer as a server attesting by background check"),
		valid: func(k Case, _ parser.Group, tc parser.Test) vectorWant {
			var x ta07.EvidenceRequestCH
			if err := x.Unmarshal(tc.Input); err != nil {
				return vectorWant{skip: "our codec refuses a valid vector: " + err.Error()}
			}
			ours := ta07Ours(k.Model.Server.Credential)
			if !slices.ContainsFunc(x.SupportedEvidenceTypes, ours.Equal) {
				return vectorWant{alert: defaults.TA07UnsupportedEvidence, it: fmt.Sprintf("none of the offered types is its own, %v", ours)}
			}
			if len(x.Nonce) > maxQualifyingData {
				return tpmLimit(x.Nonce)
			}
			return vectorWant{it: fmt.Sprintf("selects %v in EncryptedExtensions and attests bound to the vector's nonce", ours), nonce: x.Nonce,
				check: peerSelects(tls13.MsgEncryptedExtensions, defaults.TA07EvidenceRequest, "evidence_request", func(b []byte) (string, bool) {
					var ee ta07.EvidenceRequestEE
					err := ee.Unmarshal(b)
					return fmt.Sprint(ee.SelectedEvidenceType), err == nil && ee.SelectedEvidenceType.Equal(ours)
				})}
		},
	},
	// The client appraises the server: the server's selection in
	// EncryptedExtensions. Its own type: the handshake completes; any
	// other was not offered: illegal_parameter.
	"ta-07/evidence_request.encrypted_extensions.json": {
		fits: one(fit(contract.Client, func(s, _ party.Side) bool { return bgSide(s) }), "the peer as a client appraising a server's background check"),
		valid: func(k Case, _ parser.Group, tc parser.Test) vectorWant {
			var x ta07.EvidenceRequestEE
			if err := x.Unmarshal(tc.Input); err != nil {
				return vectorWant{skip: "our codec refuses a valid vector: " + err.Error()}
			}
			if ours := ta07Ours(k.Model.Server.Credential); !x.SelectedEvidenceType.Equal(ours) {
				return vectorWant{alert: tls13.AlertIllegalParameter, it: fmt.Sprintf("it offered only %v", ours)}
			}
			return vectorWant{it: "takes the selection and appraises the server's evidence of that type"}
		},
	},
	// The server appraises the client: evidence_proposal in ClientHello.
	// Its type offered: it selects it, with its own nonce, and the
	// handshake completes; not offered: unsupported_evidence.
	"ta-07/evidence_proposal.client_hello.json": {
		fits: one(fit(contract.Server, func(_, c party.Side) bool { return bgSide(c) }), "the peer as a server appraising a client's background check"),
		valid: func(k Case, _ parser.Group, tc parser.Test) vectorWant {
			var x ta07.EvidenceProposalCH
			if err := x.Unmarshal(tc.Input); err != nil {
				return vectorWant{skip: "our codec refuses a valid vector: " + err.Error()}
			}
			ours := ta07Ours(k.Model.Client.Credential)
			if !slices.ContainsFunc(x.SupportedEvidenceTypes, ours.Equal) {
				return vectorWant{alert: defaults.TA07UnsupportedEvidence, it: fmt.Sprintf("none of the proposed types is one it appraises, %v", ours)}
			}
			return vectorWant{it: fmt.Sprintf("selects %v in EncryptedExtensions with its nonce and appraises the client", ours),
				check: peerSelects(tls13.MsgEncryptedExtensions, defaults.TA07EvidenceProposal, "evidence_proposal", func(b []byte) (string, bool) {
					var ee ta07.EvidenceProposalEE
					err := ee.Unmarshal(b)
					return fmt.Sprint(ee.SelectedEvidenceType), err == nil && ee.SelectedEvidenceType.Equal(ours)
				})}
		},
	},
	// The client attests: the server's selection and nonce. Its type: it
	// attests bound to the vector's nonce; another: illegal_parameter.
	"ta-07/evidence_proposal.encrypted_extensions.json": {
		fits: one(fit(contract.Client, func(_, c party.Side) bool { return bgSide(c) }), "the peer as a client attesting by background check"),
		valid: func(k Case, _ parser.Group, tc parser.Test) vectorWant {
			var x ta07.EvidenceProposalEE
			if err := x.Unmarshal(tc.Input); err != nil {
				return vectorWant{skip: "our codec refuses a valid vector: " + err.Error()}
			}
			if ours := ta07Ours(k.Model.Client.Credential); !x.SelectedEvidenceType.Equal(ours) {
				return vectorWant{alert: tls13.AlertIllegalParameter, it: fmt.Sprintf("it proposed only %v", ours)}
			}
			if len(x.Nonce) > maxQualifyingData {
				return tpmLimit(x.Nonce)
			}
			return vectorWant{it: "attests bound to the vector's nonce", nonce: x.Nonce}
		},
	},
	// A passport server: results_request in ClientHello. The vectors'
	// identities are no verifier a peer gets results from:
	// unsupported_verifiers (§8.2.2).
	"ta-07/results.client_hello.json": {
		fits: one(fit(contract.Server, func(s, _ party.Side) bool { return ppSide(s) }), "the peer as a server attesting with a passport"),
		valid: func(Case, parser.Group, parser.Test) vectorWant {
			return vectorWant{alert: defaults.TA07UnsupportedVerifiers, it: "none of the verifiers is one it gets results from"}
		},
	},
	// A client relying on a passport: the server's selected verifier,
	// which it never offered: illegal_parameter.
	"ta-07/results.encrypted_extensions.json": {
		fits: one(fit(contract.Client, func(s, _ party.Side) bool { return ppSide(s) }), "the peer as a client appraising a server's passport"),
		valid: func(Case, parser.Group, parser.Test) vectorWant {
			return vectorWant{alert: tls13.AlertIllegalParameter, it: "it did not offer that verifier"}
		},
	},
	// RFC 7250 certificate types with "attestation": each message goes
	// where the types it names are negotiated (certTypeFits); a valid one
	// completes the handshake, the server's answer naming the types.
	"ta-07/certificate_type.json": {
		fits:  certTypeFits,
		valid: certTypeValid,
	},
	"ta-07/cmw.json": {fits: refAppraised, valid: cmwRejected},

	// ea-07's ClientHello goes to the server (certTypeFits' way: the lists
	// it fills say who attests); a scheme of the contract's evidence in
	// the list that counts completes, none: unsupported_attestation_schemes.
	"ea-07/remote_attestation.client_hello.json": {
		fits: func(_ parser.Group, tc parser.Test) ([]caseFit, string) {
			server := fit(contract.Server, func(s, c party.Side) bool { return bgSide(s) && !c.Attests })
			var x ea07.RemoteAttestationCH
			if tc.Result == parser.Valid && x.Unmarshal(tc.Input) == nil && len(x.ServerAttesterSchemes) == 0 && len(x.ClientAttesterSchemes) > 0 {
				return []caseFit{fit(contract.Server, func(s, c party.Side) bool { return bgSide(c) && !s.Attests })},
					"the peer as a server appraising a client's background check"
			}
			return []caseFit{server}, "the peer as a server attesting by background check"
		},
		valid: func(k Case, _ parser.Group, tc parser.Test) vectorWant {
			var x ea07.RemoteAttestationCH
			if err := x.Unmarshal(tc.Input); err != nil {
				return vectorWant{skip: "our codec refuses a valid vector: " + err.Error()}
			}
			list, msg, what := x.ServerAttesterSchemes, tls13.MsgEncryptedExtensions, "chosen_server_scheme"
			if k.Model.Client.Attests {
				list, msg, what = x.ClientAttesterSchemes, tls13.MsgCertificateRequest, "chosen_client_scheme"
			}
			if !ea07Ours.In(list) {
				return vectorWant{alert: defaults.EA07UnsupportedAttestationSchemes,
					it: fmt.Sprintf("the list holds no scheme it takes, %v", ea07Ours)}
			}
			return vectorWant{it: fmt.Sprintf("answers with %s %v and the attestation follows", what, ea07Ours),
				check: peerSelects(msg, defaults.EA07RemoteAttestation, what, func(b []byte) (string, bool) {
					if msg == tls13.MsgCertificateRequest {
						var cr ea07.RemoteAttestationCR
						err := cr.Unmarshal(b)
						return fmt.Sprint(cr.ChosenClientScheme), err == nil && cr.ChosenClientScheme.Equal(ea07Ours)
					}
					var ee ea07.RemoteAttestationEE
					err := ee.Unmarshal(b)
					return fmt.Sprint(ee.ChosenServerScheme), err == nil && ee.ChosenServerScheme.Equal(ea07Ours)
				})}
		},
		own: func(k Case) []byte {
			var x ea07.RemoteAttestationCH
			if bgSide(k.Model.Server) {
				x.ServerAttesterSchemes = []ea07.AttestationScheme{ea07Ours}
			}
			if bgSide(k.Model.Client) {
				x.ClientAttesterSchemes = []ea07.AttestationScheme{ea07Ours}
			}
			b, _ := x.Marshal()
			return b
		},
	},
	// The client appraises: chosen_server_scheme. Its own scheme
	// completes; any other was not offered: illegal_parameter (§7.4
	// names no alert).
	"ea-07/remote_attestation.encrypted_extensions.json": {
		fits: one(fit(contract.Client, func(s, _ party.Side) bool { return bgSide(s) }), "the peer as a client appraising a server's background check"),
		valid: ea07Chosen(func(b []byte) (ea07.AttestationScheme, error) {
			var x ea07.RemoteAttestationEE
			err := x.Unmarshal(b)
			return x.ChosenServerScheme, err
		}),
		own: func(Case) []byte {
			b, _ := ea07.RemoteAttestationEE{ChosenServerScheme: ea07Ours}.Marshal()
			return b
		},
	},
	// The client attests: chosen_client_scheme in CertificateRequest.
	"ea-07/remote_attestation.certificate_request.json": {
		fits: one(fit(contract.Client, func(_, c party.Side) bool { return bgSide(c) }), "the peer as a client attesting by background check"),
		valid: ea07Chosen(func(b []byte) (ea07.AttestationScheme, error) {
			var x ea07.RemoteAttestationCR
			err := x.Unmarshal(b)
			return x.ChosenClientScheme, err
		}),
	},
	// The leaf's remoteAttestation extension: a well-formed one hands its
	// CMW to the CMW parser, and that CMW holds no evidence that
	// appraises: attestation_failed (§5.1.2).
	"ea-07/remote_attestation.certificate.json": {
		fits: refAppraised,
		valid: func(Case, parser.Group, parser.Test) vectorWant {
			return vectorWant{alert: defaults.EA07AttestationFailed, it: "cmw_payload parses, but the attestation in it does not appraise"}
		},
	},
	"ea-07/cmw.json": {fits: refAppraised, valid: cmwRejected},

	// The poc server appraises: extension 100 in ClientHello. EAT offered:
	// it answers EAT with its nonce and the handshake completes.
	"poc/evidence_proposal.client_hello.json": {
		fits: one(fit(contract.Server, func(_, c party.Side) bool { return c.Attests }), "the peer as a server appraising a client"),
		valid: func(_ Case, _ parser.Group, tc parser.Test) vectorWant {
			var x poc.EvidenceProposalCH
			if err := x.Unmarshal(tc.Input); err != nil {
				return vectorWant{skip: "our codec refuses a valid vector: " + err.Error()}
			}
			if _, ok := x.SelectPoC(); !ok {
				// The reference client takes only EAT and aborts.
				return vectorWant{it: "answers NUMERIC NONE(0) in EncryptedExtensions, as the PoC server does without EAT", refAborts: true,
					check: peerSelects(tls13.MsgEncryptedExtensions, defaults.PoCEvidenceProposal, "evidence_proposal", func(b []byte) (string, bool) {
						var ee poc.EvidenceProposalEE
						err := ee.Unmarshal(b)
						return ee.String(), err == nil && ee.ContentFormat == poc.TypeNone
					})}
			}
			return vectorWant{it: "answers EAT with its nonce and appraises the client",
				check: peerSelects(tls13.MsgEncryptedExtensions, defaults.PoCEvidenceProposal, "evidence_proposal", func(b []byte) (string, bool) {
					var ee poc.EvidenceProposalEE
					err := ee.Unmarshal(b)
					return ee.String(), err == nil && ee.ContentFormat == poc.TypeEAT
				})}
		},
	},
	// The poc client attests: EAT and a nonce of at most 32 bytes.
	"poc/evidence_proposal.encrypted_extensions.json": {
		fits: one(fit(contract.Client, func(_, c party.Side) bool { return c.Attests }), "the peer as a client attesting"),
		valid: func(_ Case, _ parser.Group, tc parser.Test) vectorWant {
			var x poc.EvidenceProposalEE
			if err := x.Unmarshal(tc.Input); err != nil {
				return vectorWant{skip: "our codec refuses a valid vector: " + err.Error()}
			}
			return vectorWant{it: "attests bound to the vector's nonce", nonce: x.Nonce}
		},
	},
	"poc/cmw.json": {fits: refAppraised, valid: cmwRejected},

	// The xp-03 relying party reads cmw_attestation in the reference's
	// authenticator: a well-formed one holds no evidence that appraises
	// (some hold no CMW at all, so the peer's reason is not checked).
	"xp-03/cmw_attestation.certificate.json": {fits: refAppraised, valid: func(k Case, _ parser.Group, _ parser.Test) vectorWant {
		return vectorWant{alert: describe(k.Model).Alerts.Rejected, it: "cmw_attestation parses, but what cmw_data carries does not appraise"}
	}},
	"xp-03/cmw.json": {fits: refAppraised, valid: cmwRejected},
	// The frames are left out: the reference writes only the frames its
	// session makes, and a truncated or trailing frame on a stream reads
	// as another outcome than the vector's.
	"xp-03/frame.json": {fits: func(parser.Group, parser.Test) ([]caseFit, string) {
		return nil, "a place for a raw frame on the reference's application stream (the reference writes only the frames its session makes)"
	}},
}

// ea07Chosen judges a chosen scheme: the contract's evidence scheme (what
// the peer offered) completes, any other was not offered.
func ea07Chosen(read func([]byte) (ea07.AttestationScheme, error)) func(Case, parser.Group, parser.Test) vectorWant {
	return func(_ Case, _ parser.Group, tc parser.Test) vectorWant {
		sc, err := read(tc.Input)
		if err != nil {
			return vectorWant{skip: "our codec refuses a valid vector: " + err.Error()}
		}
		if !sc.Equal(ea07Ours) {
			return vectorWant{alert: tls13.AlertIllegalParameter, it: fmt.Sprintf("it offered only %v", ea07Ours)}
		}
		return vectorWant{it: "takes the chosen scheme and the attestation follows"}
	}
}

// certTypeFits places a certificate_type message: where the types it
// names are the attesting sides' (attestation-only), the peer reading it
// (a ClientHello: the server; EncryptedExtensions: the client). A
// ClientHello naming both goes to a mutual model or else to a server-
// attests one, whose server asks for no client certificate and so
// ignores client_certificate_type (RFC 7250 §4.2); EncryptedExtensions
// naming both needs a client that offered both: mutual only.
func certTypeFits(g parser.Group, tc parser.Test) ([]caseFit, string) {
	role := contract.Server
	if g.Message == "encrypted_extensions" {
		role = contract.Client
	}
	_, exts, err := certTypeExtensions(tc.Input)
	if err != nil {
		return nil, err.Error()
	}
	var srv, cli bool
	for _, e := range exts {
		srv = srv || e.Type == extServerCertType
		cli = cli || e.Type == extClientCertType
	}
	serverOnly := fit(role, func(s, c party.Side) bool { return aoSide(s) && !c.Attests })
	switch {
	case srv && cli && role == contract.Server:
		return []caseFit{fit(role, func(s, c party.Side) bool { return aoSide(s) && aoSide(c) }), serverOnly},
			"the peer as a server where the server attests with an attestation-only credential"
	case srv && cli:
		return []caseFit{fit(role, func(s, c party.Side) bool { return aoSide(s) && aoSide(c) })},
			"the peer as a client in a mutual model, both attestation-only (a client that offered both types)"
	case cli:
		return []caseFit{fit(role, func(s, c party.Side) bool { return aoSide(c) && !s.Attests })},
			fmt.Sprintf("the peer as %s where the client attests with an attestation-only credential", role)
	}
	return []caseFit{serverOnly}, fmt.Sprintf("the peer as %s where the server attests with an attestation-only credential", role)
}

// certTypeValid: the handshake completes; a server's EncryptedExtensions
// names "attestation" for each side that attests and omits
// client_certificate_type where it asks for no client certificate.
func certTypeValid(k Case, g parser.Group, tc parser.Test) vectorWant {
	if g.Message != "client_hello" {
		return vectorWant{it: "takes the certificate types and the attestation credentials follow"}
	}
	att := defaults.TA07AttestationCertType
	return vectorWant{it: "negotiates the attestation certificate type for each side that attests", check: func(_ Case, r *Result) {
		GinkgoHelper()
		ee := peerMessage(r, tls13.MsgEncryptedExtensions)
		for _, t := range []struct {
			ext     uint16
			attests bool
		}{{extServerCertType, k.Model.Server.Attests}, {extClientCertType, k.Model.Client.Attests}} {
			data, ok := ee.Extension(t.ext)
			switch {
			case t.attests:
				Expect(ok && bytes.Equal(data, []byte{att})).To(BeTrue(),
					"the peer's EncryptedExtensions carries extension %d = %x (present %v), want the attestation type %d\n%s", t.ext, data, ok, att, r.Describe())
			case t.ext == extClientCertType:
				Expect(ok).To(BeFalse(), "the peer's EncryptedExtensions carries client_certificate_type although it asks for no client certificate (RFC 7250 §4.2)\n%s", r.Describe())
			}
		}
	}}
}

// certTypeExtensions returns a vector message's type and its certificate
// type extensions, in order.
func certTypeExtensions(msg []byte) (uint8, []tls13.Extension, error) {
	all, err := wire.Message(msg).Extensions()
	if err != nil {
		return 0, nil, fmt.Errorf("the vector's message does not parse: %v", err)
	}
	var out []tls13.Extension
	for _, e := range all {
		if e.Type == extClientCertType || e.Type == extServerCertType {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return 0, nil, errors.New("the vector's message carries no certificate type extension")
	}
	return wire.Message(msg).Type(), out, nil
}

// peerMessage is the first handshake message of type typ the peer sent.
func peerMessage(r *Result, typ uint8) wire.Message {
	GinkgoHelper()
	return firstMessage(r, false, typ)
}

// peerSelects checks the peer's message typ carries extension ext (name)
// and that ok accepts it; ok also describes it.
func peerSelects(typ uint8, ext uint16, name string, ok func([]byte) (string, bool)) func(Case, *Result) {
	return func(_ Case, r *Result) {
		GinkgoHelper()
		data, present := peerMessage(r, typ).Extension(ext)
		Expect(present).To(BeTrue(), "the peer's message %d carries no %s\n%s", typ, name, r.Describe())
		got, good := ok(data)
		Expect(good).To(BeTrue(), "the peer's %s is %s (%x), not the value the vector offered it\n%s", name, got, data, r.Describe())
	}
}
