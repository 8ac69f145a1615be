// Package software is an attester without a TPM: a software root of trust
// that produces real Parsec TPM evidence (TPMS_ATTEST certify and quote
// structures signed the way a TPM signs them) from keys and a PCR bank held
// in memory. It is the baseline the TPM attester and the specs' fault
// injection build on; it proves nothing about the machine it runs on.
package software

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Config sets up an Attester. Zero fields get fresh keys, a random kid and
// PCRs 0, 1 and 7.
type Config struct {
	// AttestationKey signs the tokens (the TPM's AK); P-256.
	AttestationKey *ecdsa.PrivateKey
	// IdentityKey is the TLS identity key the KAT certifies; P-256.
	IdentityKey *ecdsa.PrivateKey
	// KeyID is the kid, a UEID; default 0x01 followed by 32 random bytes.
	KeyID []byte
	// PCRs is the quoted selection of the sha256 bank.
	PCRs   []int
	Faults parsectpm.Faults
	// Clock, if set, supplies every token's TPMS_CLOCK_INFO; nil counts
	// milliseconds since New, with no resets or restarts and safe set.
	// Fixed values make evidence reproducible (test vectors).
	Clock func() ClockInfo
	// Deterministic signs tokens with RFC 6979 nonces instead of random
	// ones, so the same inputs give the same evidence byte for byte.
	Deterministic bool
}

// ClockInfo is TPMS_CLOCK_INFO.
type ClockInfo = parsectpm.ClockInfo

// DefaultPCRs is the quoted selection when Config.PCRs is empty.
var DefaultPCRs = []int{0, 1, 7}

const (
	maxQualifyingData = parsectpm.MaxQualifyingData
	firmwareVersion   = 0x2026_0001_0000_0000
)

// Attester is the software attester. It is safe for concurrent use.
type Attester struct {
	ak, otherAK   *ecdsa.PrivateKey
	tik, otherTIK *ecdsa.PrivateKey
	kid           []byte
	signerName    []byte // qualified name of the AK, as TPMS_ATTEST carries it
	certified     map[certifiedKey]certified
	start         time.Time
	clock         func() ClockInfo
	deterministic bool

	// The PCRs (Select, Extend) and the faults (SetFaults).
	parsectpm.Bank
	parsectpm.FaultSwitch
}

var _ attest.Attester = (*Attester)(nil)

// New builds an attester with all PCRs zero (a fresh reset).
func New(cfg Config) (*Attester, error) {
	var err error
	a := &Attester{start: time.Now(), clock: cfg.Clock, deterministic: cfg.Deterministic}
	a.SetFaults(cfg.Faults)
	if a.ak, err = keyOrNew(cfg.AttestationKey); err != nil {
		return nil, err
	}
	if a.tik, err = keyOrNew(cfg.IdentityKey); err != nil {
		return nil, err
	}
	if a.otherAK, err = keyOrNew(nil); err != nil {
		return nil, err
	}
	if a.otherTIK, err = keyOrNew(nil); err != nil {
		return nil, err
	}
	a.kid = slices.Clone(cfg.KeyID)
	if a.kid == nil {
		a.kid = make([]byte, 33)
		a.kid[0] = 0x01
		if _, err := rand.Read(a.kid[1:]); err != nil {
			return nil, err
		}
	}
	if err := a.Select(cmpOr(cfg.PCRs, DefaultPCRs)...); err != nil {
		return nil, err
	}
	akPub, err := marshalPublic(&a.ak.PublicKey, akAttributes)
	if err != nil {
		return nil, err
	}
	if a.signerName, err = qualifiedName(parsectpm.RHEndorsement, akPub); err != nil {
		return nil, err
	}
	// What a KAT says about a certified key depends on the key and its
	// attributes only: computed once per combination the faults can ask
	// for, not per handshake.
	a.certified = map[certifiedKey]certified{}
	for _, tik := range []*ecdsa.PrivateKey{a.tik, a.otherTIK} {
		for _, fixed := range []bool{true, false} {
			for _, origin := range []bool{true, false} {
				k := certifiedKey{tik, fixed, origin}
				if a.certified[k], err = certify(tik, fixed, origin); err != nil {
					return nil, err
				}
			}
		}
	}
	return a, nil
}

type certifiedKey struct {
	tik                       *ecdsa.PrivateKey
	fixedTPM, sensitiveOrigin bool
}

