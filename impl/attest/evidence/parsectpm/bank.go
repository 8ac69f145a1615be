package parsectpm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
)

// Bank is a software attester's measured state: NumPCRs SHA-256 slots
// (a TPM's PCRs, or a PSA or CCA platform's software components), the
// selection its evidence reports, and the endorsement of their current
// values. Every software attester keeps its measurements here, whatever
// its format. The zero value selects nothing; it is safe for concurrent
// use.
type Bank struct {
	mu   sync.Mutex
	sel  []int
	vals [NumPCRs][sha256.Size]byte
}

// Select sets the slots later evidence reports.
func (b *Bank) Select(slots ...int) error {
	sel, err := CheckSelection(slots)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sel = sel
	return nil
}

// Extend measures data into a slot the way TPM2_PCR_Event does:
// v = SHA-256(v ‖ SHA-256(data)).
func (b *Bank) Extend(i int, data []byte) error {
	if i < 0 || i >= NumPCRs {
		return fmt.Errorf("slot %d out of range", i)
	}
	m := sha256.Sum256(data)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.vals[i] = sha256.Sum256(append(b.vals[i][:], m[:]...))
	return nil
}

// Value is one slot's current value, nil out of range.
func (b *Bank) Value(i int) []byte {
	if i < 0 || i >= NumPCRs {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.vals[i][:])
}

// Read returns the selection (or, when override is non-empty, those
// slots instead) with each slot's current value, read at one instant.
func (b *Bank) Read(override []int) ([]int, map[int][]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sel := slices.Clone(b.sel)
	if len(override) > 0 {
		sel = slices.Clone(override)
	}
	vals := make(map[int][]byte, len(sel))
	for _, i := range sel {
		if i < 0 || i >= NumPCRs {
			return nil, nil, fmt.Errorf("no slot %d to report", i)
		}
		vals[i] = slices.Clone(b.vals[i][:])
	}
	return sel, vals, nil
}

// Endorse is the endorsement of the selection's current values for an
// attester known by kid and ak, of evidence format mediaType ("" for
// Parsec TPM).
func (b *Bank) Endorse(kid []byte, ak *ecdsa.PublicKey, mediaType string) Endorsement {
	sel, vals, _ := b.Read(nil) // the selection was checked by Select
	return Endorsement{
		KeyID:          slices.Clone(kid),
		AttestationKey: ak,
		PCRSelection:   PCRSelection{Hash: crypto.SHA256, PCRs: sel},
		ReferencePCRs:  vals,
		MediaType:      mediaType,
	}
}

// FaultSwitch holds the faults a software attester honours, replaced at
// run time. Attesters embed it, with a Bank, for the Attester methods.
type FaultSwitch struct {
	mu     sync.Mutex
	faults Faults
}

// SetFaults replaces the fault settings for later evidence.
func (s *FaultSwitch) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// CurrentFaults are the settings evidence made now honours.
func (s *FaultSwitch) CurrentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}
