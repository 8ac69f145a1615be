package poc

import (
	"context"
	"fmt"
	"slices"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Name is the profile's name everywhere: API, CLI, peer contract, reports.
const Name = "poc"

// Profile is the CCC attested-tls-poc wire on the engine's hooks: the
// client attests with evidence the server's verifier appraises (background
// check); nothing else is defined, so every other model is ErrUnsupported.
//
// Flow: the ClientHello's extension 100 lists content formats (EAT only);
// the server answers in EncryptedExtensions with the chosen format and a
// nonce from its verifier (at most NonceLenMax bytes; the fork's server
// sent a fixed 00..07, a bug we do not copy) and sends a CertificateRequest;
// the client's Certificate carries the CMW as the cert_data of a single
// entry, under the engine's X.509 certificate type (the PoC negotiated none),
// and the server takes the attested key from the result to check
// CertificateVerify.
//
// Alerts follow the fork (catalog entries POC-*):
//   - malformed extension 100, in either message: decode_error; in any
//     other message: illegal_parameter (RFC 8446 §4.2), from the engine
//     (Extensions);
//   - client: EncryptedExtensions choosing a type other than EAT or a nonce
//     over 32 bytes: decode_error (POC-ee-2);
//   - server: any failure to appraise the client's Certificate (bad CMW,
//     wrong nonce, rejected evidence, no attested key): decode_error, since
//     the fork ends every verifier callback failure that way (POC-cert-2);
//   - server: a bad CertificateVerify: decrypt_error (the engine's, as the
//     fork's, POC-cv-1);
//   - server requiring attestation and getting an empty Certificate:
//     certificate_required (RFC 8446 §4.4.2.4; the fork's answer is
//     unrecorded); getting a Certificate with no attestation negotiated:
//     decode_error, as its verifier would fail on the cert_data.
//
// Deliberate differences from the fork: with no EAT in the client's list our
// server still answers, as the fork does, with type NONE(0), but it never
// sends extension 100 to a client that did not offer it (the fork did, an
// unsolicited extension RFC 8446 §4.2 forbids); it asks for a certificate
// only when it verifies and either negotiated attestation or requires it
// (the fork always ran with auth_mode=required).
type Profile struct{}

func (Profile) Name() string { return Name }

func (Profile) Configure(base *tls13.Config, isClient bool, p *party.Party) (*tls13.Config, error) {
	if p.Attests() && (!isClient || p.Topology != party.BackgroundCheck || p.Credential != party.AttestationOnly) {
		return nil, fmt.Errorf("poc: only a client attests, with evidence in cert_data: %w", party.ErrUnsupported)
	}
	if p.VerifyPeer && (isClient || p.PeerTopology != party.BackgroundCheck || p.PeerCredential != party.AttestationOnly) {
		return nil, fmt.Errorf("poc: only a server appraises, a client's evidence in cert_data: %w", party.ErrUnsupported)
	}
	cfg := base.Clone()
	cfg.HookExtensions = codec.Declare(cfg.HookExtensions, Extensions(p.Table()))
	cfg.NewHooks = func() tls13.Hooks { return &hooks{p: p, client: isClient} }
	return cfg, nil
}

type hooks struct {
	tls13.NoHooks
	p      *party.Party
	client bool
	// ee is the server's answer, nil if it sends none.
	ee *EvidenceProposalEE
	// negotiated: EAT was chosen, with nonce as the challenge.
	negotiated bool
	nonce      []byte
	appraised  bool
}

func (h *hooks) extType() uint16 { return h.p.Table().PoCEvidenceProposal }

func (h *hooks) WriteClientHello(hs *tls13.HookState) ([]tls13.Extension, error) {
	if !h.p.Attests() {
		return nil, nil
	}
	b, err := EvidenceProposalCH{ContentFormats: []uint16{TypeEAT}}.Marshal()
	if err != nil {
		return nil, err
	}
	return []tls13.Extension{{Type: h.extType(), Data: b}}, nil
}

// newNonce asks our verifier for the challenge (Bugs.NonceLength overrides).
func (h *hooks) newNonce(ctx context.Context) ([]byte, error) {
	n, err := h.p.Nonce(ctx)
	if err != nil {
		return nil, tls13.Alertf(tls13.AlertInternalError, "poc: %v", err)
	}
	if h.p.Bugs.NonceLength == 0 && len(n) > NonceLenMax {
		// Cutting it would make it a nonce the verifier never issued.
		return nil, tls13.Alertf(tls13.AlertInternalError, "poc: verifier nonce of %d bytes, the PoC carries at most %d", len(n), NonceLenMax)
	}
	return n, nil
}

// ReadClientHello is the server's choice: the first EAT entry (SelectPoC).
func (h *hooks) ReadClientHello(hs *tls13.HookState, exts []tls13.Extension) error {
	p := h.p
	if !p.VerifyPeer {
		return nil
	}
	if data, ok := tls13.FindExtension(exts, h.extType()); ok {
		var ch EvidenceProposalCH
		if err := ch.Unmarshal(data); err != nil {
			return err
		}
		cf, found := ch.SelectPoC()
		if p.Bugs.SelectUnoffered {
			cf, found = unoffered(ch.ContentFormats), true
		}
		nonce, err := h.newNonce(hs.Context())
		if err != nil {
			return err
		}
		h.ee = &EvidenceProposalEE{ContentFormat: cf, Nonce: nonce}
		h.negotiated, h.nonce = found, nonce
	}
	if (h.negotiated || p.RequirePeer) && !p.Bugs.OmitCertificateRequest {
		hs.RequestClientCertificate()
	}
	return nil
}

func unoffered(offered []uint16) uint16 {
	cf := TypeEAT + 1
	for slices.Contains(offered, cf) {
		cf++
	}
	return cf
}

func (h *hooks) WriteEncryptedExtensions(hs *tls13.HookState) ([]tls13.Extension, error) {
	if h.ee == nil {
		return nil, nil
	}
	b, err := h.ee.Marshal()
	return []tls13.Extension{{Type: h.extType(), Data: b}}, err
}

// ReadEncryptedExtensions applies the fork client's checks (CheckPoC).
func (h *hooks) ReadEncryptedExtensions(hs *tls13.HookState, exts []tls13.Extension) error {
	data, ok := tls13.FindExtension(exts, h.extType())
	if !ok {
		return nil
	}
	var ee EvidenceProposalEE
	if err := ee.Unmarshal(data); err != nil {
		return err
	}
	if err := ee.CheckPoC(); err != nil {
		return err
	}
	h.negotiated, h.nonce = true, ee.Nonce
	return nil
}

// Credential is the client's CMW as the cert_data of its only entry.
func (h *hooks) Credential(hs *tls13.HookState) (*tls13.OutgoingCertificate, error) {
	p := h.p
	if !h.client || !h.negotiated || !p.Attests() {
		return nil, nil
	}
	self := party.Outcome{Profile: Name, Direction: "client", Topology: party.BackgroundCheck, Selected: "EAT"}
	if p.Bugs.Decline || p.Bugs.OmitPayload {
		self.Reason = party.ReasonDeclined
		party.RecordSelf(hs, self)
		return &tls13.OutgoingCertificate{}, nil
	}
	tik := p.Identity()
	payload, err := p.Present(hs.Context(), attest.Challenge{Profile: Name, Nonce: h.nonce, TIK: tik.Public()})
	if err != nil {
		return nil, tls13.Alertf(tls13.AlertInternalError, "poc: %v", err)
	}
	party.RecordSelf(hs, self)
	return &tls13.OutgoingCertificate{Entries: []tls13.CertificateEntry{{Data: payload}}, Signer: tik}, nil
}

// VerifyPeerCertificate appraises the client's evidence and hands the
// engine the attested key, which must sign CertificateVerify.
func (h *hooks) VerifyPeerCertificate(hs *tls13.HookState, pc *tls13.PeerCertificate) error {
	p := h.p
	if h.client || !p.VerifyPeer {
		return nil // no server attestation in the PoC: plain X.509
	}
	out := party.Outcome{Profile: Name, Direction: "client", Topology: party.BackgroundCheck, Selected: "EAT"}
	if len(pc.Entries) == 0 {
		err := attest.Reject(party.ReasonDeclined, "poc: the client sent no certificate")
		if p.RequirePeer {
			return party.Fail(hs, out, tls13.AlertCertificateRequired, err)
		}
		out.Reason, out.Err = party.ReasonDeclined, err.Error()
		party.RecordPeer(hs, out)
		return nil
	}
	if !h.negotiated {
		if !p.RequirePeer {
			return nil // a plain client certificate Config.ClientAuth asked for
		}
		return party.Fail(hs, out, tls13.AlertDecodeError, attest.Reject(party.ReasonPayloadType, "poc: a certificate without negotiated attestation"))
	}
	// The fork reads the first entry's cert_data; further entries are ignored.
	r, err := p.Appraise(hs.Context(), pc.Entries[0].Data, attest.Challenge{Profile: Name, Nonce: h.nonce})
	if err != nil {
		return party.Fail(hs, out, tls13.AlertDecodeError, err)
	}
	if r.AttestedKey == nil {
		return party.Fail(hs, out, tls13.AlertDecodeError, attest.Reject(attest.ReasonNoAttestedKey, "poc: the result attests no TLS key"))
	}
	out.Result = r
	party.RecordPeer(hs, out)
	h.appraised = true
	pc.PublicKey = r.AttestedKey
	return nil
}

// HandshakeDone refuses to finish without required attestation that never
// came (a server that skipped its CertificateRequest).
func (h *hooks) HandshakeDone(hs *tls13.HookState) error {
	p := h.p
	if h.client || !p.VerifyPeer || !p.RequirePeer || h.appraised {
		return nil
	}
	out := party.Outcome{Profile: Name, Direction: "client", Topology: party.BackgroundCheck, Selected: "EAT"}
	return party.Fail(hs, out, tls13.AlertCertificateRequired, attest.Reject(party.ReasonDeclined, "poc: client attestation required, none received"))
}
