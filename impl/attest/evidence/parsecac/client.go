package parsecac

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"

	"github.com/parallaxsecond/parsec-client-go/interface/auth"
	"github.com/parallaxsecond/parsec-client-go/interface/operations/ping"
	"github.com/parallaxsecond/parsec-client-go/interface/operations/psaalgorithm"
	"github.com/parallaxsecond/parsec-client-go/interface/operations/psadestroykey"
	"github.com/parallaxsecond/parsec-client-go/interface/operations/psaexportpublickey"
	"github.com/parallaxsecond/parsec-client-go/interface/operations/psageneratekey"
	"github.com/parallaxsecond/parsec-client-go/interface/operations/psakeyattributes"
	"github.com/parallaxsecond/parsec-client-go/interface/operations/psasignhash"
	"github.com/parallaxsecond/parsec-client-go/interface/requests"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Opcodes parsec-client-go does not define: the key-attestation
// operations of Parsec 1.x.
const (
	opAttestKey             requests.OpCode = 0x1E
	opPrepareKeyAttestation requests.OpCode = 0x1F
)

// DefaultCallTimeout bounds a call whose context has no deadline.
const DefaultCallTimeout = 30 * time.Second

// maxBody bounds a response body: Parsec's answers here are a few
// hundred bytes, and a larger claim is not worth allocating for.
const maxBody = 1 << 20

// Client talks to a Parsec service on its Unix socket, one connection per
// call (as the service expects), every call under a deadline. Keys are
// made on the TPM provider.
type Client struct {
	socket string
	auth   auth.Authenticator
}

// NewClient is a client of the service listening on socket.
func NewClient(socket string) *Client {
	return &Client{socket: socket, auth: auth.NewUnixPeerAuthenticator()}
}

// Socket is the service's socket path.
func (c *Client) Socket() string { return c.socket }

