// Package cborev is the CBOR codec the project's own evidence formats
// share: CTAP2 canonical encoding, and strict decoding (duplicate keys
// refused: two readers must not see different evidence) followed by the
// format's own completeness check.
package cborev

import (
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/fxamacker/cbor/v2"
)

// Validator is evidence that can say whether it is complete; its errors
// are *attest.Rejection.
type Validator interface {
	Validate() error
}

// Codec encodes and decodes one format's evidence.
type Codec struct {
	enc       cbor.EncMode
	dec       cbor.DecMode
	malformed attest.Reason
}

// Limits bound what a decoder accepts.
type Limits struct {
	NestedLevels, ArrayElements, MapPairs int
}

// New makes a codec whose decoding failures are rejected for malformed.
func New(malformed attest.Reason, l Limits) Codec {
	enc, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		MaxNestedLevels:   l.NestedLevels,
		MaxArrayElements:  l.ArrayElements,
		MaxMapPairs:       l.MapPairs,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return Codec{enc: enc, dec: dec, malformed: malformed}
}

// Encode serialises v after checking it is complete.
func (c Codec) Encode(v Validator) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return c.enc.Marshal(v)
}

// Decode parses data into a new T and checks it is complete.
func Decode[T any, P interface {
	*T
	Validator
}](c Codec, data []byte) (P, error) {
	p := P(new(T))
	if err := c.dec.Unmarshal(data, p); err != nil {
		return nil, attest.Reject(c.malformed, "cbor: %v", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
