// Package tls13 is the project's own TLS 1.3 engine (RFC 8446), written so
// that every byte can be controlled: extension hooks for new handshake
// extensions and certificate types, a Bugs struct of misbehaviours for
// negative tests, a deterministic mode (injected randomness and key shares)
// and a Trace of every message and secret for byte-exact test vectors.
//
// The engine knows nothing of attestation; the attestation layer lives on
// its Hooks. It speaks only TLS 1.3 (no TLS 1.2 fallback, no PSK or 0-RTT).
package tls13
