package veraison

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Well-known paths and media types of Veraison's APIs (services v0.0.2501).
const (
	VerificationWellKnown = "/.well-known/veraison/verification"
	DiscoveryMediaType    = "application/vnd.veraison.discovery+json"
	// defaultSessionPath is used when discovery names no session endpoint.
	defaultSessionPath = "/challenge-response/v1/newSession"
	// maxDiscovery bounds the discovery document read.
	maxDiscovery = 1 << 20
)

// Discovery is what the verification service's well-known document says.
type Discovery struct {
	// Key verifies the service's EARs (ES256, P-256).
	Key *ecdsa.PublicKey
	// MediaTypes are the evidence media types the service appraises.
	MediaTypes []string
	// Version and State are the service's version and service-state.
	Version, State string
	// Endpoints maps API names to paths (newChallengeResponseSession, ...).
	Endpoints map[string]string
}

// Discover fetches and parses /.well-known/veraison/verification under
// base (scheme://host:port) within ctx's deadline (DefaultTimeout if it
// has none).
func Discover(ctx context.Context, base string, rt http.RoundTripper) (*Discovery, error) {
	if rt == nil {
		rt = http.DefaultTransport
	}
	ctx, cancel, _, _ := bind(ctx, rt)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+VerificationWellKnown, nil)
	if err != nil {
		return nil, fmt.Errorf("veraison: discovery: %w", err)
	}
	req.Header.Set("Accept", DiscoveryMediaType)
	res, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("veraison: discovery: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDiscovery))
	if err != nil {
		return nil, fmt.Errorf("veraison: discovery: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, &StatusError{Method: req.Method, URL: req.URL.String(), Status: res.StatusCode, Problem: strings.TrimSpace(string(body))}
	}
	return ParseDiscovery(body)
}

// ParseDiscovery reads a verification well-known document. The EAR key
// must be an EC P-256 public JWK.
func ParseDiscovery(doc []byte) (*Discovery, error) {
	var raw struct {
		Key        json.RawMessage   `json:"ear-verification-key"`
		MediaTypes []string          `json:"media-types"`
		Version    string            `json:"version"`
		State      string            `json:"service-state"`
		Endpoints  map[string]string `json:"api-endpoints"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("veraison: discovery document: %w", err)
	}
	if len(raw.Key) == 0 {
		return nil, fmt.Errorf("veraison: discovery document has no ear-verification-key")
	}
	k, err := jwk.ParseKey(raw.Key)
	if err != nil {
		return nil, fmt.Errorf("veraison: ear-verification-key: %w", err)
	}
	var pub ecdsa.PublicKey
	if err := jwk.Export(k, &pub); err != nil {
		return nil, fmt.Errorf("veraison: ear-verification-key is not an EC public key: %w", err)
	}
	if pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("veraison: ear-verification-key is not on P-256, as ES256 needs")
	}
	if _, err := pub.ECDH(); err != nil { // on the curve, not infinity
		return nil, fmt.Errorf("veraison: ear-verification-key: %w", err)
	}
	return &Discovery{Key: &pub, MediaTypes: raw.MediaTypes, Version: raw.Version, State: raw.State, Endpoints: raw.Endpoints}, nil
}

// endpoint resolves a discovered API path against base.
func (d *Discovery) endpoint(base, name, fallback string) (string, error) {
	p := fallback
	if d != nil && d.Endpoints[name] != "" {
		p = d.Endpoints[name]
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(p)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}
