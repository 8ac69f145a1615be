package parsecac

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/parallaxsecond/parsec-client-go/interface/requests"
)

// header is a response header for op with status st and a body of n
// bytes.
func header(op requests.OpCode, st requests.StatusCode, n int) []byte {
	h := make([]byte, respHeaderLen)
	binary.LittleEndian.PutUint32(h, respMagic)
	binary.LittleEndian.PutUint16(h[4:], respHeaderLen-6)
	binary.LittleEndian.PutUint32(h[22:], uint32(n))
	binary.LittleEndian.PutUint32(h[28:], uint32(op))
	binary.LittleEndian.PutUint16(h[32:], uint16(st))
	return h
}

// A response is taken only with the magic, the opcode asked, a success
// status and a body of a sane size, all there.
func TestParseResponse(t *testing.T) {
	body := []byte("body")
	good := header(opAttestKey, requests.StatusSuccess, len(body))
	if got, err := parseResponse(good, bytes.NewReader(body), opAttestKey); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("%q, %v", got, err)
	}
	var se *StatusError
	if _, err := parseResponse(header(opAttestKey, requests.StatusPsaErrorCommunicationFailure, 0), nil, opAttestKey); !errors.As(err, &se) {
		t.Errorf("a failure status: %v", err)
	}
	badMagic := bytes.Clone(good)
	badMagic[0] ^= 1
	badSize := bytes.Clone(good)
	badSize[4]++
	withAuth := bytes.Clone(good)
	withAuth[26] = 1
	for what, c := range map[string]struct {
		hdr  []byte
		body []byte
		op   requests.OpCode
	}{
		"bad magic":        {badMagic, body, opAttestKey},
		"bad header size":  {badSize, body, opAttestKey},
		"another opcode":   {good, body, opPrepareKeyAttestation},
		"a huge body":      {header(opAttestKey, 0, maxBody+1), body, opAttestKey},
		"a truncated body": {good, body[:2], opAttestKey},
		"an auth field":    {withAuth, body, opAttestKey},
	} {
		if _, err := parseResponse(c.hdr, bytes.NewReader(c.body), c.op); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
}

// The key-attestation results are read as the service encodes them, and
// a missing field is an error.
func TestParseResults(t *testing.T) {
	out := appendBytesField(appendBytesField(appendBytesField(nil, 1, []byte("name")), 2, []byte("public")), 3, []byte("ek"))
	p, err := parsePreparation(field1(field1(out)))
	if err != nil || string(p.Name) != "name" || string(p.Public) != "public" || string(p.EK) != "ek" {
		t.Fatalf("%+v, %v", p, err)
	}
	if _, err := parsePreparation(field1(field1(out[:len(out)-4]))); err == nil {
		t.Error("a preparation without its EK")
	}
	if c, err := nested(field1(field1(field1([]byte("secret")))), 3); err != nil || string(c) != "secret" {
		t.Errorf("%q, %v", c, err)
	}
	if _, err := nested([]byte{0x0a, 0x05, 1}, 1); err == nil {
		t.Error("a truncated field")
	}
}

// FuzzResponse: no response makes the client's reading of it panic.
func FuzzResponse(f *testing.F) {
	out := appendBytesField(appendBytesField(appendBytesField(nil, 1, []byte("name")), 2, []byte("public")), 3, []byte("ek"))
	prep := field1(field1(out))
	f.Add(append(header(opPrepareKeyAttestation, 0, len(prep)), prep...))
	cred := field1(field1(field1([]byte("secret"))))
	f.Add(append(header(opAttestKey, 0, len(cred)), cred...))
	f.Add(header(opAttestKey, 1145, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < respHeaderLen {
			return
		}
		for _, op := range []requests.OpCode{opPrepareKeyAttestation, opAttestKey} {
			body, err := parseResponse(b[:respHeaderLen], bytes.NewReader(b[respHeaderLen:]), op)
			if err != nil {
				continue
			}
			parsePreparation(body)
			nested(body, 3)
		}
		parseResponse(b[:respHeaderLen], bytes.NewReader(b[respHeaderLen:]), requests.OpPing)
	})
}
