package reference

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
)

// setup builds the endpoint; a non-nil endpoint must be closed, also
// with an error.
// shared, if set, is the attester to use instead of opening cfg.TPM.
func setup(ctx context.Context, cfg contract.Config, tweak func(*party.Party, *tls13.Config) error, shared parsectpm.Attester) (*ours, error) {
	if !strings.HasPrefix(cfg.TestCase, cfg.Profile+"/") {
		return nil, contract.Unsupportedf("case %q is not a case of profile %s", cfg.TestCase, cfg.Profile)
	}
	prof, err := profile.ByName(cfg.Profile)
	if err != nil {
		return nil, contract.Unsupportedf("%v", err)
	}
	table, err := codepoint.Default().Override(cfg.Codepoints)
	if err != nil {
		return nil, &contract.VarError{Name: contract.EnvCodepoints, Err: err}
	}
	pbugs, tbugs, err := Misbehaviour(cfg.Misbehave)
	if err != nil {
		return nil, err
	}
	self, peer := side(cfg.SelfAttests(), cfg.CredentialOf(cfg.Role)), side(cfg.PeerAttests(), cfg.CredentialOf(cfg.Role.Other()))
	if self.Attests {
		// Say unsupported before reaching anything.
		if _, err := ParseTPM(cfg.TPM); err != nil {
			return nil, err
		}
	}
	verURL := VeraisonURL(cfg.Verifier)
	if cfg.Verifier != "" && cfg.Verifier != "local" && verURL == "" {
		return nil, contract.Unsupportedf("%s=%q (this peer has local and veraison:<URL>)", contract.EnvVerifier, cfg.Verifier)
	}
	ep := &ours{isClient: cfg.Role == contract.Client}

	pool, ca, err := loadCA(cfg)
	if err != nil {
		return nil, err
	}
	mediaTypes, err := contract.EvidenceMediaTypes(cfg.Evidence)
	if err != nil {
		return nil, err
	}
	roles := endpoint.Roles{MediaTypes: mediaTypes}
	if cfg.Verifier == "local" {
		vc := local.Config{Build: "conformance-reference-peer"}
		if cfg.VerifierKey != "" {
			b, err := os.ReadFile(cfg.VerifierKey)
			if err != nil {
				return nil, &contract.VarError{Name: contract.EnvVerifierKey, Err: err}
			}
			if vc.Key, err = contract.ParseECPrivateKeyPEM(b); err != nil {
				return nil, &contract.VarError{Name: contract.EnvVerifierKey, Err: err}
			}
		}
		if ep.verifier, err = local.New(vc); err != nil {
			return nil, err
		}
		roles.Verifier = ep.verifier
		if cfg.PeerAttests() != contract.AttestsNone && cfg.Endorsements != "" {
			roles.Verifier = &provisioning{Verifier: ep.verifier, path: cfg.Endorsements}
		}
	}
	// Whom to trust is configuration: settled (exit 2 if wrong) before
	// any verifier is called.
	trusted, err := trustedVerifiers(cfg, ep.verifier, verURL != "")
	if err != nil {
		return ep, err
	}
	if verURL != "" {
		// The suite (or whoever runs Veraison) provisions the attester's
		// endorsement: ATLS_ENDORSEMENTS is not read.
		v, err := openVeraison(ctx, verURL)
		if err != nil {
			return ep, err
		}
		roles.Verifier = v
	}
	roles.Policy = &policy.Policy{Verifiers: trusted, RequireKeyBinding: true}
	if self.Attests {
		if ep.attester = shared; shared == nil {
			a, closeFn, err := openAttester(ctx, cfg.TPM)
			if err != nil {
				return ep, err
			}
			ep.attester = a
			ep.closers = append(ep.closers, closeFn)
		}
		roles.Attester = ep.attester
		if ep.verifier != nil {
			// Our passports come from our verifier appraising our evidence.
			if err := ep.verifier.AddEndorsement(ep.attester.Endorsement()); err != nil {
				return ep, err
			}
		}
		if self.Credential == party.X509 {
			if roles.Chain, err = ca.Issue(ep.attester.Identity(), ep.isClient, cfg.ServerName); err != nil {
				return ep, err
			}
			if pbugs.PayloadEntry > 0 {
				// A second entry to misplace the attestation in.
				roles.Chain = append(roles.Chain, ca.Cert.Raw)
			}
		}
	}
	var plain tls13.Credential
	if !ep.isClient {
		if plain, err = ca.Plain(cfg.ServerName); err != nil {
			return ep, err
		}
	}
	ep.party = endpoint.NewParty(self, peer, roles)
	ep.party.Codepoints, ep.party.Bugs = &table, pbugs
	// A verifier that never answers is cut off with time left to say so.
	ep.party.AlertRoom = AlertRoom
	base := endpoint.BaseConfig(ep.isClient, cfg.ServerName, pool, plain)
	base.Bugs = tbugs
	if tweak != nil {
		if err := tweak(ep.party, base); err != nil {
			return ep, err
		}
	}
	if d := prof.Describe(); d.Phase == party.PostHandshake {
		// The attestation travels in exported authenticators: an
		// attester's CertificateVerify and Finished misbehaviours are
		// its authenticator's; a side that sends none keeps them in the
		// handshake, where the peer must refuse them all the same.
		ep.attest = d.Attest
		if self.Attests {
			base.Bugs.CorruptAuthenticatorSignature, base.Bugs.CorruptCertificateVerify = base.Bugs.CorruptCertificateVerify, false
			base.Bugs.CorruptAuthenticatorFinished, base.Bugs.CorruptFinished = base.Bugs.CorruptFinished, false
		}
	}
	if ep.tls, err = prof.Configure(base, ep.isClient, ep.party); err != nil {
		if errors.Is(err, party.ErrUnsupported) {
			return ep, contract.Unsupportedf("%v", err)
		}
		return ep, err
	}
	codepoint.RegisterAlertNames(table)
	return ep, nil
}

