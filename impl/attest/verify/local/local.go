// Package local is an in-process verifier for Parsec TPM evidence, PSA
// tokens, CCA evidence and Parsec credential-activation evidence: it
// keeps endorsements, issues nonces, appraises evidence with the format's
// own checks (parsectpm.Verify, psa.Verify, cca.Verify, parsecac.Verify)
// and signs EAR results the way Veraison's PARSEC_TPM, PSA_IOT and
// ARM_CCA schemes do (and alike for the last, which Veraison has no
// scheme for), so specs can run the background-check and passport models
// without a Veraison service.
package local

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/attested-tls/conformance/impl/attest/result"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/veraison/ear"
)

// SubmodName is the EAR submodule the appraisal goes in: Veraison names it
// after the attestation scheme, PARSEC_TPM for this evidence.
const SubmodName = "PARSEC_TPM"

// AppraisalPolicyID is the ear.appraisal-policy-id of a Parsec TPM
// appraisal; other formats get policy:<submodule>/local.
const AppraisalPolicyID = "policy:PARSEC_TPM/local"

// Defaults for zero Config fields.
const (
	DefaultNonceSize     = 32
	DefaultNonceLifetime = 2 * time.Minute
	DefaultBuild         = "conformance-local-verifier"
	DefaultDeveloper     = "github.com/attested-tls/conformance"
	MinNonceSize         = 8
	// MaxNonceSize is what every consumer takes: Veraison's 8..64, TA's
	// nonce<8..2^8-1>, a TPM's qualifyingData.
	MaxNonceSize = 64
)

// Config sets up a Verifier; the zero value is usable.
type Config struct {
	// Key signs EARs (ES256); nil generates one.
	Key *ecdsa.PrivateKey
	// Identity is the verifier identity peers negotiate; nil derives it
	// from the key (attest.VerifierIdentity).
	Identity []byte
	// NonceSize is the size of NewNonce's nonces, 8..64; 0 means 32.
	NonceSize int
	// NonceLifetime bounds how long an issued nonce is accepted.
	NonceLifetime time.Duration
	// IssuedNonces makes Appraise accept only a challenge nonce this
	// verifier issued, unexpired, once.
	IssuedNonces bool
	// Build and Developer go in ear.verifier-id.
	Build, Developer string
	// Time is the verifier's clock; nil is time.Now.
	Time func() time.Time
	// Rand is where NewNonce's nonces come from; nil is crypto/rand. A
	// fixed stream makes nonces reproducible (test vectors).
	Rand io.Reader
	// Deterministic signs EARs with RFC 6979 nonces, so a fixed Time and
	// the same evidence give the same EAR byte for byte.
	Deterministic bool
}

// Verifier is the in-process verifier. It is safe for concurrent use.
type Verifier struct {
	cfg Config
	key *ecdsa.PrivateKey
	id  []byte

	mu           sync.Mutex
	endorsements map[string]parsectpm.Endorsement
	nonces       map[string]nonceState
	lastPurge    time.Time
}

type nonceState struct {
	expires time.Time
	used    bool
}

var _ attest.Verifier = (*Verifier)(nil)

// New builds a verifier with no endorsements.
func New(cfg Config) (*Verifier, error) {
	if cfg.NonceSize == 0 {
		cfg.NonceSize = DefaultNonceSize
	}
	if cfg.NonceSize < MinNonceSize || cfg.NonceSize > MaxNonceSize {
		return nil, fmt.Errorf("local: nonce size %d outside %d..%d", cfg.NonceSize, MinNonceSize, MaxNonceSize)
	}
	if cfg.NonceLifetime <= 0 {
		cfg.NonceLifetime = DefaultNonceLifetime
	}
	if cfg.Build == "" {
		cfg.Build = DefaultBuild
	}
	if cfg.Developer == "" {
		cfg.Developer = DefaultDeveloper
	}
	if cfg.Time == nil {
		cfg.Time = time.Now
	}
	v := &Verifier{
		cfg:          cfg,
		key:          cfg.Key,
		endorsements: map[string]parsectpm.Endorsement{},
		nonces:       map[string]nonceState{},
	}
	if v.key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		v.key = k
	}
	if v.key.Curve != elliptic.P256() {
		return nil, errors.New("local: ES256 needs a P-256 key")
	}
	v.id = slices.Clone(cfg.Identity)
	if v.id == nil {
		id, err := attest.VerifierIdentity(&v.key.PublicKey)
		if err != nil {
			return nil, err
		}
		v.id = id
	}
	return v, nil
}

