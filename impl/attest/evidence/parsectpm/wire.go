package parsectpm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"golang.org/x/crypto/cryptobyte"
)

// The TPM 2.0 structures the format carries (TPM 2.0 Library Part 2),
// encoded and decoded here on cryptobyte rather than through go-tpm's
// reflection, which every handshake would otherwise pay for on both sides.
// go-tpm's types remain at the edges (talking to a TPM); the fuzz targets
// check both codecs agree.

// TPM constants the format uses.
const (
	GeneratedValue  uint32 = 0xff544347 // TPM_GENERATED_VALUE
	STAttestCertify uint16 = 0x8017     // TPM_ST_ATTEST_CERTIFY
	STAttestQuote   uint16 = 0x8018     // TPM_ST_ATTEST_QUOTE

	AlgRSA          uint16 = 0x0001
	AlgTDES         uint16 = 0x0003
	AlgSHA1         uint16 = 0x0004
	AlgHMAC         uint16 = 0x0005
	AlgAES          uint16 = 0x0006
	AlgMGF1         uint16 = 0x0007
	AlgSHA256       uint16 = 0x000B
	AlgSHA384       uint16 = 0x000C
	AlgSHA512       uint16 = 0x000D
	AlgNull         uint16 = 0x0010
	AlgSM4          uint16 = 0x0013
	AlgRSASSA       uint16 = 0x0014
	AlgRSAPSS       uint16 = 0x0016
	AlgECDSA        uint16 = 0x0018
	AlgECDH         uint16 = 0x0019
	AlgECDAA        uint16 = 0x001A
	AlgECMQV        uint16 = 0x001D
	AlgKDF1SP80056A uint16 = 0x0020
	AlgKDF2         uint16 = 0x0021
	AlgKDF1SP800108 uint16 = 0x0022
	AlgECC          uint16 = 0x0023
	AlgCamellia     uint16 = 0x0026

	CurveNISTP256 uint16 = 0x0003
	CurveNISTP384 uint16 = 0x0004
	CurveNISTP521 uint16 = 0x0005

	RHOwner       uint32 = 0x40000001 // TPM_RH_OWNER
	RHEndorsement uint32 = 0x4000000B // TPM_RH_ENDORSEMENT
)

// TPMA_OBJECT bits the format checks or sets.
const (
	AttrFixedTPM            uint32 = 1 << 1
	AttrFixedParent         uint32 = 1 << 4
	AttrSensitiveDataOrigin uint32 = 1 << 5
	AttrUserWithAuth        uint32 = 1 << 6
	AttrNoDA                uint32 = 1 << 10
	AttrRestricted          uint32 = 1 << 16
	AttrSign                uint32 = 1 << 18
)

// ClockInfo is TPMS_CLOCK_INFO: the TPM's clock in milliseconds, its reset
// and restart counts, and whether the clock may have gone backwards (Safe
// false).
type ClockInfo struct {
	Clock        uint64
	ResetCount   uint32
	RestartCount uint32
	Safe         bool
}

// Attest is a TPMS_ATTEST of one of the two types the format carries.
type Attest struct {
	Type            uint16 // STAttestCertify or STAttestQuote
	QualifiedSigner []byte // TPM2B_NAME
	ExtraData       []byte // TPM2B_DATA: the qualifying data
	ClockInfo       ClockInfo
	FirmwareVersion uint64
	Certify         CertifyInfo // with STAttestCertify
	Quote           QuoteInfo   // with STAttestQuote
}

// CertifyInfo is TPMS_CERTIFY_INFO.
type CertifyInfo struct{ Name, QualifiedName []byte }

// QuoteInfo is TPMS_QUOTE_INFO.
type QuoteInfo struct {
	PCRSelect []BankSelection // TPML_PCR_SELECTION
	PCRDigest []byte
}

// BankSelection is TPMS_PCR_SELECTION: a bank and its PCR bitmap.
type BankSelection struct {
	Hash   uint16
	Select []byte
}