// call sends one request and returns the response body.
func (c *Client) call(ctx context.Context, op requests.OpCode, provider requests.ProviderID, body proto.Message) ([]byte, error) {
	req, err := requests.NewRequest(op, body, c.auth, provider)
	if err != nil {
		return nil, fmt.Errorf("parsec: opcode %#x: %w", uint32(op), err)
	}
	wire, err := req.Pack()
	if err != nil {
		return nil, fmt.Errorf("parsec: opcode %#x: %w", uint32(op), err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("parsec: %w", err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	// A context cancelled before its deadline ends the call too.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(wire.Bytes()); err != nil {
		return nil, fmt.Errorf("parsec: opcode %#x: write: %w", uint32(op), err)
	}
	resp, err := readResponse(conn, op)
	if err != nil {
		return nil, fmt.Errorf("parsec: opcode %#x: %w", uint32(op), err)
	}
	return resp, nil
}

// Response header layout (wire protocol 1.0): magic, header size, then
// fixed fields; 36 bytes in all.
const (
	respMagic     = 0x5EC0A710
	respHeaderLen = 36
)

// StatusError is a request the service answered with a non-zero status.
type StatusError struct{ Status requests.StatusCode }

func (e *StatusError) Error() string {
	if err := e.Status.ToErr(); err != nil {
		return fmt.Sprintf("status %d (%v)", e.Status, err)
	}
	return fmt.Sprintf("status %d", e.Status)
}

func readResponse(r io.Reader, op requests.OpCode) ([]byte, error) {
	hdr := make([]byte, respHeaderLen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("response header: %w", err)
	}
	return parseResponse(hdr, r, op)
}

// parseResponse checks the header hdr and reads the body that follows it
// from r.
func parseResponse(hdr []byte, r io.Reader, op requests.OpCode) ([]byte, error) {
	if m := binary.LittleEndian.Uint32(hdr); m != respMagic {
		return nil, fmt.Errorf("response magic %#x", m)
	}
	if n := binary.LittleEndian.Uint16(hdr[4:]); int(n) != respHeaderLen-6 {
		return nil, fmt.Errorf("response header size %d", n)
	}
	bodyLen := binary.LittleEndian.Uint32(hdr[22:])
	authLen := binary.LittleEndian.Uint16(hdr[26:])
	if got := requests.OpCode(binary.LittleEndian.Uint32(hdr[28:])); got != op {
		return nil, fmt.Errorf("response to opcode %#x", uint32(got))
	}
	if bodyLen > maxBody || authLen > 0 {
		return nil, fmt.Errorf("response body %d bytes, auth %d bytes", bodyLen, authLen)
	}
	if st := requests.StatusCode(binary.LittleEndian.Uint16(hdr[32:])); st != requests.StatusSuccess {
		return nil, &StatusError{Status: st}
	}
	body := make([]byte, bodyLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("response body: %w", err)
	}
	return body, nil
}

// Ping asks the core provider for its wire protocol version.
func (c *Client) Ping(ctx context.Context) (major, minor uint32, err error) {
	body, err := c.call(ctx, requests.OpPing, requests.ProviderCore, &ping.Operation{})
	if err != nil {
		return 0, 0, err
	}
	var res ping.Result
	if err := proto.Unmarshal(body, &res); err != nil {
		return 0, 0, fmt.Errorf("parsec: ping: %w", err)
	}
	return res.WireProtocolVersionMaj, res.WireProtocolVersionMin, nil
}

// ecdsaSHA256 is the one algorithm the identity key is made for.
func ecdsaSHA256() *psaalgorithm.Algorithm_AsymmetricSignature {
	return &psaalgorithm.Algorithm_AsymmetricSignature{
		Variant: &psaalgorithm.Algorithm_AsymmetricSignature_Ecdsa_{
			Ecdsa: &psaalgorithm.Algorithm_AsymmetricSignature_Ecdsa{
				HashAlg: &psaalgorithm.Algorithm_AsymmetricSignature_SignHash{
					Variant: &psaalgorithm.Algorithm_AsymmetricSignature_SignHash_Specific{
						Specific: psaalgorithm.Algorithm_SHA_256,
					},
				},
			},
		},
	}
}

// GenerateKey makes an ECC P-256 key pair named name in the TPM, allowed
// to sign hashes with ECDSA SHA-256 and nothing else (not exportable).
func (c *Client) GenerateKey(ctx context.Context, name string) error {
	_, err := c.call(ctx, requests.OpPsaGenerateKey, requests.ProviderTPM, &psageneratekey.Operation{
		KeyName: name,
		Attributes: &psakeyattributes.KeyAttributes{
			KeyType: &psakeyattributes.KeyType{Variant: &psakeyattributes.KeyType_EccKeyPair_{
				EccKeyPair: &psakeyattributes.KeyType_EccKeyPair{CurveFamily: psakeyattributes.KeyType_SECP_R1},
			}},
			KeyBits: 256,
			KeyPolicy: &psakeyattributes.KeyPolicy{
				KeyUsageFlags: &psakeyattributes.UsageFlags{SignHash: true, VerifyHash: true},
				KeyAlgorithm: &psaalgorithm.Algorithm{Variant: &psaalgorithm.Algorithm_AsymmetricSignature_{
					AsymmetricSignature: ecdsaSHA256(),
				}},
			},
		},
	})
	return err
}

// PublicKey exports the public half of key name (a P-256 key: PSA's
// export is the uncompressed point).
func (c *Client) PublicKey(ctx context.Context, name string) (*ecdsa.PublicKey, error) {
	body, err := c.call(ctx, requests.OpPsaExportPublicKey, requests.ProviderTPM, &psaexportpublickey.Operation{KeyName: name})
	if err != nil {
		return nil, err
	}
	var res psaexportpublickey.Result
	if err := proto.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("parsec: export public key: %w", err)
	}
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), res.Data)
	if err != nil {
		return nil, fmt.Errorf("parsec: export public key: %w", err)
	}
	return k, nil
}

// SignHash signs a SHA-256 digest with key name and returns an ASN.1 DER
// ECDSA signature (PSA returns r ‖ s; TLS wants DER).
func (c *Client) SignHash(ctx context.Context, name string, digest []byte) ([]byte, error) {
	body, err := c.call(ctx, requests.OpPsaSignHash, requests.ProviderTPM, &psasignhash.Operation{
		KeyName: name, Alg: ecdsaSHA256(), Hash: digest,
	})
	if err != nil {
		return nil, err
	}
	var res psasignhash.Result
	if err := proto.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("parsec: sign hash: %w", err)
	}
	return RawToDER(res.Signature)
}

// RawToDER turns a PSA ECDSA signature (r ‖ s, each as long as the
// curve's order) into ASN.1 DER.
func RawToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 || len(raw) > 2*66 {
		return nil, fmt.Errorf("parsec: raw ECDSA signature of %d bytes", len(raw))
	}
	r := new(big.Int).SetBytes(raw[:len(raw)/2])
	s := new(big.Int).SetBytes(raw[len(raw)/2:])
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}

// DestroyKey deletes key name from the TPM provider.
func (c *Client) DestroyKey(ctx context.Context, name string) error {
	_, err := c.call(ctx, requests.OpPsaDestroyKey, requests.ProviderTPM, &psadestroykey.Operation{KeyName: name})
	return err
}

// raw is a request body parsec-client-go has no message for: protowire
// bytes carried as the unknown fields of an empty message, which proto
// marshals as they are.
func raw(body []byte) proto.Message {
	m := &emptypb.Empty{}
	m.ProtoReflect().SetUnknown(protoreflect.RawFields(body))
	return m
}