// PublicKey verifies this verifier's EARs.
func (v *Verifier) PublicKey() *ecdsa.PublicKey { return &v.key.PublicKey }

// Identity is the verifier identity (VerifierIdentityType bytes).
func (v *Verifier) Identity() []byte { return slices.Clone(v.id) }

// Trusted is the entry a relying party's policy needs to accept this
// verifier's results.
func (v *Verifier) Trusted() attest.TrustedVerifier {
	return attest.TrustedVerifier{ID: v.Identity(), Key: v.PublicKey()}
}

// AddEndorsement registers (or replaces) the endorsement for a kid.
func (v *Verifier) AddEndorsement(e parsectpm.Endorsement) error {
	if err := e.Validate(); err != nil {
		return err
	}
	ref := make(map[int][]byte, len(e.ReferencePCRs))
	for i, p := range e.ReferencePCRs {
		ref[i] = slices.Clone(p)
	}
	e.KeyID = slices.Clone(e.KeyID)
	e.PCRSelection.PCRs = slices.Clone(e.PCRSelection.PCRs)
	e.ReferencePCRs = ref
	v.mu.Lock()
	defer v.mu.Unlock()
	v.endorsements[string(e.KeyID)] = e
	return nil
}

// RemoveEndorsement forgets a kid; it reports whether one was registered.
func (v *Verifier) RemoveEndorsement(kid []byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.endorsements[string(kid)]
	delete(v.endorsements, string(kid))
	return ok
}

// NewNonce returns NonceSize random bytes and remembers them for
// NonceLifetime.
func (v *Verifier) NewNonce(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := make([]byte, v.cfg.NonceSize)
	random := v.cfg.Rand
	if random == nil {
		random = rand.Reader
	}
	if _, err := io.ReadFull(random, n); err != nil {
		return nil, fmt.Errorf("local: nonce: %w", err)
	}
	now := v.cfg.Time()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purge(now)
	v.nonces[string(n)] = nonceState{expires: now.Add(v.cfg.NonceLifetime)}
	return n, nil
}

// purge drops nonces a lifetime past expiry: until then a late or replayed
// nonce is reported as expired or reused rather than unknown.
func (v *Verifier) purge(now time.Time) {
	if now.Sub(v.lastPurge) < v.cfg.NonceLifetime {
		return
	}
	v.lastPurge = now
	for k, s := range v.nonces {
		if now.After(s.expires.Add(v.cfg.NonceLifetime)) {
			delete(v.nonces, k)
		}
	}
}

// consume marks the challenge nonce used, whatever the appraisal's outcome:
// a nonce buys one appraisal.
func (v *Verifier) consume(nonce []byte, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.nonces[string(nonce)]
	switch {
	case !ok:
		return attest.Reject(attest.ReasonNonceUnknown, "nonce %x was not issued here", nonce)
	case s.used:
		return attest.Reject(attest.ReasonNonceReused, "nonce %x already used", nonce)
	case now.After(s.expires):
		return attest.Reject(attest.ReasonNonceExpired, "nonce %x expired at %s", nonce, s.expires.UTC().Format(time.RFC3339))
	}
	s.used = true
	v.nonces[string(nonce)] = s
	return nil
}

