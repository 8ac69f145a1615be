package veraison_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/services"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/veraison/ear"
)

// The Veraison deployment the package's tests share, started by the first
// test that needs it (unit tests and fuzz targets do not); each test
// provisions its own attester (fresh kid and class ID).
var (
	svcOnce sync.Once
	svc     *services.Veraison
	svcErr  error
)

func veraisonT(t testing.TB) *services.Veraison {
	t.Helper()
	svcOnce.Do(func() {
		// Generous: a cold checkout builds the services first (minutes).
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		svc, svcErr = services.StartVeraison(ctx, services.VeraisonConfig{})
	})
	if svcErr != nil {
		t.Fatalf("starting Veraison: %v\n(build it with: go -C %s run ./cmd/build)", svcErr, services.VeraisonBuildModule)
	}
	return svc
}

func TestMain(m *testing.M) {
	code := m.Run()
	if svc != nil {
		if err := svc.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "veraison tests: stopping Veraison: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func deadline(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newVerifier(t testing.TB, cfg veraison.Config) *veraison.Verifier {
	t.Helper()
	if cfg.VerificationURL == "" {
		cfg.VerificationURL = veraisonT(t).VerificationURL
	}
	v, err := veraison.New(deadline(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// provisioned returns a fresh software attester whose endorsement Veraison
// holds.
func provisioned(t testing.TB) *software.Attester {
	t.Helper()
	a := newAttester(t)
	if _, err := veraison.ProvisionEndorsement(deadline(t, 10*time.Second), veraisonT(t).ProvisioningURL, a.Endorsement(), nil); err != nil {
		t.Fatal(err)
	}
	return a
}

func newAttester(t testing.TB) *software.Attester {
	t.Helper()
	a, err := software.New(software.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Non-zero PCRs, so the reference values mean something.
	for _, p := range software.DefaultPCRs {
		if err := a.Extend(p, []byte(fmt.Sprintf("boot stage %d", p))); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// challenge is a background-check challenge for a's identity with a fresh
// nonce from v.
func challenge(t testing.TB, v *veraison.Verifier, a *software.Attester) (attest.Challenge, attest.Evidence) {
	t.Helper()
	ctx := deadline(t, 5*time.Second)
	n, err := v.NewNonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := attest.Challenge{Profile: "ta-07", Nonce: n, TIK: a.Identity().Public()}
	ev, err := a.Evidence(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	return ch, ev
}

func TestDiscovery(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	if !v.PublicKey().Equal(veraisonT(t).EARKey) {
		t.Error("discovered EAR key is not the key the services sign with")
	}
	d := v.Discovery()
	if d.State != "READY" {
		t.Errorf("service-state %q", d.State)
	}
	found := false
	for _, mt := range d.MediaTypes {
		found = found || mt == parsectpm.MediaType
	}
	if !found {
		t.Errorf("media types %v lack %s", d.MediaTypes, parsectpm.MediaType)
	}
	want, _ := attest.VerifierIdentity(veraisonT(t).EARKey)
	if !bytes.Equal(v.Identity(), want) {
		t.Errorf("identity %x, want %x", v.Identity(), want)
	}
	t.Logf("Veraison %s, %d evidence media types, endpoints %v", d.Version, len(d.MediaTypes), d.Endpoints)
}

func TestAffirming(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	a := provisioned(t)
	ch, ev := challenge(t, v, a)
	r, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != ear.TrustTierAffirming {
		t.Fatalf("status %s (problem %q), want affirming", r.Status, r.Problem)
	}
	if r.Submod != veraison.SubmodName {
		t.Errorf("submod %q", r.Submod)
	}
	if r.AttestedKey == nil || !a.Identity().Public().(*ecdsa.PublicKey).Equal(r.AttestedKey) {
		t.Error("EAR akpub is not the attester's identity key")
	}
	if !bytes.Equal(r.Nonce, ch.Nonce) {
		t.Errorf("eat_nonce %x, challenge %x", r.Nonce, ch.Nonce)
	}
	tv := r.TrustVector
	if tv.InstanceIdentity != ear.TrustworthyInstanceClaim || tv.Executables != ear.ApprovedRuntimeClaim || tv.Hardware != ear.GenuineHardwareClaim {
		t.Errorf("trust vector %+v", tv)
	}
	if !bytes.Equal(r.Verifier, v.Identity()) {
		t.Errorf("result verifier %x", r.Verifier)
	}
	// The relying party's full policy accepts it.
	p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireNonce: true, RequireKeyBinding: true}
	if _, err := p.Accept(deadline(t, time.Second), r.EAR, ch, time.Now()); err != nil {
		t.Errorf("policy rejects Veraison's affirming EAR: %v", err)
	}
	t.Logf("EAR: status %s, tv %+v, verifier-id %s/%s, %d bytes", r.Status, tv, r.VerifierDeveloper, r.VerifierBuild, len(r.EAR))
}

// A channel binder, not a nonce, is what TA-07 evidence carries: the
// session nonce and eat_nonce must be the binder.
func TestAffirmingWithBinder(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	a := provisioned(t)
	binder := make([]byte, 48)
	rand.Read(binder)
	ch := attest.Challenge{Profile: "ea-07", Nonce: []byte("ignored nonce"), Binder: binder, TIK: a.Identity().Public()}
	ev, err := a.Evidence(deadline(t, time.Second), ch)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != ear.TrustTierAffirming || !bytes.Equal(r.Nonce, binder) {
		t.Errorf("status %s, eat_nonce %x, want affirming and %x", r.Status, r.Nonce, binder)
	}
}

// Evidence signed by an attestation key Veraison was not given (same kid).
func TestUnendorsedKeyContraindicated(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	a := provisioned(t)
	a.SetFaults(parsectpm.Faults{UnendorsedKey: true})
	ch, ev := challenge(t, v, a)
	r, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
	if err != nil {
		t.Fatalf("Veraison gave no result: %v", err)
	}
	if r.Status != ear.TrustTierContraindicated {
		t.Fatalf("status %s, want contraindicated", r.Status)
	}
	t.Logf("unendorsed key: %s, problem %q, tv %+v", r.Status, r.Problem, r.TrustVector)
	p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}}
	if err := p.Check(deadline(t, time.Second), r, ch, time.Now()); attest.ReasonOf(err) != attest.ReasonStatus {
		t.Errorf("policy: %v, want %s", err, attest.ReasonStatus)
	}
}

// A kid Veraison has no trust anchor for at all.
func TestUnknownKidContraindicated(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	a := newAttester(t) // never provisioned
	ch, ev := challenge(t, v, a)
	r, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
	if err != nil {
		t.Fatalf("Veraison gave no result: %v", err)
	}
	if r.Status != ear.TrustTierContraindicated {
		t.Fatalf("status %s, want contraindicated", r.Status)
	}
	t.Logf("unknown kid: %s, problem %q", r.Status, r.Problem)
}

// PCR values that are not the reference values: Veraison v0.0.2501 fails
// the session with HTTP 500 rather than issuing a contraindicated EAR.
func TestPCRMismatchRejected(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	a := provisioned(t)
	if err := a.Extend(software.DefaultPCRs[0], []byte("unexpected bootloader")); err != nil {
		t.Fatal(err)
	}
	ch, ev := challenge(t, v, a)
	r, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
	if err == nil {
		if r.Status == ear.TrustTierAffirming {
			t.Fatal("Veraison affirmed evidence whose PCRs differ from the reference values")
		}
		t.Fatalf("Veraison now answers a PCR mismatch with a %s EAR (problem %q), not HTTP 500: update this spec and veraison.md", r.Status, r.Problem)
	}
	var se *veraison.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusInternalServerError {
		t.Fatalf("error %v, want HTTP 500", err)
	}
	t.Logf("PCR mismatch: %v", err)
	if log := veraisonT(t).Log(services.VTS); !strings.Contains(log, "PCR Digest") {
		t.Logf("VTS log does not mention the PCR digest")
	}
}

func TestUnsupportedMediaType(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	_, err := v.Appraise(deadline(t, time.Second), attest.Evidence{MediaType: "application/x-unknown", Data: []byte{1}}, attest.Challenge{Nonce: make([]byte, 32)})
	if attest.ReasonOf(err) != attest.ReasonUnsupportedEvidence {
		t.Fatalf("err %v, want %s", err, attest.ReasonUnsupportedEvidence)
	}
}

// The known gap, veraison/services#447: PARSEC_TPM does not compare the
// quote's qualifying data with the session nonce. The spec passes while
// the gap exists and fails once Veraison checks, so the suite notices.
func TestStaleNonceGap(t *testing.T) {
	raw := newVerifier(t, veraison.Config{TrustVerifierFreshness: true})
	checked := newVerifier(t, veraison.Config{})
	a := provisioned(t)
	stale := make([]byte, 32)
	rand.Read(stale)
	a.SetFaults(parsectpm.Faults{QualifyingData: stale})

	ch, ev := challenge(t, raw, a)
	r, err := raw.Appraise(deadline(t, 10*time.Second), ev, ch)
	switch {
	case err != nil:
		t.Fatalf("Veraison now refuses evidence bound to a stale nonce (%v): veraison/services#447 looks fixed; turn this spec into a plain rejection spec", err)
	case r.Status != ear.TrustTierAffirming:
		t.Fatalf("Veraison now returns %s (problem %q) for evidence bound to a stale nonce: veraison/services#447 looks fixed; turn this spec into a plain rejection spec", r.Status, r.Problem)
	}
	t.Logf("known verifier gap (veraison/services#447): stale evidence affirmed, eat_nonce %x = session nonce, quote bound to %x", r.Nonce, stale)

	// eat_nonce is the session nonce, so an EAR-only nonce check cannot
	// see the gap: the relying party must look at the evidence.
	p := policy.Policy{Verifiers: []attest.TrustedVerifier{raw.Trusted()}, RequireNonce: true, RequireKeyBinding: true}
	if _, err := p.Accept(deadline(t, time.Second), r.EAR, ch, time.Now()); err != nil {
		t.Logf("policy RequireNonce now rejects the EAR: %v", err)
	}
	pev, err := parsectpm.Decode(ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsectpm.Verify(pev, a.Endorsement(), ch.QualifyingData(), ch.TIK); attest.ReasonOf(err) != parsectpm.ReasonQualifyingData {
		t.Errorf("relying party's parsectpm.Verify: %v, want %s", err, parsectpm.ReasonQualifyingData)
	}

	// The adapter's own check closes the gap.
	ch, ev = challenge(t, checked, a)
	_, err = checked.Appraise(deadline(t, 10*time.Second), ev, ch)
	if attest.ReasonOf(err) != parsectpm.ReasonQualifyingData {
		t.Fatalf("adapter accepted stale evidence: %v", err)
	}
	t.Logf("adapter: %v", err)
}

// Connection refused: the verifier went away after discovery.
func TestVerifierDown(t *testing.T) {
	ctx := deadline(t, 5*time.Minute)
	s, err := services.StartVeraison(ctx, services.VeraisonConfig{})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, veraison.Config{VerificationURL: s.VerificationURL})
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	a := newAttester(t)
	ch, ev := challenge(t, v, a)
	const limit = 2 * time.Second
	start := time.Now()
	_, err = v.Appraise(deadline(t, limit), ev, ch)
	el := time.Since(start)
	if err == nil {
		t.Fatal("appraisal succeeded with the verifier down")
	}
	if el > limit+500*time.Millisecond {
		t.Errorf("failed after %s, deadline %s", el, limit)
	}
	t.Logf("verifier down: %v after %s", err, el)
}

// A verifier that accepts connections and never answers: the appraisal
// fails at the context's deadline.
func TestVerifierTimeout(t *testing.T) {
	doc := discoveryDoc(t)
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == veraison.VerificationWellKnown {
			w.Header().Set("Content-Type", veraison.DiscoveryMediaType)
			w.Write(doc)
			return
		}
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer srv.Close()
	defer close(hang)
	v := newVerifier(t, veraison.Config{VerificationURL: srv.URL})
	a := newAttester(t)
	ch, ev := challenge(t, v, a)
	const limit = time.Second
	start := time.Now()
	_, err := v.Appraise(deadline(t, limit), ev, ch)
	el := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	if el < limit-100*time.Millisecond || el > limit+500*time.Millisecond {
		t.Errorf("failed after %s, deadline %s", el, limit)
	}
}

// With MaxConcurrent appraisals in flight, the next waits for a slot and
// fails at its own deadline without a request reaching the service.
func TestConcurrencyBound(t *testing.T) {
	doc := discoveryDoc(t)
	hang := make(chan struct{})
	var sessions atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == veraison.VerificationWellKnown {
			w.Header().Set("Content-Type", veraison.DiscoveryMediaType)
			w.Write(doc)
			return
		}
		sessions.Add(1)
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer srv.Close()
	defer close(hang)
	v := newVerifier(t, veraison.Config{VerificationURL: srv.URL, MaxConcurrent: 1})
	a := newAttester(t)
	ch, ev := challenge(t, v, a)
	first := make(chan error, 1)
	go func() {
		_, err := v.Appraise(deadline(t, 3*time.Second), ev, ch)
		first <- err
	}()
	for sessions.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := v.Appraise(deadline(t, 200*time.Millisecond), ev, ch)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "appraisal slots") {
		t.Fatalf("second appraisal: %v, want its deadline while waiting for a slot", err)
	}
	if n := sessions.Load(); n != 1 {
		t.Fatalf("%d requests reached the service, want 1", n)
	}
	if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first appraisal: %v", err)
	}
	if _, err := veraison.New(context.Background(), veraison.Config{VerificationURL: srv.URL, MaxConcurrent: -1}); err == nil {
		t.Fatal("negative MaxConcurrent accepted")
	}
}

// Discovery of a verifier that is not there fails (connection refused).
func TestDiscoveryUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = veraison.New(deadline(t, time.Second), veraison.Config{VerificationURL: "http://" + addr})
	if err == nil {
		t.Fatal("discovery of a closed port succeeded")
	}
}

// forgingProxy sits between the adapter and Veraison and rewrites the EAR
// in every session result with forge, which gets the JWT's decoded payload
// and its original compact form.
func forgingProxy(t *testing.T, forge func(payload []byte, token string) string) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(veraisonT(t).VerificationURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.Method != http.MethodPost || !strings.Contains(res.Request.URL.Path, "/session/") || res.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		var sess map[string]any
		if err := json.Unmarshal(body, &sess); err != nil {
			return err
		}
		token, _ := sess["result"].(string)
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			return fmt.Errorf("proxy: result %q is not a JWT", token)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return err
		}
		sess["result"] = forge(payload, token)
		body, _ = json.Marshal(sess)
		res.Body = io.NopCloser(bytes.NewReader(body))
		res.ContentLength = int64(len(body))
		res.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv
}

func TestForgedEARRejected(t *testing.T) {
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, tc := range []struct {
		name  string
		forge func(payload []byte, token string) string
	}{
		{"signed by another key", func(p []byte, _ string) string {
			tok, err := jws.Sign(p, jws.WithKey(jwa.ES256(), other))
			if err != nil {
				panic(err)
			}
			return string(tok)
		}},
		{"unsigned (alg none)", func(p []byte, _ string) string {
			return b64([]byte(`{"alg":"none"}`)) + "." + b64(p) + "."
		}},
		{"claims altered under the original signature", func(p []byte, token string) string {
			parts := strings.Split(token, ".")
			var m map[string]any
			if err := json.Unmarshal(p, &m); err != nil {
				panic(err)
			}
			m["iat"] = m["iat"].(float64) + 3600
			np, _ := json.Marshal(m)
			return parts[0] + "." + b64(np) + "." + parts[2]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := forgingProxy(t, tc.forge)
			v := newVerifier(t, veraison.Config{VerificationURL: proxy.URL})
			a := provisioned(t)
			ch, ev := challenge(t, v, a)
			_, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
			if attest.ReasonOf(err) != attest.ReasonUntrustedVerifier {
				t.Fatalf("err %v, want %s", err, attest.ReasonUntrustedVerifier)
			}
		})
	}
}

func discoveryDoc(t *testing.T) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(deadline(t, 5*time.Second), http.MethodGet, veraisonT(t).VerificationURL+veraison.VerificationWellKnown, nil)
	req.Header.Set("Accept", veraison.DiscoveryMediaType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
