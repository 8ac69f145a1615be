package interop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Veraison that fails the way a broken one does, for the fail-open
// sweep: a relying party in front of it must abort, not go on.

// VerifierFault is how the fake Veraison fails.
type VerifierFault int

const (
	FaultNone VerifierFault = iota
	// FaultError answers the evidence submission 500 with a problem
	// document, as Veraison does when an appraisal errs.
	FaultError
	// FaultDown closes the session request's connection with no answer:
	// the service died after its discovery document was read.
	FaultDown
	// FaultHang accepts the evidence submission and never answers.
	FaultHang
	// FaultResign re-signs every result with a key of its own and names
	// that key in its discovery document: a verifier the relying party
	// was not configured to trust.
	FaultResign
)

// FaultyVeraison is a reverse proxy in front of the run's Veraison with one
// fault on the challenge-response API (discovery, newSession, evidence
// submission in a session).
type FaultyVeraison struct {
	URL   string
	fault VerifierFault
	key   *ecdsa.PrivateKey // FaultResign's signing key

	srv     *http.Server
	stop    chan struct{}
	stopped sync.Once

	mu    sync.Mutex
	hangs []Hang
}

// Hang is one request FaultHang held: when it arrived and when the
// client gave up on it (closed its connection).
type Hang struct{ Start, End time.Time }

func StartFaultyVeraison(host, upstream string, fault VerifierFault) (*FaultyVeraison, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	f := &FaultyVeraison{URL: "http://" + ln.Addr().String(), fault: fault, stop: make(chan struct{})}
	if fault == FaultResign {
		if f.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			ln.Close()
			return nil, err
		}
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = f.modify
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/newSession") && fault == FaultDown:
			f.drop(w)
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/session/") && fault == FaultError:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"fake verifier: appraisal failed"}`)
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/session/") && fault == FaultHang:
			f.hold(w)
		default:
			proxy.ServeHTTP(w, r)
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	return f, nil
}

func (f *FaultyVeraison) Close() {
	f.stopped.Do(func() { close(f.stop) })
	f.srv.Close()
}

// drop closes the connection without an HTTP answer.
func (f *FaultyVeraison) drop(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) // a reset, as from a dead service
	}
	c.Close()
}

// hold keeps the request unanswered until the client closes its
// connection (or the fake stops), and records how long that took.
func (f *FaultyVeraison) hold(w http.ResponseWriter) {
	start := time.Now()
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(done)
	}()
	select {
	case <-done:
	case <-f.stop:
	}
	f.mu.Lock()
	f.hangs = append(f.hangs, Hang{start, time.Now()})
	f.mu.Unlock()
}

// held returns the requests FaultHang held and the client gave up on.
func (f *FaultyVeraison) Held() []Hang {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hangs)
}

// modify rewrites upstream answers for FaultResign: the discovery
// document names our key, and each session's result is signed with it.
func (f *FaultyVeraison) modify(resp *http.Response) error {
	if f.fault != FaultResign || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("fake verifier: upstream answer is not JSON: %w", err)
	}
	switch {
	case strings.HasSuffix(resp.Request.URL.Path, "/.well-known/veraison/verification"):
		pub := f.key.PublicKey
		x, y := make([]byte, 32), make([]byte, 32)
		pub.X.FillBytes(x)
		pub.Y.FillBytes(y)
		doc["ear-verification-key"] = map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256",
			"x": base64.RawURLEncoding.EncodeToString(x), "y": base64.RawURLEncoding.EncodeToString(y)}
	case strings.Contains(resp.Request.URL.Path, "/session/"):
		if jwt, ok := doc["result"].(string); ok {
			if doc["result"], err = f.resign(jwt); err != nil {
				return err
			}
		}
	}
	if body, err = json.Marshal(doc); err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// resign keeps a compact JWS's header and claims and signs them (ES256)
// with the fake's key.
func (f *FaultyVeraison) resign(jwt string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("fake verifier: the result is not a compact JWS")
	}
	input := parts[0] + "." + parts[1]
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, f.key, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