// Appraise verifies evidence against the endorsement for its attester
// (Parsec TPM evidence by its kid, a PSA token by its instance ID) and
// returns a signed EAR in the submodule Veraison's scheme for the format
// would use. Evidence that fails a check yields a contraindicated (or,
// for unrecognised PSA software, warning) result carrying the reason as
// its problem; malformed evidence, an unsupported media type or a
// rejected nonce yield an error.
func (v *Verifier) Appraise(ctx context.Context, ev attest.Evidence, ch attest.Challenge) (*attest.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := v.cfg.Time()
	if v.cfg.IssuedNonces {
		if err := v.consume(ch.Nonce, now); err != nil {
			return nil, err
		}
	}
	var (
		ap  appraisal
		err error
	)
	switch ev.MediaType {
	case parsectpm.MediaType:
		ap, err = v.appraiseParsecTPM(ev.Data, ch)
	case psa.MediaType:
		ap, err = v.appraisePSA(ev.Data, ch)
	case cca.MediaType:
		ap, err = v.appraiseCCA(ev.Data, ch)
	case parsecac.MediaType:
		ap, err = v.appraiseActivation(ev.Data, ch)
	default:
		return nil, attest.Reject(attest.ReasonUnsupportedEvidence, "media type %q", ev.MediaType)
	}
	if err != nil {
		return nil, err
	}
	var rej *attest.Rejection
	if ap.verdict != nil && (!errors.As(ap.verdict, &rej) || rej.Reason == parsectpm.ReasonMalformed || rej.Reason == psa.ReasonMalformed || rej.Reason == cca.ReasonMalformed || rej.Reason == parsecac.ReasonMalformed) {
		return nil, ap.verdict
	}

	ar := ear.NewAttestationResult(ap.submod, v.cfg.Build, v.cfg.Developer)
	iat := now.Unix()
	ar.IssuedAt = &iat
	if len(ap.nonce) >= MinNonceSize && len(ap.nonce) <= MaxNonceSize {
		n := base64.RawURLEncoding.EncodeToString(ap.nonce)
		ar.Nonce = &n
	}
	a := ar.Submods[ap.submod]
	policyID := "policy:" + ap.submod + "/local"
	a.AppraisalPolicyID = &policyID
	if ap.verdict == nil {
		*a.TrustVector = ap.good
		if ap.key != nil {
			if err := a.SetKeyAttestation(ap.key); err != nil {
				return nil, err
			}
		}
	} else {
		// The status follows from the vector: contraindicated, but for
		// unrecognised PSA software a warning, as Veraison says.
		*a.TrustVector = contraindicatedVector(rej.Reason)
		a.VeraisonPolicyClaims = &map[string]any{"problem": rej.Error()}
	}
	a.UpdateStatusFromTrustVector()

	var key crypto.Signer = v.key
	if v.cfg.Deterministic {
		// jwx signs a *ecdsa.PrivateKey with a random nonce it picks
		// itself; a crypto.Signer decides for itself, and this one asks
		// crypto/ecdsa for RFC 6979.
		key = rfc6979Signer{v.key}
	}
	token, err := ar.Sign(jwa.ES256(), key)
	if err != nil {
		return nil, fmt.Errorf("local: signing EAR: %w", err)
	}
	return result.FromEAR(token, ar, v.id)
}

// appraisal is one format's verdict on evidence, for Appraise to sign.
type appraisal struct {
	submod  string
	verdict error            // nil: every check passed
	good    ear.TrustVector  // the trust vector when verdict is nil
	key     crypto.PublicKey // the attested key, nil if the format has none
	nonce   []byte           // what the evidence was bound to (eat_nonce)
}

func (v *Verifier) endorsement(id []byte) (parsectpm.Endorsement, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.endorsements[string(id)]
	return e, ok
}

