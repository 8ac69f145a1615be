// Package tpm is an attester whose root of trust is a TPM 2.0: the
// attestation key (AK) and the TLS identity key (TIK) are created in the
// TPM, the TIK signs through TPM2_Sign, and the evidence is Parsec TPM key
// attestation (parsectpm): TPM2_Certify of the TIK by the AK (KAT) and
// TPM2_Quote of a PCR selection (PAT), both bound to the challenge.
//
// Three TPMs can back it (Config.Transport): the in-process Microsoft
// reference simulator, swtpm over TCP, and a kernel TPM device. All
// Attesters in a process that use the same TPM share one connection, its
// object slots and its PCRs. Every TPM command runs within a deadline and
// errors name the TPM command that failed ("TPM2_Quote: ...").
package tpm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Transports Config.Transport selects.
const (
	// TransportSimulator is the in-process MS reference TPM (cgo); it is
	// manufactured fresh when the first Attester of the process opens it
	// and shut down when the last one closes.
	TransportSimulator = "simulator"
	// TransportSwtpm is swtpm's TCP server socket at Config.Addr (see
	// StartSwtpm), started with --flags not-need-init,startup-clear.
	TransportSwtpm = "swtpm"
	// TransportDevice is a kernel TPM device at Config.Path.
	TransportDevice = "device"
)

// DefaultDevice is the kernel's resource-managed TPM device.
const DefaultDevice = "/dev/tpmrm0"

// DefaultPCRs is the quoted selection (sha256 bank) when Config.PCRs is
// empty, as for the software attester.
var DefaultPCRs = []int{0, 1, 7}

// Config selects the TPM and the attester's settings.
type Config struct {
	// Transport is TransportSimulator, TransportSwtpm or TransportDevice.
	Transport string
	// Addr is swtpm's server socket, host:port.
	Addr string
	// Path is the device for TransportDevice; "" means DefaultDevice.
	Path string
	// PCRs is the quoted selection of the sha256 bank; nil means
	// DefaultPCRs.
	PCRs []int
	// KeyID is the kid the tokens carry, a UEID; nil means 0x01 followed
	// by SHA-256 of the AK's SubjectPublicKeyInfo.
	KeyID []byte
	// Timeout bounds the calls that take no context (Identity().Sign,
	// Extend, Close); zero means DefaultTimeout.
	Timeout time.Duration
	// Faults for negative specs.
	Faults parsectpm.Faults
}

const (
	numPCRs           = parsectpm.NumPCRs
	maxQualifyingData = parsectpm.MaxQualifyingData
	// maxEventData is TPM2B_EVENT's limit for TPM2_PCR_Event.
	maxEventData = 1024
)

// Attester is a TPM-backed attester. It is safe for concurrent use.
type Attester struct {
	l        *link
	ak, tik  *object
	akPub    *ecdsa.PublicKey
	tikPub   *ecdsa.PublicKey
	otherAK  *ecdsa.PublicKey // what UnendorsedKey endorses instead
	kid      []byte
	identity *signer
	timeout  time.Duration

	mu     sync.Mutex
	faults parsectpm.Faults
	sel    []int
	pcrs   [numPCRs][]byte // the sha256 bank as last read from the TPM
	other  *object         // created on first use by CertifyOtherKey
	closed bool
}

var _ attest.Attester = (*Attester)(nil)

// Object attributes: the AK a restricted signing key, the TIK an ordinary
// signing key, both generated in the TPM and bound to it.
var (
	akAttributes = tpm2.TPMAObject{
		FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
		UserWithAuth: true, NoDA: true, Restricted: true, SignEncrypt: true,
	}
	tikAttributes = tpm2.TPMAObject{
		FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
		UserWithAuth: true, SignEncrypt: true,
	}
)

// template is an ECC P-256 ECDSA/SHA-256 signing key. unique seeds the
// primary key derivation, so each Attester gets its own keys in a TPM it
// shares with others.
func template(attrs tpm2.TPMAObject, unique []byte) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:             tpm2.TPMAlgECC,
		NameAlg:          tpm2.TPMAlgSHA256,
		ObjectAttributes: attrs,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme: tpm2.TPMTECCScheme{
				Scheme:  tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
			},
			CurveID: tpm2.TPMECCNistP256,
			KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: unique},
		}),
	}
}

