// Package handshake holds the handshake traces of the published vectors,
// in the manner of RFC 8448: for one profile and one interaction model,
// every input the two endpoints were built from (keys, randoms,
// certificates, the attesters' keys and PCRs, the verifier's key and
// nonces, the clock), every handshake message, every secret of the key
// schedule with the drafts' additions, the attestations (CMW, Parsec TPM
// evidence, EAR) and every record up to and including the first
// application data and the closures.
//
// Generate runs the reference implementation's client and server against
// each other in deterministic mode; Check replays a trace through one
// engine side at a time against the other side's recorded records, the
// way impl/tls13's RFC 8448 tests do, and compares every record, message,
// secret and attestation.
package handshake

import (
	"encoding/json"

	"github.com/attested-tls/conformance/vectors/gen/fixture"
)

// Hex is bytes that travel as lowercase hex in JSON.
type Hex = fixture.Hex

// Trace is one vector file of vectors/traces.
type Trace struct {
	ID          string `json:"id"`
	Profile     string `json:"profile"`
	Draft       string `json:"draft"`
	Description string `json:"description"`
	Model       Model  `json:"model"`
	// Codepoints are the values of the drafts' TBD codepoints in force.
	Codepoints  json.RawMessage `json:"codepoints"`
	CipherSuite string          `json:"cipher_suite"`
	Group       string          `json:"group"`
	Inputs      Inputs          `json:"inputs"`
	// Messages are the handshake messages in transcript order.
	Messages []Message `json:"messages"`
	// TranscriptHashes are Transcript-Hash values at the checkpoints the
	// key schedule and the drafts use.
	TranscriptHashes []Value `json:"transcript_hashes"`
	// Secrets are the key schedule in derivation order, then the
	// profile's additions.
	Secrets      []Value       `json:"secrets"`
	Attestations []Attestation `json:"attestations"`
	// Records are every record in wire order, both directions.
	Records         []Record  `json:"records"`
	ApplicationData []AppData `json:"application_data"`
	// PostHandshake is the attestation phase of a post-handshake profile
	// (xp-03): absent for profiles that attest in the handshake.
	PostHandshake *PostHandshake `json:"post_handshake,omitempty"`
}

// PostHandshake is what follows the handshake in a post-handshake
// profile: the frames of the suite's framing (peers/CONTRACT.md,
// "Post-handshake attestation framing") on both directions, and for each
// attestation its exported authenticator exchange with the values
// between the exporter_master_secret and the binding.
type PostHandshake struct {
	// Framing names the framing the frames follow.
	Framing string `json:"framing"`
	// Frames are every frame of both directions, in the order of the
	// records that complete them.
	Frames []Frame `json:"frames"`
	// Exchanges are one per attesting side, in the order of the requests.
	Exchanges []Exchange `json:"exchanges"`
}

// Frame is one frame on the application stream.
type Frame struct {
	Sender string `json:"sender"`
	// Type is the FrameType's name ("authenticator_request", …).
	Type string `json:"type"`
	// Records are the indexes in records of the records carrying it.
	Records []int `json:"records"`
	// Hex is the whole frame: type, uint24 length, body.
	Hex Hex `json:"hex"`
}

// Exchange is one authenticator request and the authenticator answering
// it (RFC 9261), with the profile's binding of the attestation to it.
type Exchange struct {
	Requester string `json:"requester"`
	Attester  string `json:"attester"`
	// CertificateRequestContext is the request's: the requester's
	// verifier nonce for a background check, else random (inputs).
	CertificateRequestContext Hex `json:"certificate_request_context"`
	// Request is the CertificateRequest (server) or ClientCertificateRequest
	// (client) message, whose extensions include the empty cmw_attestation.
	Request Hex `json:"request"`
	// Certificate, CertificateVerify and Finished are the authenticator's
	// messages; the CMW is in Certificate's first entry.
	Certificate       Hex `json:"certificate"`
	CertificateVerify Hex `json:"certificate_verify"`
	Finished          Hex `json:"finished"`
	// Values are derived in this order: exporter_master_secret, the
	// attester's authenticator handshake_context and finished_key (RFC
	// 9261 §5.1), the transcript hashes CertificateVerify and Finished
	// cover, then the profile's binding: label, exported_value, spki (the
	// end-entity certificate's), binding, aik_pub_hash.
	Values []Value `json:"values"`
}