// Public is a TPMT_PUBLIC of an ECC key, the only type the format
// certifies.
type Public struct {
	NameAlg    uint16
	Attributes uint32
	AuthPolicy []byte
	// Symmetric is TPMT_SYM_DEF_OBJECT: an algorithm, and key bits and
	// mode unless it is AlgNull.
	Symmetric           uint16
	SymKeyBits, SymMode uint16
	Scheme, SchemeHash  uint16 // TPMT_ECC_SCHEME
	SchemeCount         uint16 // with AlgECDAA only
	CurveID             uint16
	KDF, KDFHash        uint16 // TPMT_KDF_SCHEME
	X, Y                []byte // TPMS_ECC_POINT
}

// Signature is a TPMT_SIGNATURE. R and S hold an ECDSA or ECDAA signature;
// an RSA one is in R alone; an HMAC's digest in R.
type Signature struct {
	Alg, Hash uint16
	R, S      []byte
}

// ErrNotECC: a TPMT_PUBLIC of another type than ECC, which the format
// never certifies (veraison/parsec accepts only ECC keys).
var ErrNotECC = errors.New("key type is not ECC")

func addTPM2B(b *cryptobyte.Builder, v []byte) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(v) })
}

func readTPM2B(s *cryptobyte.String, out *[]byte) bool {
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) {
		return false
	}
	*out = append([]byte(nil), v...)
	return true
}

func readUint64(s *cryptobyte.String, out *uint64) bool {
	var hi, lo uint32
	if !s.ReadUint32(&hi) || !s.ReadUint32(&lo) {
		return false
	}
	*out = uint64(hi)<<32 | uint64(lo)
	return true
}

func addUint64(b *cryptobyte.Builder, v uint64) {
	b.AddUint32(uint32(v >> 32))
	b.AddUint32(uint32(v))
}

// finish returns the builder's bytes; the structures here cannot exceed
// their length prefixes unless a caller put oversized fields in them.
func finish(b *cryptobyte.Builder, what string) ([]byte, error) {
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Marshal encodes the TPMS_ATTEST.
func (a *Attest) Marshal() ([]byte, error) {
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, 160+len(a.ExtraData)))
	b.AddUint32(GeneratedValue)
	b.AddUint16(a.Type)
	addTPM2B(b, a.QualifiedSigner)
	addTPM2B(b, a.ExtraData)
	addUint64(b, a.ClockInfo.Clock)
	b.AddUint32(a.ClockInfo.ResetCount)
	b.AddUint32(a.ClockInfo.RestartCount)
	if a.ClockInfo.Safe {
		b.AddUint8(1)
	} else {
		b.AddUint8(0)
	}
	addUint64(b, a.FirmwareVersion)
	switch a.Type {
	case STAttestCertify:
		addTPM2B(b, a.Certify.Name)
		addTPM2B(b, a.Certify.QualifiedName)
	case STAttestQuote:
		b.AddUint32(uint32(len(a.Quote.PCRSelect)))
		for _, s := range a.Quote.PCRSelect {
			b.AddUint16(s.Hash)
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.Select) })
		}
		addTPM2B(b, a.Quote.PCRDigest)
	default:
		return nil, fmt.Errorf("TPMS_ATTEST: type %#x is not carried by the format", a.Type)
	}
	return finish(b, "TPMS_ATTEST")
}