// Open connects to the TPM cfg names, creates the AK (endorsement
// hierarchy) and the TIK (owner hierarchy) in it and reads its PCRs. The
// hierarchies must have empty authorization, as a fresh simulator or
// swtpm has. Close releases the keys and the connection.
func Open(ctx context.Context, cfg Config) (*Attester, error) {
	a := &Attester{faults: cfg.Faults, timeout: cfg.Timeout}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if err := a.setSelection(cmpOr(cfg.PCRs, DefaultPCRs)); err != nil {
		return nil, err
	}
	if cfg.Faults.NotSensitiveDataOrigin {
		return nil, errors.New("tpm: a TPM makes no key without sensitiveDataOrigin (TPM2_Create sets it)")
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	a.otherAK = &other.PublicKey
	l, err := acquireLink(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.l = l
	if err := a.create(ctx, cfg.Faults.NotFixedTPM); err != nil {
		a.Close()
		return nil, err
	}
	if a.kid = slices.Clone(cfg.KeyID); a.kid == nil {
		spki, err := x509.MarshalPKIXPublicKey(a.akPub)
		if err != nil {
			a.Close()
			return nil, err
		}
		sum := sha256.Sum256(spki)
		a.kid = append([]byte{0x01}, sum[:]...)
	}
	a.identity = &signer{a: a}
	if err := a.Endorsement().Validate(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func cmpOr(a, b []int) []int {
	if len(a) > 0 {
		return a
	}
	return b
}

func (a *Attester) create(ctx context.Context, notFixed bool) error {
	tikAttrs := tikAttributes
	if notFixed {
		tikAttrs.FixedTPM, tikAttrs.FixedParent = false, false
	}
	return a.l.with(ctx, func(s *session) error {
		var err error
		if a.ak, err = s.createPrimary(tpm2.TPMRHEndorsement, template(akAttributes, randomUnique())); err != nil {
			return err
		}
		if a.tik, err = s.createPrimary(tpm2.TPMRHOwner, template(tikAttrs, randomUnique())); err != nil {
			return err
		}
		if a.akPub, err = publicKey(a.ak); err != nil {
			return err
		}
		if a.tikPub, err = publicKey(a.tik); err != nil {
			return err
		}
		all := make([]int, numPCRs)
		for i := range all {
			all[i] = i
		}
		return a.readPCRs(s, all)
	})
}

func randomUnique() []byte {
	u := make([]byte, 32)
	rand.Read(u)
	return u
}

func publicKey(o *object) (*ecdsa.PublicKey, error) {
	pub, err := parsectpm.ParsePublic(o.public)
	if err != nil {
		return nil, fmt.Errorf("tpm: key the TPM created: %w", err)
	}
	k, err := pub.Key()
	if err != nil {
		return nil, fmt.Errorf("tpm: key the TPM created: %w", err)
	}
	return k, nil
}

// Close flushes the attester's keys and releases its share of the TPM
// connection. The keys cannot be used afterwards.
func (a *Attester) Close() error {
	a.mu.Lock()
	if a.closed || a.l == nil {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	objs := []*object{a.ak, a.tik, a.other}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	// Flushing is best effort: a dead TPM must not stop the release.
	a.l.with(ctx, func(s *session) error {
		for _, o := range objs {
			if o != nil {
				s.evict(o)
			}
		}
		return nil
	})
	return a.l.release()
}

// Identity returns the TLS identity key: signatures come from TPM2_Sign.
func (a *Attester) Identity() crypto.Signer { return a.identity }

// MediaTypes returns the one format this attester produces.
func (a *Attester) MediaTypes() []string { return []string{parsectpm.MediaType} }

// SetFaults replaces the fault settings for later evidence (NotFixedTPM
// has no effect after Open; NotSensitiveDataOrigin is ignored).
func (a *Attester) SetFaults(f parsectpm.Faults) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults = f
}

// Select sets the PCRs later quotes cover and Endorsement endorses.
func (a *Attester) Select(pcrs ...int) error {
	return a.setSelection(pcrs)
}

func (a *Attester) setSelection(pcrs []int) error {
	sel, err := parsectpm.CheckSelection(pcrs)
	if err != nil {
		return fmt.Errorf("tpm: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sel = sel
	return nil
}

// Extend measures data into a PCR of every bank with TPM2_PCR_Event, so
// the sha256 bank becomes SHA-256(PCR || SHA-256(data)) as with the
// software attester (data over 1024 bytes goes through TPM2_PCR_Extend of
// its SHA-256, sha256 bank only). It runs within Config.Timeout.
func (a *Attester) Extend(pcr int, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	return a.ExtendContext(ctx, pcr, data)
}

// ExtendContext is Extend within ctx.
func (a *Attester) ExtendContext(ctx context.Context, pcr int, data []byte) error {
	if pcr < 0 || pcr >= numPCRs {
		return fmt.Errorf("tpm: PCR %d out of range", pcr)
	}
	return a.l.with(ctx, func(s *session) error {
		var err error
		h := tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)}
		if len(data) <= maxEventData {
			_, err = run(s, "TPM2_PCR_Event", func(t transport.TPM) (*tpm2.PCREventResponse, error) {
				return tpm2.PCREvent{PCRHandle: h, EventData: tpm2.TPM2BEvent{Buffer: data}}.Execute(t)
			})
		} else {
			d := sha256.Sum256(data)
			_, err = run(s, "TPM2_PCR_Extend", func(t transport.TPM) (*tpm2.PCRExtendResponse, error) {
				return tpm2.PCRExtend{PCRHandle: h, Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{
					{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]},
				}}}.Execute(t)
			})
		}
		if err != nil {
			return err
		}
		return a.readPCRs(s, []int{pcr})
	})
}

// PCR returns the sha256 value of one PCR as last read from the TPM (at
// Open, after Extend, or by ReadEndorsement).
func (a *Attester) PCR(index int) []byte {
	if index < 0 || index >= numPCRs {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.pcrs[index])
}

// readPCRs reads PCRs of the sha256 bank (TPM2_PCR_Read returns at most
// eight per call) into a.pcrs.
func (a *Attester) readPCRs(s *session, pcrs []int) error {
	want := parsectpm.PCRSelection{Hash: crypto.SHA256, PCRs: slices.Clone(pcrs)}
	got := map[int][]byte{}
	for len(want.PCRs) > 0 {
		sel, err := want.TPMLPCRSelection()
		if err != nil {
			return err
		}
		rsp, err := run(s, "TPM2_PCR_Read", func(t transport.TPM) (*tpm2.PCRReadResponse, error) {
			return tpm2.PCRRead{PCRSelectionIn: sel}.Execute(t)
		})
		if err != nil {
			return err
		}
		read := selected(rsp.PCRSelectionOut)
		if len(read) == 0 || len(read) != len(rsp.PCRValues.Digests) {
			return fmt.Errorf("TPM2_PCR_Read: %d values for PCRs %v of the sha256 bank (is the bank active?)", len(rsp.PCRValues.Digests), want.PCRs)
		}
		for i, p := range read {
			got[p] = slices.Clone(rsp.PCRValues.Digests[i].Buffer)
		}
		want.PCRs = slices.DeleteFunc(want.PCRs, func(p int) bool { _, ok := got[p]; return ok })
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, v := range got {
		a.pcrs[p] = v
	}
	return nil
}

// selected lists the sha256-bank PCRs of a selection in ascending order,
// the order TPM2_PCR_Read returns their values in.
func selected(l tpm2.TPMLPCRSelection) []int {
	var pcrs []int
	for _, s := range l.PCRSelections {
		if s.Hash != tpm2.TPMAlgSHA256 {
			continue
		}
		for i, b := range s.PCRSelect {
			for bit := range 8 {
				if b&(1<<bit) != 0 {
					pcrs = append(pcrs, 8*i+bit)
				}
			}
		}
	}
	return pcrs
}

// Endorsement is what a verifier must be given to accept this attester:
// its kid, AK, and the selected PCRs' values as last read from the TPM
// (at Open or after Extend) as reference values. It does not talk to the
// TPM: ReadEndorsement re-reads the PCRs first, which matters when
// something else extends them (another Attester on the same TPM).
// MaxQualifyingData is what TPM2_Quote and TPM2_Certify bind (attest.Bounded).
func (a *Attester) MaxQualifyingData() int { return maxQualifyingData }

func (a *Attester) Endorsement() parsectpm.Endorsement {
	a.mu.Lock()
	defer a.mu.Unlock()
	ref := make(map[int][]byte, len(a.sel))
	for _, p := range a.sel {
		ref[p] = slices.Clone(a.pcrs[p])
	}
	ak := a.akPub
	if a.faults.UnendorsedKey {
		ak = a.otherAK
	}
	return parsectpm.Endorsement{
		KeyID:          slices.Clone(a.kid),
		AttestationKey: ak,
		PCRSelection:   parsectpm.PCRSelection{Hash: crypto.SHA256, PCRs: slices.Clone(a.sel)},
		ReferencePCRs:  ref,
	}
}

// ReadEndorsement reads the selected PCRs from the TPM and returns the
// endorsement with them as reference values.
func (a *Attester) ReadEndorsement(ctx context.Context) (parsectpm.Endorsement, error) {
	a.mu.Lock()
	sel := slices.Clone(a.sel)
	a.mu.Unlock()
	if err := a.l.with(ctx, func(s *session) error { return a.readPCRs(s, sel) }); err != nil {
		return parsectpm.Endorsement{}, err
	}
	return a.Endorsement(), nil
}

// AttestationKey is the public half of the AK in the TPM.
func (a *Attester) AttestationKey() *ecdsa.PublicKey { return a.akPub }

// Evidence returns Parsec TPM evidence bound to the challenge's
// qualifying data: TPM2_Certify of Identity() and TPM2_Quote of the
// selected PCRs, both by the AK.
func (a *Attester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	a.mu.Lock()
	f := a.faults
	quoted := slices.Clone(a.sel)
	if len(f.QuotePCRs) > 0 {
		quoted = slices.Clone(f.QuotePCRs)
	}
	a.mu.Unlock()

	qd := ch.QualifyingData()
	if f.QualifyingData != nil {
		qd = f.QualifyingData
	}
	if len(qd) > maxQualifyingData {
		return attest.Evidence{}, fmt.Errorf("tpm: qualifying data is %d bytes, a TPM takes at most %d", len(qd), maxQualifyingData)
	}
	sel, err := parsectpm.PCRSelection{Hash: crypto.SHA256, PCRs: quoted}.TPMLPCRSelection()
	if err != nil {
		return attest.Evidence{}, fmt.Errorf("tpm: %w", err)
	}

	var kat parsectpm.KAT
	var pat parsectpm.PAT
	err = a.l.with(ctx, func(s *session) error {
		certified := a.tik
		if f.CertifyOtherKey {
			if certified, err = a.otherKey(s); err != nil {
				return err
			}
		}
		if kat.CertInfo, kat.Sig, err = a.certify(s, certified, qd); err != nil {
			return err
		}
		kat.PubArea = certified.public
		pat.AttestInfo, pat.Sig, err = a.quote(s, sel, qd)
		return err
	})
	if err != nil {
		return attest.Evidence{}, err
	}
	kat.TPMVer, kat.KID = parsectpm.TPMVersion, a.kid
	pat.TPMVer, pat.KID = parsectpm.TPMVersion, a.kid
	data, err := parsectpm.Encode(&parsectpm.Evidence{KAT: &kat, PAT: &pat})
	if err != nil {
		return attest.Evidence{}, err
	}
	return attest.Evidence{MediaType: parsectpm.MediaType, Data: data}, nil
}

// otherKey is the key CertifyOtherKey certifies, created on first use.
func (a *Attester) otherKey(s *session) (*object, error) {
	a.mu.Lock()
	o := a.other
	a.mu.Unlock()
	if o != nil {
		return o, nil
	}
	o, err := s.createPrimary(tpm2.TPMRHOwner, template(tikAttributes, randomUnique()))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.other = o
	a.mu.Unlock()
	return o, nil
}

// certify runs TPM2_Certify of obj by the AK and returns the TPMS_ATTEST
// and TPMT_SIGNATURE bytes exactly as the TPM produced them.
func (a *Attester) certify(s *session, obj *object, qd []byte) (attestBytes, sig []byte, err error) {
	// The AK is loaded first, so loading obj evicts anything but it.
	if _, err := s.load(a.ak); err != nil {
		return nil, nil, err
	}
	oh, err := s.load(obj)
	if err != nil {
		return nil, nil, err
	}
	akh := a.ak.handle
	rsp, err := run(s, "TPM2_Certify", func(t transport.TPM) (*tpm2.CertifyResponse, error) {
		return tpm2.Certify{
			ObjectHandle:   tpm2.AuthHandle{Handle: oh, Name: obj.name, Auth: tpm2.PasswordAuth(nil)},
			SignHandle:     tpm2.AuthHandle{Handle: akh, Name: a.ak.name, Auth: tpm2.PasswordAuth(nil)},
			QualifyingData: tpm2.TPM2BData{Buffer: qd},
			InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		}.Execute(t)
	})
	if err != nil {
		return nil, nil, err
	}
	return rsp.CertifyInfo.Bytes(), tpm2.Marshal(rsp.Signature), nil
}

// quote runs TPM2_Quote of sel by the AK.
func (a *Attester) quote(s *session, sel tpm2.TPMLPCRSelection, qd []byte) (attestBytes, sig []byte, err error) {
	akh, err := s.load(a.ak)
	if err != nil {
		return nil, nil, err
	}
	rsp, err := run(s, "TPM2_Quote", func(t transport.TPM) (*tpm2.QuoteResponse, error) {
		return tpm2.Quote{
			SignHandle:     tpm2.AuthHandle{Handle: akh, Name: a.ak.name, Auth: tpm2.PasswordAuth(nil)},
			QualifyingData: tpm2.TPM2BData{Buffer: qd},
			InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
			PCRSelect:      sel,
		}.Execute(t)
	})
	if err != nil {
		return nil, nil, err
	}
	return rsp.Quoted.Bytes(), tpm2.Marshal(rsp.Signature), nil
}