func (v *Verifier) appraiseParsecTPM(data []byte, ch attest.Challenge) (appraisal, error) {
	pev, err := parsectpm.Decode(data)
	if err != nil {
		return appraisal{}, err
	}
	ap := appraisal{submod: SubmodName, nonce: ch.QualifyingData(), good: ear.TrustVector{
		InstanceIdentity: ear.TrustworthyInstanceClaim,
		Executables:      ear.ApprovedRuntimeClaim,
		Hardware:         ear.GenuineHardwareClaim,
	}}
	e, ok := v.endorsement(pev.KAT.KID)
	if !ok || e.Format() != parsectpm.MediaType {
		ap.verdict = attest.Reject(attest.ReasonNoEndorsement, "no endorsement for kid %x", pev.KAT.KID)
		return ap, nil
	}
	if ap.verdict = parsectpm.Verify(pev, e, ch.QualifyingData(), ch.TIK); ap.verdict == nil {
		if ap.key, err = pev.PublicKey(); err != nil {
			return appraisal{}, err
		}
	}
	return ap, nil
}

// ActivationSubmodName is the EAR submodule of Parsec credential
// activation evidence; Veraison has no scheme for it.
const ActivationSubmodName = "PARSEC_TPM_ACTIVATION"

// appraiseActivation checks Parsec credential-activation evidence: the
// key it carries, its signature over the challenge, and the endorsement
// of its kid, which must record that key's activation.
func (v *Verifier) appraiseActivation(data []byte, ch attest.Challenge) (appraisal, error) {
	aev, err := parsecac.Decode(data)
	if err != nil {
		return appraisal{}, err
	}
	ap := appraisal{submod: ActivationSubmodName, nonce: ch.QualifyingData(), good: ear.TrustVector{
		InstanceIdentity: ear.TrustworthyInstanceClaim,
		Hardware:         ear.GenuineHardwareClaim,
		StorageOpaque:    ear.HwKeysEncryptedSecretsClaim,
	}}
	var found *parsectpm.Endorsement
	if e, ok := v.endorsement(aev.KID); ok {
		found = &e
	}
	if ap.verdict = parsecac.Verify(aev, found, ch.QualifyingData(), ch.TIK); ap.verdict == nil {
		if ap.key, err = aev.Key(); err != nil {
			return appraisal{}, err
		}
	}
	return ap, nil
}

// PSASubmodName is the EAR submodule of PSA tokens (Veraison's scheme).
const PSASubmodName = "PSA_IOT"

// appraisePSA checks a PSA token as Veraison's PSA_IOT scheme does, and
// with the challenge the token must carry (psa.Challenge): the
// key-bound challenge, which becomes eat_nonce, when the relying party
// knows the TLS identity key.
func (v *Verifier) appraisePSA(data []byte, ch attest.Challenge) (appraisal, error) {
	tok, err := psa.Decode(data)
	if err != nil {
		return appraisal{}, err
	}
	inst, err := tok.InstanceID()
	if err != nil {
		return appraisal{}, err
	}
	want, err := psa.Challenge(ch)
	if err != nil {
		return appraisal{}, attest.Reject(psa.ReasonChallenge, "%v", err)
	}
	return v.keyless(PSASubmodName, psa.MediaType, inst, want, ch, func(e parsectpm.Endorsement) error {
		return psa.Verify(tok, e, want)
	}), nil
}

// keyless is the appraisal of evidence that binds the TLS key through its
// challenge (PSA, CCA): checked by verify against the endorsement of
// instance inst, bound to want.
func (v *Verifier) keyless(submod, mediaType string, inst, want []byte, ch attest.Challenge, verify func(parsectpm.Endorsement) error) appraisal {
	ap := appraisal{submod: submod, nonce: want, good: ear.TrustVector{
		InstanceIdentity: ear.TrustworthyInstanceClaim,
		Executables:      ear.ApprovedRuntimeClaim,
		Hardware:         ear.GenuineHardwareClaim,
		RuntimeOpaque:    ear.ApprovedRuntimeClaim,
		StorageOpaque:    ear.HwKeysEncryptedSecretsClaim,
	}}
	e, ok := v.endorsement(inst)
	if !ok || e.Format() != mediaType {
		ap.verdict = attest.Reject(attest.ReasonNoEndorsement, "no endorsement for instance %x", inst)
		return ap
	}
	// Having checked the evidence binds ch.TIK, the verifier attests
	// that key as a TPM result attests its certified one, so a passport
	// shows it without its challenge; Veraison's schemes attest none.
	if ap.verdict = verify(e); ap.verdict == nil {
		ap.key = ch.TIK
	}
	return ap
}