// Side says whether and how one endpoint attests.
type Side struct {
	Attests bool `json:"attests"`
	// Topology is "background-check" or "passport".
	Topology string `json:"topology,omitempty"`
	// Credential is "attestation-only" or "x509".
	Credential string `json:"credential,omitempty"`
}

// Model is who attests and how. An endpoint that does not attest
// requires and appraises the other's attestation.
type Model struct {
	Server Side `json:"server"`
	Client Side `json:"client"`
}

// Inputs are everything the two endpoints were built from.
type Inputs struct {
	// Time is the clock of both endpoints and the verifier (RFC 3339).
	Time       string `json:"time"`
	ServerName string `json:"server_name"`
	// CA issued every certificate; both endpoints trust it.
	CA       Credential `json:"ca"`
	Verifier Verifier   `json:"verifier"`
	Client   Endpoint   `json:"client"`
	Server   Endpoint   `json:"server"`
}

// Credential is a P-256 private scalar and its certificate chain (DER,
// leaf first).
type Credential struct {
	PrivateKey Hex   `json:"private_key"`
	Chain      []Hex `json:"chain"`
}

// Verifier is the in-process verifier both endpoints use: the same key
// and identity, one instance (and nonce stream) per endpoint.
type Verifier struct {
	PrivateKey Hex `json:"private_key"`
	// PublicKey is the DER SubjectPublicKeyInfo that verifies EARs.
	PublicKey Hex `json:"public_key"`
	// Identity is VerifierIdentityType's verifier_identity: SHA-256 of PublicKey.
	Identity  Hex    `json:"identity"`
	Build     string `json:"build"`
	Developer string `json:"developer"`
	NonceSize int    `json:"nonce_size"`
}

// Endpoint is one side's inputs.
type Endpoint struct {
	// Random is the ClientHello or ServerHello random.
	Random   Hex      `json:"random"`
	KeyShare KeyShare `json:"key_share"`
	// Certificate is the server's credential when it presents no
	// attestation in its own chain (server only).
	Certificate *Credential `json:"certificate,omitempty"`
	// Attester is present when this side attests.
	Attester *Attester `json:"attester,omitempty"`
	// VerifierNonces are the nonces this side's verifier issued, in order.
	VerifierNonces []Hex `json:"verifier_nonces"`
	// AuthenticatorContexts are the random certificate_request_contexts
	// of this side's authenticator requests, in order, where no verifier
	// nonce is the context (post-handshake passport).
	AuthenticatorContexts []Hex `json:"authenticator_request_contexts,omitempty"`
}

// KeyShare is the endpoint's ephemeral key share.
type KeyShare struct {
	Group      string `json:"group"`
	PrivateKey Hex    `json:"private_key"`
	PublicKey  Hex    `json:"public_key"`
}

// Attester is the software attester's state: keys, kid, PCRs, clock.
type Attester struct {
	// IdentityKey is the TLS identity key (TIK) scalar; the KAT certifies it.
	IdentityKey       Hex `json:"identity_key"`
	IdentityPublicKey Hex `json:"identity_public_key"`
	// AttestationKey (AK) signs the KAT and the PAT.
	AttestationKey       Hex `json:"attestation_key"`
	AttestationPublicKey Hex `json:"attestation_public_key"`
	KeyID                Hex `json:"kid"`
	// Chain certifies IdentityKey, for an X.509 credential.
	Chain        []Hex `json:"chain,omitempty"`
	PCRSelection []int `json:"pcr_selection"`
	// Measurements are extended into the sha256 bank, in order, from all
	// zeros: PCR = SHA-256(PCR || SHA-256(data)).
	Measurements []Measurement `json:"measurements"`
	// PCRs are the resulting values of the selected PCRs.
	PCRs  []PCR `json:"pcrs"`
	Clock Clock `json:"clock"`
}