// ParseAttest parses exactly one TPMS_ATTEST of type certify or quote: no
// trailing bytes, so what was signed is what was read.
func ParseAttest(raw []byte) (*Attest, error) {
	s := cryptobyte.String(raw)
	var a Attest
	var magic uint32
	var safe uint8
	if !s.ReadUint32(&magic) || !s.ReadUint16(&a.Type) {
		return nil, errors.New("TPMS_ATTEST: truncated header")
	}
	if magic != GeneratedValue {
		return nil, fmt.Errorf("TPMS_ATTEST: magic %#x", magic)
	}
	if !readTPM2B(&s, &a.QualifiedSigner) || !readTPM2B(&s, &a.ExtraData) ||
		!readUint64(&s, &a.ClockInfo.Clock) || !s.ReadUint32(&a.ClockInfo.ResetCount) ||
		!s.ReadUint32(&a.ClockInfo.RestartCount) || !s.ReadUint8(&safe) ||
		!readUint64(&s, &a.FirmwareVersion) {
		return nil, errors.New("TPMS_ATTEST: truncated")
	}
	// TPMI_YES_NO: go-tpm and veraison/parsec read any non-zero byte as
	// YES (veraison's own encoder writes 6), so this does too.
	a.ClockInfo.Safe = safe != 0
	switch a.Type {
	case STAttestCertify:
		if !readTPM2B(&s, &a.Certify.Name) || !readTPM2B(&s, &a.Certify.QualifiedName) {
			return nil, errors.New("TPMS_CERTIFY_INFO: truncated")
		}
	case STAttestQuote:
		var n uint32
		if !s.ReadUint32(&n) {
			return nil, errors.New("TPML_PCR_SELECTION: truncated")
		}
		// TPM2_MAX_PCR_BANKS is 16 in every TPM this format knows.
		if n > 16 {
			return nil, fmt.Errorf("TPML_PCR_SELECTION: %d banks", n)
		}
		for range n {
			var bs BankSelection
			var sel cryptobyte.String
			if !s.ReadUint16(&bs.Hash) || !s.ReadUint8LengthPrefixed(&sel) {
				return nil, errors.New("TPMS_PCR_SELECTION: truncated")
			}
			bs.Select = append([]byte(nil), sel...)
			a.Quote.PCRSelect = append(a.Quote.PCRSelect, bs)
		}
		if !readTPM2B(&s, &a.Quote.PCRDigest) {
			return nil, errors.New("TPMS_QUOTE_INFO: truncated")
		}
	default:
		return nil, fmt.Errorf("TPMS_ATTEST: type %#x is not carried by the format", a.Type)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("TPMS_ATTEST: %d bytes after the structure", len(s))
	}
	return &a, nil
}

// The unions below take only the members go-tpm also decodes (so the
// fuzz target can hold both codecs to the same reading), and of those the
// ones an ECC key can hold.

// eccSchemeHasHash says whether a TPMT_ECC_SCHEME's details carry a hash
// (TPMS_SCHEME_HASH; ECDAA adds a count).
func eccSchemeHasHash(scheme uint16) (bool, error) {
	switch scheme {
	case AlgNull:
		return false, nil
	case AlgECDSA, AlgECDH, AlgECDAA, AlgECMQV:
		return true, nil
	}
	return false, fmt.Errorf("ECC scheme %#x", scheme)
}

// checkSymmetric accepts AES for TPMT_SYM_DEF_OBJECT, with key bits and
// a mode: the one block cipher go-tpm decodes the details of.
func checkSymmetric(alg uint16) error {
	switch alg {
	case AlgNull, AlgAES:
		return nil
	}
	return fmt.Errorf("symmetric algorithm %#x", alg)
}

// checkKDF accepts the KDFs of TPMT_KDF_SCHEME, each with a hash.
func checkKDF(alg uint16) error {
	switch alg {
	case AlgNull, AlgMGF1, AlgKDF1SP80056A, AlgKDF2, AlgKDF1SP800108:
		return nil
	}
	return fmt.Errorf("KDF %#x", alg)
}

// Marshal encodes the TPMT_PUBLIC.
func (p *Public) Marshal() ([]byte, error) {
	hasHash, err := eccSchemeHasHash(p.Scheme)
	if err == nil {
		err = checkSymmetric(p.Symmetric)
	}
	if err == nil {
		err = checkKDF(p.KDF)
	}
	if err != nil {
		return nil, fmt.Errorf("TPMT_PUBLIC: %w", err)
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, 96+len(p.AuthPolicy)+len(p.X)+len(p.Y)))
	b.AddUint16(AlgECC)
	b.AddUint16(p.NameAlg)
	b.AddUint32(p.Attributes)
	addTPM2B(b, p.AuthPolicy)
	b.AddUint16(p.Symmetric)
	if p.Symmetric != AlgNull {
		b.AddUint16(p.SymKeyBits)
		b.AddUint16(p.SymMode)
	}
	b.AddUint16(p.Scheme)
	if hasHash {
		b.AddUint16(p.SchemeHash)
		if p.Scheme == AlgECDAA {
			b.AddUint16(p.SchemeCount)
		}
	}
	b.AddUint16(p.CurveID)
	b.AddUint16(p.KDF)
	if p.KDF != AlgNull {
		b.AddUint16(p.KDFHash)
	}
	addTPM2B(b, p.X)
	addTPM2B(b, p.Y)
	return finish(b, "TPMT_PUBLIC")
}