// Preparation is what PrepareKeyAttestation returns for credential
// activation: the key's TPM name and public area, and the attesting key
// (the TPM's endorsement key, EK).
type Preparation struct {
	Name   []byte // TPM2B_NAME contents: nameAlg ‖ digest
	Public []byte // TPMT_PUBLIC
	EK     []byte // the EK's public key as Parsec exports it (PKCS#1 RSAPublicKey DER)
}

// PrepareKeyAttestation asks the TPM provider what a verifier needs to make
// a credential for key name.
func (c *Client) PrepareKeyAttestation(ctx context.Context, name string) (*Preparation, error) {
	// {1 parameters {1 activate_credential {1 attested_key_name}}}
	req := field1(field1(field1([]byte(name))))
	body, err := c.call(ctx, opPrepareKeyAttestation, requests.ProviderTPM, raw(req))
	if err != nil {
		return nil, err
	}
	return parsePreparation(body)
}

// parsePreparation reads PrepareKeyAttestation's result:
// {1 output {1 activate_credential {1 name, 2 public, 3 attesting_key_pub}}}.
func parsePreparation(body []byte) (*Preparation, error) {
	out, err := nested(body, 2)
	if err != nil {
		return nil, fmt.Errorf("parsec: prepare key attestation: %w", err)
	}
	var p Preparation
	for _, f := range []struct {
		num protowire.Number
		dst *[]byte
	}{{1, &p.Name}, {2, &p.Public}, {3, &p.EK}} {
		if *f.dst, err = field(out, f.num); err != nil {
			return nil, fmt.Errorf("parsec: prepare key attestation: %w", err)
		}
	}
	return &p, nil
}

// AttestKey hands the TPM provider a credential made for key name
// (TPM2_ActivateCredential): credentialBlob is the TPM2B_ID_OBJECT's
// contents and secret the TPM2B_ENCRYPTED_SECRET's. It returns the
// credential the TPM recovered.
func (c *Client) AttestKey(ctx context.Context, name string, credentialBlob, secret []byte) ([]byte, error) {
	// {1 attested_key_name, 2 parameters {1 activate_credential {1 credential_blob, 2 secret}}}
	ac := appendBytesField(appendBytesField(nil, 1, credentialBlob), 2, secret)
	req := appendBytesField(appendBytesField(nil, 1, []byte(name)), 2, field1(ac))
	body, err := c.call(ctx, opAttestKey, requests.ProviderTPM, raw(req))
	if err != nil {
		return nil, err
	}
	// {1 output {1 activate_credential {1 credential}}}
	cred, err := nested(body, 3)
	if err != nil {
		return nil, fmt.Errorf("parsec: attest key: %w", err)
	}
	return cred, nil
}

// nested is field 1 of field 1 … of msg, depth times over.
func nested(msg []byte, depth int) ([]byte, error) {
	var err error
	for range depth {
		if msg, err = field(msg, 1); err != nil {
			return nil, err
		}
	}
	return msg, nil
}

// appendBytesField appends length-delimited field num holding v.
func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

// field1 is a message whose only field, 1, holds v: how most nested
// messages of these requests are made.
func field1(v []byte) []byte { return appendBytesField(nil, 1, v) }

// field returns the bytes of the last occurrence of length-delimited
// field num in a protobuf message (proto3 merges, so the last wins).
func field(msg []byte, num protowire.Number) ([]byte, error) {
	var (
		val   []byte
		found bool
	)
	for len(msg) > 0 {
		n, typ, tl := protowire.ConsumeTag(msg)
		if tl < 0 {
			return nil, protowire.ParseError(tl)
		}
		msg = msg[tl:]
		if n == num && typ == protowire.BytesType {
			v, vl := protowire.ConsumeBytes(msg)
			if vl < 0 {
				return nil, protowire.ParseError(vl)
			}
			val, found = v, true
			msg = msg[vl:]
			continue
		}
		fl := protowire.ConsumeFieldValue(n, typ, msg)
		if fl < 0 {
			return nil, protowire.ParseError(fl)
		}
		msg = msg[fl:]
	}
	if !found {
		return nil, fmt.Errorf("no field %d", num)
	}
	return val, nil
}

// ParseEK reads the EK public key Parsec exports: PKCS#1 for RSA (what
// its TPM provider uses), or a SubjectPublicKeyInfo.
func ParseEK(der []byte) (*rsa.PublicKey, error) {
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("EK: neither a PKCS#1 RSA key nor a SubjectPublicKeyInfo")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("EK: %T, want RSA", k)
	}
	return rk, nil
}
