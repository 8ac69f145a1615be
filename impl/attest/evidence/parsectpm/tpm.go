package parsectpm

import (
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
)

// ParseAttest parses a TPMS_ATTEST and insists the bytes hold exactly one,
// so what was signed is what was read.
func ParseAttest(raw []byte) (*tpm2.TPMSAttest, error) {
	return parseExact[tpm2.TPMSAttest](raw)
}

// ParsePublic parses exactly one TPMT_PUBLIC.
func ParsePublic(raw []byte) (*tpm2.TPMTPublic, error) {
	return parseExact[tpm2.TPMTPublic](raw)
}

// ParseSignature parses exactly one TPMT_SIGNATURE.
func ParseSignature(raw []byte) (*tpm2.TPMTSignature, error) {
	return parseExact[tpm2.TPMTSignature](raw)
}

// parseExact unmarshals and rejects trailing bytes, which go-tpm's
// Unmarshal ignores. It re-marshals to learn how much was consumed: every
// field re-encodes at its original size, though not always to the same
// bytes (veraison/parsec's own encoder writes clockInfo.safe = 6, which
// reads back as YES), so only the length is compared.
func parseExact[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](raw []byte) (v *T, err error) {
	defer func() {
		// tpm2.Marshal panics on values it cannot encode; a value it
		// just decoded should never be one, but input is hostile.
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("re-encoding: %v", r)
		}
	}()
	v, err = tpm2.Unmarshal[T, P](raw)
	if err != nil {
		return nil, err
	}
	if n := len(tpm2.Marshal(*v)); n != len(raw) {
		return nil, fmt.Errorf("%d bytes after the structure", len(raw)-n)
	}
	return v, nil
}

// Name computes the TPM Name of an object from its marshalled TPMT_PUBLIC:
// nameAlg || H_nameAlg(pubArea). Hashing the received bytes (not a
// re-encoding) is what binds the Name to what was sent.
func Name(pubArea []byte) ([]byte, error) {
	if len(pubArea) < 4 {
		return nil, fmt.Errorf("pubArea too short")
	}
	alg := tpm2.TPMAlgID(binary.BigEndian.Uint16(pubArea[2:4]))
	h, err := alg.Hash()
	if err != nil {
		return nil, err
	}
	if !h.Available() {
		return nil, fmt.Errorf("nameAlg %v not available", alg)
	}
	d := h.New()
	d.Write(pubArea)
	return d.Sum(binary.BigEndian.AppendUint16(nil, uint16(alg))), nil
}

// PCRSelection names a PCR bank and the PCRs quoted from it.
type PCRSelection struct {
	// Hash is the bank; only crypto.SHA256 is supported.
	Hash crypto.Hash
	// PCRs are the indices, 0..23.
	PCRs []int
}

// TPMLPCRSelection encodes the selection as a TPM quote carries it, in the
// PC Client layout (at least 3 bytes of bitmap).
func (s PCRSelection) TPMLPCRSelection() (tpm2.TPMLPCRSelection, error) {
	alg, err := tpmHash(s.Hash)
	if err != nil {
		return tpm2.TPMLPCRSelection{}, err
	}
	idx := make([]uint, 0, len(s.PCRs))
	for _, p := range s.PCRs {
		if p < 0 || p > 23 {
			return tpm2.TPMLPCRSelection{}, fmt.Errorf("PCR index %d out of range", p)
		}
		idx = append(idx, uint(p))
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      alg,
		PCRSelect: tpm2.PCClientCompatible.PCRs(idx...),
	}}}, nil
}

// Digest is the quote's pcrDigest for these PCR values: the bank hash over
// the concatenated values in ascending index order.
func (s PCRSelection) Digest(values map[int][]byte) ([]byte, error) {
	if s.Hash != crypto.SHA256 {
		return nil, fmt.Errorf("PCR bank %v not supported", s.Hash)
	}
	h := s.Hash.New()
	for _, p := range sortedUnique(s.PCRs) {
		v, ok := values[p]
		if !ok {
			return nil, fmt.Errorf("no value for PCR %d", p)
		}
		if len(v) != h.Size() {
			return nil, fmt.Errorf("PCR %d value is %d bytes, want %d", p, len(v), h.Size())
		}
		h.Write(v)
	}
	return h.Sum(nil), nil
}

// selectionFromTPM reads a quote's selection; a quote over more than one
// bank is reported as such (veraison/parsec accepts exactly one).
func selectionFromTPM(l tpm2.TPMLPCRSelection) (PCRSelection, error) {
	if len(l.PCRSelections) != 1 {
		return PCRSelection{}, fmt.Errorf("%d PCR banks selected, want 1", len(l.PCRSelections))
	}
	s := l.PCRSelections[0]
	h, err := s.Hash.Hash()
	if err != nil {
		return PCRSelection{}, err
	}
	var pcrs []int
	for i, b := range s.PCRSelect {
		for bit := range 8 {
			if b&(1<<bit) != 0 {
				pcrs = append(pcrs, 8*i+bit)
			}
		}
	}
	return PCRSelection{Hash: h, PCRs: pcrs}, nil
}

func tpmHash(h crypto.Hash) (tpm2.TPMAlgID, error) {
	switch h {
	case crypto.SHA256:
		return tpm2.TPMAlgSHA256, nil
	case crypto.SHA384:
		return tpm2.TPMAlgSHA384, nil
	case crypto.SHA512:
		return tpm2.TPMAlgSHA512, nil
	}
	return 0, fmt.Errorf("hash %v has no TPM algorithm here", h)
}

func sortedUnique(p []int) []int {
	s := slices.Clone(p)
	slices.Sort(s)
	return slices.Compact(s)
}

// NumPCRs is the number of PCRs of a PC Client TPM bank (0..23).
const NumPCRs = 24

// CheckSelection validates a PCR selection an attester is asked to quote
// and returns it sorted without duplicates.
func CheckSelection(pcrs []int) ([]int, error) {
	if len(pcrs) == 0 {
		return nil, errors.New("empty PCR selection")
	}
	for _, p := range pcrs {
		if p < 0 || p >= NumPCRs {
			return nil, fmt.Errorf("PCR %d out of range", p)
		}
	}
	return sortedUnique(pcrs), nil
}