type Measurement struct {
	PCR  int `json:"pcr"`
	Data Hex `json:"data"`
}

type PCR struct {
	PCR   int `json:"pcr"`
	Value Hex `json:"value"`
}

// Clock is TPMS_CLOCK_INFO as every token carries it.
type Clock struct {
	Clock        uint64 `json:"clock"`
	ResetCount   uint32 `json:"reset_count"`
	RestartCount uint32 `json:"restart_count"`
	Safe         bool   `json:"safe"`
}

// Message is one handshake message with its 4-byte header.
type Message struct {
	Sender string `json:"sender"`
	Type   string `json:"type"`
	Hex    Hex    `json:"hex"`
}

// Value is a named byte string (a secret, a hash).
type Value struct {
	Name string `json:"name"`
	Hex  Hex    `json:"hex"`
}

// Attestation is one direction's attestation.
type Attestation struct {
	Attester   string `json:"attester"`
	Topology   string `json:"topology"`
	Credential string `json:"credential"`
	// CarriedIn says where in the attester's Certificate message the CMW is.
	CarriedIn string `json:"carried_in"`
	// Selected is what the handshake negotiated for this direction.
	Selected  string    `json:"selected"`
	Challenge Challenge `json:"challenge"`
	// CMW is the payload exactly as in the Certificate message.
	CMW       Hex    `json:"cmw"`
	CMWFormat string `json:"cmw_format"`
	CMWType   string `json:"cmw_type"`
	// Evidence is what the attester produced: in the CMW for a background
	// check, appraised by its own verifier for a passport.
	Evidence Evidence `json:"evidence"`
	// EAR is the verifier's result: the relying party's verifier's for a
	// background check, in the CMW for a passport.
	EAR EAR `json:"ear"`
}

// Challenge is what the evidence is bound to. QualifyingData is the
// TPMS_ATTEST extraData: the binder if there is one, else the nonce.
type Challenge struct {
	Nonce          Hex `json:"nonce,omitempty"`
	Binder         Hex `json:"binder,omitempty"`
	QualifyingData Hex `json:"qualifying_data,omitempty"`
	// TIK is the DER SubjectPublicKeyInfo of the key the evidence attests.
	TIK Hex `json:"tik"`
}

// Evidence is Parsec TPM evidence and its two tokens.
type Evidence struct {
	MediaType string `json:"media_type"`
	Hex       Hex    `json:"hex"`
	KAT       Token  `json:"kat"`
	PAT       Token  `json:"pat"`
}

// Token is a KAT (CertInfo, PubArea set) or a PAT (AttestInfo set).
type Token struct {
	TPMVer     string `json:"tpm_ver"`
	KID        Hex    `json:"kid"`
	Sig        Hex    `json:"sig"`
	PubArea    Hex    `json:"pub_area,omitempty"`
	CertInfo   Hex    `json:"cert_info,omitempty"`
	AttestInfo Hex    `json:"attest_info,omitempty"`
}

// EAR is an attestation result: the compact JWT and its claims.
type EAR struct {
	JWT    string          `json:"jwt"`
	Claims json.RawMessage `json:"claims"`
}

// Record is one TLS record as on the wire, with what it protects.
type Record struct {
	Sender string `json:"sender"`
	// Protection is "plaintext", "handshake" or "application": which
	// traffic keys of the sender protect it.
	Protection string `json:"protection"`
	// Sequence is the record's sequence number under those keys.
	Sequence uint64 `json:"sequence"`
	// ContentType is the (inner) content type.
	ContentType string `json:"content_type"`
	// Content is the fragment, or the inner plaintext without its content
	// type octet and padding.
	Content Hex `json:"content"`
	Hex     Hex `json:"hex"`
}

// AppData is the application data one side wrote.
type AppData struct {
	Sender string `json:"sender"`
	Text   string `json:"text"`
	Hex    Hex    `json:"hex"`
}