func side(a contract.Attests, c contract.Credential) party.Side {
	s := party.Side{Attests: a != contract.AttestsNone}
	if a == contract.AttestsPassport {
		s.Topology = party.Passport
	}
	if c == contract.X509 {
		s.Credential = party.X509
	}
	return s
}

// loadCA reads the run's CA: its certificate (trusted both ways) and, when
// given, its key (to certify ours).
func loadCA(cfg contract.Config) (*x509.CertPool, *endpoint.CA, error) {
	b, err := os.ReadFile(cfg.CACert)
	if err != nil {
		return nil, nil, &contract.VarError{Name: contract.EnvCACert, Err: err}
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, nil, &contract.VarError{Name: contract.EnvCACert, Err: errors.New("no PEM CERTIFICATE")}
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil, &contract.VarError{Name: contract.EnvCACert, Err: err}
	}
	ca := &endpoint.CA{Cert: cert}
	if cfg.CAKey != "" {
		b, err := os.ReadFile(cfg.CAKey)
		if err != nil {
			return nil, nil, &contract.VarError{Name: contract.EnvCAKey, Err: err}
		}
		k, err := contract.ParseECPrivateKeyPEM(b)
		if err != nil {
			return nil, nil, &contract.VarError{Name: contract.EnvCAKey, Err: err}
		}
		if !k.PublicKey.Equal(cert.PublicKey) {
			return nil, nil, &contract.VarError{Name: contract.EnvCAKey, Err: errors.New("not the key of ATLS_CA_CERT")}
		}
		ca.Key = k
	}
	return ca.Pool(), ca, nil
}

// trustedVerifiers are the verifiers whose results we accept: the file's,
// or else our own local verifier, or else (remote, Veraison) the one whose
// EAR key ATLS_VERIFIER_KEY holds. A relying party never trusts a remote
// verifier just because it answers discovery.
func trustedVerifiers(cfg contract.Config, own *local.Verifier, remote bool) ([]attest.TrustedVerifier, error) {
	if cfg.TrustedVerifiers == "" {
		switch {
		case own != nil:
			return []attest.TrustedVerifier{own.Trusted()}, nil
		case !remote || cfg.PeerAttests() == contract.AttestsNone:
			return nil, nil
		case cfg.VerifierKey == "":
			return nil, &contract.VarError{Name: contract.EnvTrustedVerifiers,
				Err: fmt.Errorf("required with %s=veraison:<URL> (or %s): a relying party does not trust a verifier for answering", contract.EnvVerifier, contract.EnvVerifierKey)}
		}
		b, err := os.ReadFile(cfg.VerifierKey)
		if err != nil {
			return nil, &contract.VarError{Name: contract.EnvVerifierKey, Err: err}
		}
		t, err := keyTrust(b)
		if err != nil {
			return nil, &contract.VarError{Name: contract.EnvVerifierKey, Err: err}
		}
		return []attest.TrustedVerifier{t}, nil
	}
	b, err := os.ReadFile(cfg.TrustedVerifiers)
	if err != nil {
		return nil, &contract.VarError{Name: contract.EnvTrustedVerifiers, Err: err}
	}
	vs, err := contract.ParseTrustedVerifiers(b)
	if err != nil {
		return nil, &contract.VarError{Name: contract.EnvTrustedVerifiers, Err: err}
	}
	return vs, nil
}

// provisioning is our local verifier, given the peer's endorsement on
// its first appraisal: not at start-up, since the attester writes it just
// before it connects, which may be after we began listening.
type provisioning struct {
	*local.Verifier
	path string
	once sync.Once
	err  error
}

func (p *provisioning) Appraise(ctx context.Context, ev attest.Evidence, ch attest.Challenge) (*attest.Result, error) {
	p.once.Do(func() {
		var b []byte
		if b, p.err = os.ReadFile(p.path); p.err != nil {
			return
		}
		var e parsectpm.Endorsement
		if e, p.err = contract.ParseEndorsement(b); p.err == nil {
			p.err = p.Verifier.AddEndorsement(e)
		}
	})
	// Appraise even without it: the verifier then reports the missing
	// endorsement as the reason, which is what the outcome should say.
	return p.Verifier.Appraise(ctx, ev, ch)
}

func writeEndorsement(path string, e parsectpm.Endorsement) error {
	b, err := contract.MarshalEndorsement(e)
	if err != nil {
		return err
	}
	// Write then rename, so a reader never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("%s: %w", contract.EnvEndorsementsOut, err)
	}
	return os.Rename(tmp, path)
}
