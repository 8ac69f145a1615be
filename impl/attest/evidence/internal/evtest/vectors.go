// Package evtest is what every evidence format's tests share: the shape of
// its parser vectors, in the manner of Wycheproof (tokens with the verdict
// the format's decoder and verifier must reach against one endorsement and
// challenge; each format's tests generate theirs with -update and hold the
// code to them), its fuzz target, and an appraisal by the in-process
// verifier.
package evtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
)

// File is one format's vectors.
type File struct {
	Algorithm string   `json:"algorithm"`
	Header    []string `json:"header"`
	// InstanceID, IAK (DER SPKI) and Components (index to measurement)
	// are the endorsement; Challenge is what the evidence must carry.
	InstanceID string            `json:"instanceId"`
	IAK        string            `json:"iak"`
	Components map[string]string `json:"components"`
	Challenge  string            `json:"challenge"`
	// ActivatedEK and ActivatedNames, for evidence of credential
	// activation (package parsecac), replace the IAK and components:
	// the endorsement is of those key names activated under that EK.
	ActivatedEK    string   `json:"activatedEk,omitempty"`
	ActivatedNames []string `json:"activatedNames,omitempty"`
	Tests          []Vector `json:"tests"`
}

// Vector is one token and its verdict.
type Vector struct {
	TcID    int    `json:"tcId"`
	Comment string `json:"comment"`
	Token   string `json:"token"`
	// Result is "valid", or "invalid" with Reason, the reason code of
	// the first check that fails.
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// Key derives a fixed P-256 key from a label, so regenerated vectors
// keep their keys.
func Key(label string) *ecdsa.PrivateKey {
	d := sha256.Sum256([]byte("attested-tls evidence vectors v1: " + label))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		panic(err)
	}
	return k
}

// New starts a file for endorsement e and challenge.
func New(algorithm string, header []string, e parsectpm.Endorsement, challenge []byte) (File, error) {
	if a := e.Activation; a != nil {
		f := File{Algorithm: algorithm, Header: header, InstanceID: hex.EncodeToString(e.KeyID),
			ActivatedEK: hex.EncodeToString(a.EK), Challenge: hex.EncodeToString(challenge)}
		for _, n := range a.Names {
			f.ActivatedNames = append(f.ActivatedNames, hex.EncodeToString(n))
		}
		return f, nil
	}
	spki, err := x509.MarshalPKIXPublicKey(e.AttestationKey)
	if err != nil {
		return File{}, err
	}
	f := File{Algorithm: algorithm, Header: header, InstanceID: hex.EncodeToString(e.KeyID), IAK: hex.EncodeToString(spki),
		Components: map[string]string{}, Challenge: hex.EncodeToString(challenge)}
	for i, v := range e.ReferencePCRs {
		f.Components[strconv.Itoa(i)] = hex.EncodeToString(v)
	}
	return f, nil
}

// Add appends a token, its verdict to be filled in by Judge.
func (f *File) Add(comment string, token []byte) {
	f.Tests = append(f.Tests, Vector{TcID: len(f.Tests) + 1, Comment: comment, Token: hex.EncodeToString(token)})
}

// Endorsement is the file's endorsement for evidence of mediaType.
func (f File) Endorsement(mediaType string) (parsectpm.Endorsement, error) {
	if f.ActivatedEK != "" {
		inst, err1 := hex.DecodeString(f.InstanceID)
		ek, err2 := hex.DecodeString(f.ActivatedEK)
		if err := errors.Join(err1, err2); err != nil {
			return parsectpm.Endorsement{}, err
		}
		a := &parsectpm.Activation{EK: ek}
		for _, n := range f.ActivatedNames {
			b, err := hex.DecodeString(n)
			if err != nil {
				return parsectpm.Endorsement{}, err
			}
			a.Names = append(a.Names, b)
		}
		return parsectpm.Endorsement{KeyID: inst, MediaType: mediaType, Activation: a}, nil
	}
	der, err := hex.DecodeString(f.IAK)
	if err != nil {
		return parsectpm.Endorsement{}, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return parsectpm.Endorsement{}, err
	}
	ak, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return parsectpm.Endorsement{}, fmt.Errorf("evtest: IAK is a %T", k)
	}
	inst, err := hex.DecodeString(f.InstanceID)
	if err != nil {
		return parsectpm.Endorsement{}, err
	}
	e := parsectpm.Endorsement{KeyID: inst, AttestationKey: ak, MediaType: mediaType,
		PCRSelection: parsectpm.PCRSelection{Hash: crypto.SHA256}, ReferencePCRs: map[int][]byte{}}
	for k, v := range f.Components {
		i, err := strconv.Atoi(k)
		if err != nil {
			return parsectpm.Endorsement{}, err
		}
		if e.ReferencePCRs[i], err = hex.DecodeString(v); err != nil {
			return parsectpm.Endorsement{}, err
		}
		e.PCRSelection.PCRs = append(e.PCRSelection.PCRs, i)
	}
	return e, nil
}