// ParsePublic parses exactly one TPMT_PUBLIC. A key of another type than
// ECC is reported as ErrNotECC and not parsed further.
func ParsePublic(raw []byte) (*Public, error) {
	s := cryptobyte.String(raw)
	var p Public
	var typ uint16
	if !s.ReadUint16(&typ) {
		return nil, errors.New("TPMT_PUBLIC: truncated")
	}
	if typ != AlgECC {
		// Rare and refused anyway: go-tpm tells a well-formed key of
		// another type (a key-type problem) from garbage (malformed).
		if err := otherPublic(raw); err != nil {
			return nil, fmt.Errorf("TPMT_PUBLIC: %w", err)
		}
		return nil, fmt.Errorf("TPMT_PUBLIC: type %#x: %w", typ, ErrNotECC)
	}
	if !s.ReadUint16(&p.NameAlg) || !s.ReadUint32(&p.Attributes) || !readTPM2B(&s, &p.AuthPolicy) ||
		!s.ReadUint16(&p.Symmetric) {
		return nil, errors.New("TPMT_PUBLIC: truncated")
	}
	if err := checkSymmetric(p.Symmetric); err != nil {
		return nil, fmt.Errorf("TPMT_PUBLIC: %w", err)
	}
	if p.Symmetric != AlgNull && (!s.ReadUint16(&p.SymKeyBits) || !s.ReadUint16(&p.SymMode)) {
		return nil, errors.New("TPMT_PUBLIC: truncated symmetric definition")
	}
	if !s.ReadUint16(&p.Scheme) {
		return nil, errors.New("TPMT_PUBLIC: truncated scheme")
	}
	hasHash, err := eccSchemeHasHash(p.Scheme)
	if err != nil {
		return nil, fmt.Errorf("TPMT_PUBLIC: %w", err)
	}
	if hasHash && !s.ReadUint16(&p.SchemeHash) ||
		p.Scheme == AlgECDAA && !s.ReadUint16(&p.SchemeCount) {
		return nil, errors.New("TPMT_PUBLIC: truncated scheme")
	}
	if !s.ReadUint16(&p.CurveID) || !s.ReadUint16(&p.KDF) {
		return nil, errors.New("TPMT_PUBLIC: truncated")
	}
	if err := checkKDF(p.KDF); err != nil {
		return nil, fmt.Errorf("TPMT_PUBLIC: %w", err)
	}
	if p.KDF != AlgNull && !s.ReadUint16(&p.KDFHash) {
		return nil, errors.New("TPMT_PUBLIC: truncated KDF")
	}
	if !readTPM2B(&s, &p.X) || !readTPM2B(&s, &p.Y) {
		return nil, errors.New("TPMT_PUBLIC: truncated point")
	}
	if !s.Empty() {
		return nil, fmt.Errorf("TPMT_PUBLIC: %d bytes after the structure", len(s))
	}
	return &p, nil
}

// Key returns the ECDSA public key, checked to be on its curve.
func (p *Public) Key() (*ecdsa.PublicKey, error) {
	var c elliptic.Curve
	switch p.CurveID {
	case CurveNISTP256:
		c = elliptic.P256()
	case CurveNISTP384:
		c = elliptic.P384()
	case CurveNISTP521:
		c = elliptic.P521()
	default:
		return nil, fmt.Errorf("curve %#x", p.CurveID)
	}
	n := (c.Params().BitSize + 7) / 8
	if len(p.X) > n || len(p.Y) > n {
		return nil, fmt.Errorf("point coordinates of %d and %d bytes on a %d-byte curve", len(p.X), len(p.Y), n)
	}
	// TPM2B_ECC_PARAMETER may drop leading zeros; the point is padded.
	pt := make([]byte, 1+2*n)
	pt[0] = 4
	copy(pt[1+n-len(p.X):1+n], p.X)
	copy(pt[1+2*n-len(p.Y):], p.Y)
	return ecdsa.ParseUncompressedPublicKey(c, pt)
}

