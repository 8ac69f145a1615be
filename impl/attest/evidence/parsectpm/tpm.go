package parsectpm

import (
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
)

// Name computes the TPM Name of an object from its marshalled TPMT_PUBLIC:
// nameAlg || H_nameAlg(pubArea). Hashing the received bytes (not a
// re-encoding) is what binds the Name to what was sent.
func Name(pubArea []byte) ([]byte, error) {
	if len(pubArea) < 4 {
		return nil, fmt.Errorf("pubArea too short")
	}
	alg := binary.BigEndian.Uint16(pubArea[2:4])
	h, ok := hashOf(alg)
	if !ok || !h.Available() {
		return nil, fmt.Errorf("nameAlg %#x not available", alg)
	}
	d := h.New()
	d.Write(pubArea)
	return d.Sum(binary.BigEndian.AppendUint16(nil, alg)), nil
}

// PCRSelection names a PCR bank and the PCRs quoted from it.
type PCRSelection struct {
	// Hash is the bank; only crypto.SHA256 is supported.
	Hash crypto.Hash
	// PCRs are the indices, 0..23.
	PCRs []int
}

// Banks encodes the selection as a TPM quote carries it (TPML_PCR_SELECTION
// for the format's own codec), in the PC Client layout: at least 3 bytes
// of bitmap.
func (s PCRSelection) Banks() ([]BankSelection, error) {
	alg, err := tpmHash(s.Hash)
	if err != nil {
		return nil, err
	}
	bitmap := make([]byte, 3)
	for _, p := range s.PCRs {
		if p < 0 || p > 23 {
			return nil, fmt.Errorf("PCR index %d out of range", p)
		}
		bitmap[p/8] |= 1 << (p % 8)
	}
	return []BankSelection{{Hash: alg, Select: bitmap}}, nil
}

// TPMLPCRSelection is Banks in go-tpm's type, for commands to a TPM.
func (s PCRSelection) TPMLPCRSelection() (tpm2.TPMLPCRSelection, error) {
	banks, err := s.Banks()
	if err != nil {
		return tpm2.TPMLPCRSelection{}, err
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgID(banks[0].Hash),
		PCRSelect: banks[0].Select,
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

// selectionOf reads a quote's selection; a quote over more than one bank
// is reported as such (veraison/parsec accepts exactly one).
func selectionOf(l []BankSelection) (PCRSelection, error) {
	if len(l) != 1 {
		return PCRSelection{}, fmt.Errorf("%d PCR banks selected, want 1", len(l))
	}
	h, ok := hashOf(l[0].Hash)
	if !ok {
		return PCRSelection{}, fmt.Errorf("PCR bank hash %#x", l[0].Hash)
	}
	var pcrs []int
	for i, b := range l[0].Select {
		for bit := range 8 {
			if b&(1<<bit) != 0 {
				pcrs = append(pcrs, 8*i+bit)
			}
		}
	}
	return PCRSelection{Hash: h, PCRs: pcrs}, nil
}

// hashOf maps a TPM hash algorithm to Go's.
func hashOf(alg uint16) (crypto.Hash, bool) {
	switch alg {
	case AlgSHA1:
		return crypto.SHA1, true
	case AlgSHA256:
		return crypto.SHA256, true
	case AlgSHA384:
		return crypto.SHA384, true
	case AlgSHA512:
		return crypto.SHA512, true
	}
	return 0, false
}

func tpmHash(h crypto.Hash) (uint16, error) {
	switch h {
	case crypto.SHA256:
		return AlgSHA256, nil
	case crypto.SHA384:
		return AlgSHA384, nil
	case crypto.SHA512:
		return AlgSHA512, nil
	}
	return 0, fmt.Errorf("hash %v has no TPM algorithm here", h)
}

// Indices are the selected PCRs sorted, each once.
func (s PCRSelection) Indices() []int { return sortedUnique(s.PCRs) }

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