// Judge fills in every verdict with check, which decodes and verifies
// one token against the file's endorsement and challenge.
func (f *File) Judge(check func(token []byte) error) error {
	for i, v := range f.Tests {
		token, err := hex.DecodeString(v.Token)
		if err != nil {
			return err
		}
		if f.Tests[i].Result, f.Tests[i].Reason, err = Verdict(check(token)); err != nil {
			return fmt.Errorf("tcId %d: %w", v.TcID, err)
		}
	}
	return nil
}

// Verdict is the result and reason an error from a check stands for; an
// error that carries no reason is a bug in the check.
func Verdict(err error) (result, reason string, bug error) {
	if err == nil {
		return "valid", "", nil
	}
	if r := attest.ReasonOf(err); r != "" {
		return "invalid", string(r), nil
	}
	return "", "", fmt.Errorf("%v is not a rejection", err)
}

// Write saves f as indented JSON.
func (f File) Write(path string) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read loads a file.
func Read(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Tests) == 0 {
		return f, fmt.Errorf("%s: no vectors", path)
	}
	return f, nil
}

// Check holds check to every verdict of the file at path, reporting each
// disagreement to errorf.
func Check(path, mediaType string, check func(e parsectpm.Endorsement, challenge, token []byte) error, errorf func(string, ...any)) error {
	f, err := Read(path)
	if err != nil {
		return err
	}
	e, err := f.Endorsement(mediaType)
	if err != nil {
		return err
	}
	challenge, err := hex.DecodeString(f.Challenge)
	if err != nil {
		return err
	}
	for _, v := range f.Tests {
		token, err := hex.DecodeString(v.Token)
		if err != nil {
			return err
		}
		res, reason, err := Verdict(check(e, challenge, token))
		if err != nil {
			return fmt.Errorf("tcId %d: %w", v.TcID, err)
		}
		if res != v.Result || reason != v.Reason {
			errorf("tcId %d (%s): %s %s, want %s %s", v.TcID, v.Comment, res, reason, v.Result, v.Reason)
		}
	}
	return nil
}

// Tokens are the file's tokens, fuzzing seeds.
func (f File) Tokens() [][]byte {
	var out [][]byte
	for _, v := range f.Tests {
		if b, err := hex.DecodeString(v.Token); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// CheckFunc decodes and verifies one token against an endorsement and a
// challenge.
type CheckFunc func(e parsectpm.Endorsement, challenge, token []byte) error

// Test is a format's parser-vector test: with update it first writes
// generate's file to path; then it holds check to every verdict there.
func Test(t *testing.T, path, mediaType string, update bool, generate func(*testing.T) File, check CheckFunc) {
	t.Helper()
	if update {
		if err := generate(t).Write(path); err != nil {
			t.Fatal(err)
		}
	}
	if err := Check(path, mediaType, check, t.Errorf); err != nil {
		t.Fatal(err)
	}
}

// Fuzz is a format's fuzz target, seeded with the vectors at path: no
// input makes check panic or hang, and every failure is a rejection with
// a reason.
func Fuzz(f *testing.F, path, mediaType string, check CheckFunc) {
	vf, err := Read(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, tok := range vf.Tokens() {
		f.Add(tok)
	}
	e, err := vf.Endorsement(mediaType)
	if err != nil {
		f.Fatal(err)
	}
	challenge, err := hex.DecodeString(vf.Challenge)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, _, err := Verdict(check(e, challenge, data)); err != nil {
			t.Fatal(err)
		}
	})
}