// certified is a key's pubArea and the Names TPM2_Certify reports for it.
type certified struct{ pubArea, name, qualifiedName []byte }

func certify(tik *ecdsa.PrivateKey, fixedTPM, sensitiveOrigin bool) (certified, error) {
	attrs := tikAttributes
	if !fixedTPM {
		attrs &^= parsectpm.AttrFixedTPM
	}
	if !sensitiveOrigin {
		attrs &^= parsectpm.AttrSensitiveDataOrigin
	}
	pubArea, err := marshalPublic(&tik.PublicKey, attrs)
	if err != nil {
		return certified{}, err
	}
	name, err := parsectpm.Name(pubArea)
	if err != nil {
		return certified{}, err
	}
	qname, err := qualifiedName(parsectpm.RHOwner, pubArea)
	if err != nil {
		return certified{}, err
	}
	return certified{pubArea, name, qname}, nil
}

func cmpOr(a, b []int) []int {
	if len(a) > 0 {
		return a
	}
	return b
}

func keyOrNew(k *ecdsa.PrivateKey) (*ecdsa.PrivateKey, error) {
	if k != nil {
		if k.Curve != elliptic.P256() {
			return nil, errors.New("software: keys must be P-256")
		}
		return k, nil
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// Identity returns the TLS identity key the KAT certifies.
func (a *Attester) Identity() crypto.Signer { return a.tik }

// MediaTypes returns the one format this attester produces.
func (a *Attester) MediaTypes() []string { return []string{parsectpm.MediaType} }

// PCR returns the current value of one PCR.
func (a *Attester) PCR(index int) []byte { return a.Bank.Value(index) }

// MaxQualifyingData is what TPM2_Quote and TPM2_Certify bind (attest.Bounded).
func (a *Attester) MaxQualifyingData() int { return maxQualifyingData }

// Endorsement is what a verifier must be given to accept this attester: its
// kid, attestation key, and the current PCR values as reference values.
// Extending a PCR afterwards makes later quotes disagree with it.
func (a *Attester) Endorsement() parsectpm.Endorsement {
	return a.Bank.Endorse(a.kid, &a.ak.PublicKey, "")
}

// Evidence returns Parsec TPM evidence bound to the challenge's qualifying
// data: a KAT certifying Identity() and a PAT quoting the selected PCRs.
func (a *Attester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return attest.Evidence{}, err
	}
	f := a.CurrentFaults()
	pcrs, values, err := a.Bank.Read(f.QuotePCRs)
	if err != nil {
		return attest.Evidence{}, fmt.Errorf("software: %w", err)
	}
	sel := parsectpm.PCRSelection{Hash: crypto.SHA256, PCRs: pcrs}

	qd := ch.QualifyingData()
	if f.QualifyingData != nil {
		qd = f.QualifyingData
	}
	if len(qd) > maxQualifyingData {
		return attest.Evidence{}, fmt.Errorf("software: qualifying data is %d bytes, a TPM takes at most %d", len(qd), maxQualifyingData)
	}
	ak, tik := a.ak, a.tik
	if f.UnendorsedKey {
		ak = a.otherAK
	}
	if f.CertifyOtherKey {
		tik = a.otherTIK
	}

	c := a.certified[certifiedKey{tik, !f.NotFixedTPM, !f.NotSensitiveDataOrigin}]
	banks, err := sel.Banks()
	if err != nil {
		return attest.Evidence{}, err
	}
	digest, err := sel.Digest(values)
	if err != nil {
		return attest.Evidence{}, err
	}
	cert := a.attestHeader(parsectpm.STAttestCertify, qd)
	cert.Certify = parsectpm.CertifyInfo{Name: c.name, QualifiedName: c.qualifiedName}
	certInfo, err := cert.Marshal()
	if err != nil {
		return attest.Evidence{}, err
	}
	quote := a.attestHeader(parsectpm.STAttestQuote, qd)
	quote.Quote = parsectpm.QuoteInfo{PCRSelect: banks, PCRDigest: digest}
	attestInfo, err := quote.Marshal()
	if err != nil {
		return attest.Evidence{}, err
	}

	sign := Sign
	if a.deterministic {
		sign = SignDeterministic
	}
	katSig, err := sign(ak, certInfo)
	if err != nil {
		return attest.Evidence{}, err
	}
	patSig, err := sign(ak, attestInfo)
	if err != nil {
		return attest.Evidence{}, err
	}
	data, err := parsectpm.Encode(&parsectpm.Evidence{
		KAT: &parsectpm.KAT{TPMVer: parsectpm.TPMVersion, KID: a.kid, Sig: katSig, PubArea: slices.Clone(c.pubArea), CertInfo: certInfo},
		PAT: &parsectpm.PAT{TPMVer: parsectpm.TPMVersion, KID: a.kid, Sig: patSig, AttestInfo: attestInfo},
	})
	if err != nil {
		return attest.Evidence{}, err
	}
	return attest.Evidence{MediaType: parsectpm.MediaType, Data: data}, nil
}

func (a *Attester) attestHeader(typ uint16, qd []byte) *parsectpm.Attest {
	ci := ClockInfo{Clock: uint64(time.Since(a.start).Milliseconds()), Safe: true}
	if a.clock != nil {
		ci = a.clock()
	}
	return &parsectpm.Attest{
		Type:            typ,
		QualifiedSigner: a.signerName,
		ExtraData:       qd,
		ClockInfo:       ci,
		FirmwareVersion: firmwareVersion,
	}
}

// Sign signs a marshalled TPMS_ATTEST the way a TPM with an ECDSA P-256
// attestation key does: ECDSA over SHA-256 of the bytes, returned as a
// TPMT_SIGNATURE with fixed-width r and s.
func Sign(ak *ecdsa.PrivateKey, tpmsAttest []byte) ([]byte, error) {
	return sign(ak, tpmsAttest, rand.Reader)
}

// SignDeterministic is Sign with the RFC 6979 nonce crypto/ecdsa uses when
// given no random source: the same key and bytes give the same signature.
func SignDeterministic(ak *ecdsa.PrivateKey, tpmsAttest []byte) ([]byte, error) {
	return sign(ak, tpmsAttest, nil)
}

func sign(ak *ecdsa.PrivateKey, tpmsAttest []byte, random io.Reader) ([]byte, error) {
	d := sha256.Sum256(tpmsAttest)
	der, err := ak.Sign(random, d[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("software: ECDSA signature is not DER")
	}
	sig := parsectpm.Signature{Alg: parsectpm.AlgECDSA, Hash: parsectpm.AlgSHA256,
		R: r.FillBytes(make([]byte, 32)), S: s.FillBytes(make([]byte, 32))}
	return sig.Marshal()
}

// Object attributes as a TPM would report them: the AK a restricted signing
// key, the TIK an ordinary signing key, both generated in and bound to the
// TPM.
const (
	tikAttributes = parsectpm.AttrFixedTPM | parsectpm.AttrFixedParent | parsectpm.AttrSensitiveDataOrigin |
		parsectpm.AttrUserWithAuth | parsectpm.AttrSign
	akAttributes = tikAttributes | parsectpm.AttrNoDA | parsectpm.AttrRestricted
)

// marshalPublic encodes an ECDSA P-256 key as the TPMT_PUBLIC a TPM would
// hold for it (nameAlg SHA-256, scheme ECDSA/SHA-256).
func marshalPublic(k *ecdsa.PublicKey, attrs uint32) ([]byte, error) {
	ek, err := k.ECDH()
	if err != nil {
		return nil, err
	}
	pt := ek.Bytes() // 0x04 || X || Y
	p := parsectpm.Public{
		NameAlg: parsectpm.AlgSHA256, Attributes: attrs,
		Symmetric: parsectpm.AlgNull,
		Scheme:    parsectpm.AlgECDSA, SchemeHash: parsectpm.AlgSHA256,
		CurveID: parsectpm.CurveNISTP256, KDF: parsectpm.AlgNull,
		X: pt[1:33], Y: pt[33:],
	}
	return p.Marshal()
}

// qualifiedName is the Qualified Name of a primary object under a
// hierarchy: nameAlg || SHA-256(handle || Name).
func qualifiedName(hierarchy uint32, pubArea []byte) ([]byte, error) {
	name, err := parsectpm.Name(pubArea)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint32(nil, hierarchy))
	h.Write(name)
	return h.Sum(binary.BigEndian.AppendUint16(nil, parsectpm.AlgSHA256)), nil
}