// CCASubmodName is the EAR submodule of CCA evidence: one appraisal of
// platform and realm together (Veraison's ARM_CCA splits them into
// CCA_SSD_PLATFORM and CCA_REALM).
const CCASubmodName = "ARM_CCA"

// appraiseCCA checks CCA evidence as Veraison's ARM_CCA scheme does, and
// with the realm challenge it must carry (cca.Challenge, padded).
func (v *Verifier) appraiseCCA(data []byte, ch attest.Challenge) (appraisal, error) {
	ev, err := cca.Decode(data)
	if err != nil {
		return appraisal{}, err
	}
	inst, err := cca.InstanceID(ev)
	if err != nil {
		return appraisal{}, err
	}
	want, err := cca.Challenge(ch)
	if err != nil {
		return appraisal{}, attest.Reject(cca.ReasonChallenge, "%v", err)
	}
	return v.keyless(CCASubmodName, cca.MediaType, inst, want, ch, func(e parsectpm.Endorsement) error {
		return cca.Verify(ev, e, want)
	}), nil
}

// rfc6979Signer signs with the deterministic nonce crypto/ecdsa uses when
// given no random source, whatever source the caller passes.
type rfc6979Signer struct{ k *ecdsa.PrivateKey }

func (s rfc6979Signer) Public() crypto.PublicKey { return s.k.Public() }

func (s rfc6979Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.k.Sign(nil, digest, opts)
}

// contraindicatedVector says what a failed check shows, in AR4SI terms.
// Verify stops at the first failure, so later claims stay unmade.
func contraindicatedVector(r attest.Reason) ear.TrustVector {
	switch r {
	case psa.ReasonMeasurement, cca.ReasonMeasurement, cca.ReasonRealm:
		// As Veraison's PSA_IOT: a genuine, secured device running
		// software nobody endorsed.
		return ear.TrustVector{
			InstanceIdentity: ear.TrustworthyInstanceClaim,
			Hardware:         ear.GenuineHardwareClaim,
			Executables:      ear.UnrecognizedRuntimeClaim,
		}
	case psa.ReasonLifeCycle, cca.ReasonLifeCycle:
		return ear.TrustVector{
			InstanceIdentity: ear.UntrustworthyInstanceClaim,
			Hardware:         ear.GenuineHardwareClaim,
		}
	case parsectpm.ReasonPCRSelection, parsectpm.ReasonPCRDigest:
		// Signed by the endorsed key and certifying a TPM key, but the
		// platform booted something unexpected.
		return ear.TrustVector{
			InstanceIdentity: ear.TrustworthyInstanceClaim,
			Hardware:         ear.GenuineHardwareClaim,
			Executables:      ear.ContraindicatedRuntimeClaim,
		}
	case parsectpm.ReasonCertifiedName, parsectpm.ReasonKeyType, parsectpm.ReasonNotFixedTPM,
		parsectpm.ReasonNotSensitiveDataOrigin, parsectpm.ReasonTIKMismatch,
		parsecac.ReasonKeyType, parsecac.ReasonAttributes, parsecac.ReasonTIKMismatch:
		// A genuine TPM vouches for a key that is not a trustworthy
		// identity of this instance.
		return ear.TrustVector{
			InstanceIdentity: ear.UntrustworthyInstanceClaim,
			Hardware:         ear.GenuineHardwareClaim,
		}
	}
	// Unknown attester, bad signature, not TPM-generated, or bound to
	// another challenge: nothing in the evidence can be relied on.
	var tv ear.TrustVector
	tv.SetAll(ear.CryptoValidationFailedClaim)
	return tv
}
