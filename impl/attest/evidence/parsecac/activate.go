package parsecac

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	legacy "github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/legacy/tpm2/credactivation"
)

// SecretSize is the size of the secret a credential carries.
const SecretSize = 32

// Credential is a credential made for a key name under an EK, and the
// secret only that TPM can recover from it.
type Credential struct {
	// Blob and EncSecret are the TPM2B_ID_OBJECT's and
	// TPM2B_ENCRYPTED_SECRET's contents, as AttestKey takes them.
	Blob, EncSecret []byte
	secret          []byte
}

// MakeCredential is TPM2_MakeCredential done by a verifier: a fresh
// secret, wrapped so that only a TPM holding ek's private half and a
// loaded object named name unwraps it (TPM2_ActivateCredential).
func MakeCredential(ekDER, name []byte) (*Credential, error) {
	ek, err := ParseEK(ekDER)
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "%v", err)
	}
	if len(name) != 2+32 || binary.BigEndian.Uint16(name) != uint16(legacy.AlgSHA256) {
		return nil, attest.Reject(ReasonName, "name %x: want a SHA-256 name", name)
	}
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	// Parsec's TPM provider makes its EK with AES-128 as the symmetric
	// algorithm: 16-byte blocks.
	blob, enc, err := credactivation.Generate(&legacy.HashValue{Alg: legacy.AlgSHA256, Value: name[2:]}, ek, 16, secret)
	if err != nil {
		return nil, fmt.Errorf("parsecac: make credential: %w", err)
	}
	// Both come as TPM2B (a 2-byte size, then the contents); AttestKey
	// takes the contents.
	if blob, err = tpm2bContents(blob); err != nil {
		return nil, err
	}
	if enc, err = tpm2bContents(enc); err != nil {
		return nil, err
	}
	return &Credential{Blob: blob, EncSecret: enc, secret: secret}, nil
}

func tpm2bContents(b []byte) ([]byte, error) {
	if len(b) < 2 || int(binary.BigEndian.Uint16(b)) != len(b)-2 {
		return nil, fmt.Errorf("parsecac: malformed TPM2B of %d bytes", len(b))
	}
	return b[2:], nil
}

// Check compares what an attester recovered with the secret, in constant
// time.
func (c *Credential) Check(recovered []byte) error {
	if subtle.ConstantTimeCompare(recovered, c.secret) != 1 {
		return attest.Reject(ReasonActivation, "the recovered credential is not the secret")
	}
	return nil
}

// Activator recovers a credential made for one of its keys:
// TPM2_ActivateCredential through Parsec's AttestKey.
type Activator interface {
	ActivateCredential(ctx context.Context, key string, c *Credential) ([]byte, error)
}

// Key is a key to activate: its name in Parsec and its TPM name.
type Key struct {
	Parsec  string
	TPMName []byte
}

// Activate is a verifier's credential activation of keys under the EK
// ekDER (which the verifier has endorsed): for each, it makes a
// credential, has the attester recover it and compares; if all succeed it
// returns the endorsement recording them, the first as the identity key.
func Activate(ctx context.Context, a Activator, ekDER []byte, keys ...Key) (parsectpm.Endorsement, error) {
	var names [][]byte
	for _, k := range keys {
		c, err := MakeCredential(ekDER, k.TPMName)
		if err != nil {
			return parsectpm.Endorsement{}, err
		}
		got, err := a.ActivateCredential(ctx, k.Parsec, c)
		if err != nil {
			return parsectpm.Endorsement{}, attest.Reject(ReasonActivation, "%s: %v", k.Parsec, err)
		}
		if err := c.Check(got); err != nil {
			return parsectpm.Endorsement{}, err
		}
		names = append(names, k.TPMName)
	}
	if len(names) == 0 {
		return parsectpm.Endorsement{}, errors.New("parsecac: no key to activate")
	}
	return Endorse(ekDER, names...), nil
}