// hashSize is the digest size of the hash algorithms an HMAC signature can
// name.
func hashSize(alg uint16) (int, bool) {
	switch alg {
	case AlgSHA1:
		return 20, true
	case AlgSHA256:
		return 32, true
	case AlgSHA384:
		return 48, true
	case AlgSHA512:
		return 64, true
	}
	return 0, false
}

// Marshal encodes the TPMT_SIGNATURE.
func (g *Signature) Marshal() ([]byte, error) {
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, 8+len(g.R)+len(g.S)))
	b.AddUint16(g.Alg)
	switch g.Alg {
	case AlgNull:
	case AlgECDSA, AlgECDAA:
		b.AddUint16(g.Hash)
		addTPM2B(b, g.R)
		addTPM2B(b, g.S)
	case AlgRSASSA, AlgRSAPSS:
		b.AddUint16(g.Hash)
		addTPM2B(b, g.R)
	case AlgHMAC:
		if n, ok := hashSize(g.Hash); !ok || n != len(g.R) {
			return nil, fmt.Errorf("TPMT_SIGNATURE: HMAC with hash %#x and a %d-byte digest", g.Hash, len(g.R))
		}
		b.AddUint16(g.Hash)
		b.AddBytes(g.R)
	default:
		return nil, fmt.Errorf("TPMT_SIGNATURE: algorithm %#x", g.Alg)
	}
	return finish(b, "TPMT_SIGNATURE")
}

// ParseSignature parses exactly one TPMT_SIGNATURE of any algorithm a TPM
// signs attestations with, so a relying party can say which one it got.
func ParseSignature(raw []byte) (*Signature, error) {
	s := cryptobyte.String(raw)
	var g Signature
	if !s.ReadUint16(&g.Alg) {
		return nil, errors.New("TPMT_SIGNATURE: truncated")
	}
	ok := true
	switch g.Alg {
	case AlgNull:
	case AlgECDSA, AlgECDAA:
		ok = s.ReadUint16(&g.Hash) && readTPM2B(&s, &g.R) && readTPM2B(&s, &g.S)
	case AlgRSASSA, AlgRSAPSS:
		ok = s.ReadUint16(&g.Hash) && readTPM2B(&s, &g.R)
	case AlgHMAC:
		if ok = s.ReadUint16(&g.Hash); ok {
			n, known := hashSize(g.Hash)
			if !known {
				return nil, fmt.Errorf("TPMT_SIGNATURE: HMAC hash %#x", g.Hash)
			}
			ok = s.ReadBytes(&g.R, n)
			g.R = append([]byte(nil), g.R...)
		}
	default:
		return nil, fmt.Errorf("TPMT_SIGNATURE: algorithm %#x", g.Alg)
	}
	if !ok {
		return nil, errors.New("TPMT_SIGNATURE: truncated")
	}
	if !s.Empty() {
		return nil, fmt.Errorf("TPMT_SIGNATURE: %d bytes after the structure", len(s))
	}
	return &g, nil
}

// otherPublic checks raw holds exactly one TPMT_PUBLIC of any type, with
// go-tpm's decoder.
func otherPublic(raw []byte) (err error) {
	defer func() {
		// tpm2.Marshal panics on values it cannot encode; a value it
		// just decoded should never be one, but input is hostile.
		if r := recover(); r != nil {
			err = fmt.Errorf("re-encoding: %v", r)
		}
	}()
	v, err := tpm2.Unmarshal[tpm2.TPMTPublic](raw)
	if err != nil {
		return err
	}
	if n := len(tpm2.Marshal(*v)); n != len(raw) {
		return fmt.Errorf("%d bytes after the structure", len(raw)-n)
	}
	return nil
}
