package attack

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// Mallory is the attester the attacker's TLS stack runs with: the key it
// signs CertificateVerify with and the evidence it presents both come from
// its capability.
type Mallory struct {
	Key     crypto.Signer
	Media   []string
	Present func(ctx context.Context, ch attest.Challenge) (attest.Evidence, error)
}

func (m *Mallory) Identity() crypto.Signer { return m.Key }
func (m *Mallory) MediaTypes() []string    { return m.Media }
func (m *Mallory) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	return m.Present(ctx, ch)
}

// ReplayedSigner "signs" with a signature captured from another handshake:
// the attacker copying the genuine attester's CertificateVerify.
type ReplayedSigner struct {
	Pub crypto.PublicKey
	Sig []byte
}

func (s *ReplayedSigner) Public() crypto.PublicKey { return s.Pub }

func (s *ReplayedSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	if s.Sig == nil {
		return nil, errors.New("attack: no CertificateVerify signature captured to replay")
	}
	return slices.Clone(s.Sig), nil
}

// Captured is what an attacker records of a genuine attester's flight.
type Captured struct {
	// Payload is the attestation CMW, as it travelled.
	Payload []byte
	// Chain is the X.509 chain of an X.509 credential, nil otherwise.
	Chain [][]byte
	// Scheme and Signature are its CertificateVerify.
	Scheme    tls13.SignatureScheme
	Signature []byte
}

// Evidence is the payload unwrapped, for an attacker that presents it as
// its own.
func (c *Captured) Evidence() (attest.Evidence, error) {
	msg, err := cmw.Unwrap(c.Payload)
	if err != nil {
		return attest.Evidence{}, fmt.Errorf("attack: captured payload: %w", err)
	}
	if msg.Type.IsContentFormat {
		return attest.Evidence{}, errors.New("attack: captured payload has a content format, not a media type")
	}
	return attest.Evidence{MediaType: msg.Type.MediaType, Data: msg.Value}, nil
}

// Capture reads the attestation payload, the chain and the
// CertificateVerify signature from the flight of an attester of the named
// profile that presented credential cred, with the default codepoints.
func Capture(name string, cred party.Credential, flight wire.Flight) (*Captured, error) {
	d, err := profile.Describe(name)
	if err != nil {
		return nil, fmt.Errorf("attack: %w", err)
	}
	if _, ok := d.Bindings[cred]; !ok {
		return nil, fmt.Errorf("attack: profile %q has no %s credential", name, cred)
	}
	certMsg, ok := flight.Find(wire.Certificate)
	if !ok {
		return nil, errors.New("attack: the attester sent no Certificate")
	}
	cert, err := certMsg.Certificate()
	if err != nil {
		return nil, err
	}
	if len(cert.Entries) == 0 {
		return nil, errors.New("attack: the attester sent an empty Certificate")
	}
	cv, ok := flight.Find(wire.CertificateVerify)
	if !ok {
		return nil, errors.New("attack: the attester sent no CertificateVerify")
	}
	c := &Captured{}
	if c.Scheme, c.Signature, err = ParseCertificateVerify(cv); err != nil {
		return nil, err
	}
	if cred == party.X509 {
		for _, e := range cert.Entries {
			c.Chain = append(c.Chain, slices.Clone(e.Data))
		}
	}
	// The profile reads its CMW out of the end-entity entry: the cert_data
	// of an attestation-only credential, an extension of an X.509 one.
	ee := cert.Entries[0]
	payload, err := d.CMWIn(codepoint.Default(), cred, ee.Data, ee.Extensions)
	if err != nil {
		return nil, fmt.Errorf("attack: %w", err)
	}
	c.Payload = slices.Clone(payload)
	return c, nil
}

// ParseCertificateVerify reads a CertificateVerify handshake message
// (RFC 8446 §4.4.3): the scheme and the signature.
func ParseCertificateVerify(m wire.Message) (tls13.SignatureScheme, []byte, error) {
	s := cryptobyte.String(m)
	var typ uint8
	var body, sig cryptobyte.String
	var scheme uint16
	if !s.ReadUint8(&typ) || typ != wire.CertificateVerify || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() ||
		!body.ReadUint16(&scheme) || !body.ReadUint16LengthPrefixed(&sig) || !body.Empty() || sig.Empty() {
		return 0, nil, tls13.Alertf(tls13.AlertDecodeError, "attack: malformed CertificateVerify")
	}
	return tls13.SignatureScheme(scheme), slices.Clone([]byte(sig)), nil
}

// slack is how far inside or beyond its freshness window a replayed
// result is presented.
const slack = time.Minute

func victimFreshness(p *party.Party) time.Duration {
	if p.Policy != nil && p.Policy.Freshness > 0 {
		return p.Policy.Freshness
	}
	return policy.DefaultFreshness
}

// shifted is a clock running d ahead: the victim meets the replay d after
// the result was issued.
func shifted(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}
