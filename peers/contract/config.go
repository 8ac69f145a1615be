package contract

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
)

// Environment variable names.
const (
	EnvContract         = "ATLS_CONTRACT"
	EnvTestCase         = "ATLS_TESTCASE"
	EnvRole             = "ATLS_ROLE"
	EnvProfile          = "ATLS_PROFILE"
	EnvServerAttests    = "ATLS_SERVER_ATTESTS"
	EnvClientAttests    = "ATLS_CLIENT_ATTESTS"
	EnvServerCredential = "ATLS_SERVER_CREDENTIAL"
	EnvClientCredential = "ATLS_CLIENT_CREDENTIAL"
	EnvListen           = "ATLS_LISTEN"
	EnvConnect          = "ATLS_CONNECT"
	EnvServerName       = "ATLS_SERVER_NAME"
	EnvCACert           = "ATLS_CA_CERT"
	EnvCAKey            = "ATLS_CA_KEY"
	EnvVerifier         = "ATLS_VERIFIER"
	EnvVerifierKey      = "ATLS_VERIFIER_KEY"
	EnvTrustedVerifiers = "ATLS_TRUSTED_VERIFIERS"
	EnvTPM              = "ATLS_TPM"
	EnvEvidence         = "ATLS_EVIDENCE"
	EnvEndorsements     = "ATLS_ENDORSEMENTS"
	EnvEndorsementsOut  = "ATLS_ENDORSEMENTS_OUT"
	EnvCodepoints       = "ATLS_CODEPOINTS"
	EnvMisbehave        = "ATLS_MISBEHAVE"
	EnvOut              = "ATLS_OUT"
	EnvKeyLog           = "SSLKEYLOGFILE"
	EnvTimeout          = "ATLS_TIMEOUT"
)

// DefaultTimeout is ATLS_TIMEOUT when unset.
const DefaultTimeout = 30 * time.Second

// Config is one peer's configuration for one case, as the environment
// carries it. File fields are paths as the peer sees them.
type Config struct {
	TestCase                           string
	Role                               Role
	Profile                            string
	ServerAttests, ClientAttests       Attests
	ServerCredential, ClientCredential Credential // "" when that side does not attest
	Listen                             string     // server
	Connect                            string     // client
	ServerName                         string
	CACert, CAKey                      string // CAKey "" when the peer certifies nothing
	Verifier                           string // "local" or "veraison:<URL>"; "" when not needed
	VerifierKey                        string // local verifier's EAR key; optional
	TrustedVerifiers                   string // optional
	TPM                                string // "" when the peer does not attest
	Evidence                           string // formats the relying party takes ("parsec-tpm,psa-iot"); "" is parsec-tpm
	Endorsements                       string // the peer's endorsement (we appraise); optional
	EndorsementsOut                    string // where we write ours (we attest); optional
	Codepoints                         string
	Misbehave                          string
	Out                                string
	KeyLog                             string
	Timeout                            time.Duration
}

// Attests reports how the given role attests in this case.
func (c Config) Attests(r Role) Attests {
	if r == Client {
		return c.ClientAttests
	}
	return c.ServerAttests
}

// CredentialOf reports how the given role's attestation travels.
func (c Config) CredentialOf(r Role) Credential {
	if r == Client {
		return c.ClientCredential
	}
	return c.ServerCredential
}

// SelfAttests and PeerAttests are the peer's own and its peer's attestation.
func (c Config) SelfAttests() Attests { return c.Attests(c.Role) }
func (c Config) PeerAttests() Attests { return c.Attests(c.Role.Other()) }

// Screen is what a peer checks before anything else: the contract version
// and whether the case is the compliance probe. Both call for 127 whatever
// else the environment says.
func Screen(getenv func(string) string) error {
	if v := getenv(EnvContract); v != strconv.Itoa(Version) {
		return Unsupportedf("%s=%q, this peer speaks %d", EnvContract, v, Version)
	}
	if tc := getenv(EnvTestCase); IsProbe(tc) {
		return Unsupportedf("%s=%q is the compliance probe", EnvTestCase, tc)
	}
	return nil
}

var (
	profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,31}$`)
	seconds     = regexp.MustCompile(`^[0-9]{1,6}(\.[0-9]{1,9})?$`)
)

// FromEnv reads and validates a configuration. Errors are *VarError
// (exit 2) or wrap ErrUnsupported (exit 127, from Screen).
func FromEnv(getenv func(string) string) (Config, error) {
	if err := Screen(getenv); err != nil {
		return Config{}, err
	}
	c := Config{
		TestCase: getenv(EnvTestCase), Role: Role(getenv(EnvRole)), Profile: getenv(EnvProfile),
		ServerAttests: Attests(getenv(EnvServerAttests)), ClientAttests: Attests(getenv(EnvClientAttests)),
		ServerCredential: Credential(getenv(EnvServerCredential)), ClientCredential: Credential(getenv(EnvClientCredential)),
		Listen: getenv(EnvListen), Connect: getenv(EnvConnect), ServerName: getenv(EnvServerName),
		CACert: getenv(EnvCACert), CAKey: getenv(EnvCAKey),
		Verifier: getenv(EnvVerifier), VerifierKey: getenv(EnvVerifierKey), TrustedVerifiers: getenv(EnvTrustedVerifiers),
		TPM: getenv(EnvTPM), Evidence: getenv(EnvEvidence), Endorsements: getenv(EnvEndorsements), EndorsementsOut: getenv(EnvEndorsementsOut),
		Codepoints: getenv(EnvCodepoints), Misbehave: getenv(EnvMisbehave),
		Out: getenv(EnvOut), KeyLog: getenv(EnvKeyLog), Timeout: DefaultTimeout,
	}
	if c.TestCase == "" {
		return c, varErr(EnvTestCase, "required")
	}
	if c.Role != Client && c.Role != Server {
		return c, varErr(EnvRole, "want client or server, got %q", c.Role)
	}
	if !profileName.MatchString(c.Profile) {
		return c, varErr(EnvProfile, "want a profile name such as ta-07, got %q", c.Profile)
	}
	for _, side := range []struct {
		attests, cred string
		a             Attests
		cr            Credential
	}{{EnvServerAttests, EnvServerCredential, c.ServerAttests, c.ServerCredential},
		{EnvClientAttests, EnvClientCredential, c.ClientAttests, c.ClientCredential}} {
		switch side.a {
		case AttestsNone:
			if side.cr != "" {
				return c, varErr(side.cred, "set although %s=none", side.attests)
			}
		case AttestsBG, AttestsPassport:
			if side.cr != X509 && side.cr != AttestationOnly {
				return c, varErr(side.cred, "want x509 or attestation-only when %s=%s, got %q", side.attests, side.a, side.cr)
			}
		default:
			return c, varErr(side.attests, "want none, bg or passport, got %q", side.a)
		}
	}
	if c.Role == Server {
		if err := hostPort(EnvListen, c.Listen); err != nil {
			return c, err
		}
		if c.Connect != "" {
			return c, varErr(EnvConnect, "set for a server")
		}
	} else {
		if err := hostPort(EnvConnect, c.Connect); err != nil {
			return c, err
		}
		if c.Listen != "" {
			return c, varErr(EnvListen, "set for a client")
		}
	}
	if c.ServerName == "" || strings.ContainsAny(c.ServerName, " /:\x00") {
		return c, varErr(EnvServerName, "want a DNS name, got %q", c.ServerName)
	}
	if c.CACert == "" {
		return c, varErr(EnvCACert, "required")
	}
	// A server always certifies a key (its attested one or a plain one);
	// a client only when it attests with an X.509 credential.
	if c.CAKey == "" && (c.Role == Server || c.SelfAttests() != AttestsNone && c.CredentialOf(c.Role) == X509) {
		return c, varErr(EnvCAKey, "required: the %s certifies its key", c.Role)
	}
	needVerifier := c.PeerAttests() != AttestsNone || c.SelfAttests() == AttestsPassport
	switch {
	case c.Verifier == "" && needVerifier:
		return c, varErr(EnvVerifier, "required: the %s appraises or obtains a result", c.Role)
	case c.Verifier == "", c.Verifier == "local":
	case strings.HasPrefix(c.Verifier, "veraison:") && len(c.Verifier) > len("veraison:"):
	default:
		return c, varErr(EnvVerifier, "want local or veraison:<URL>, got %q", c.Verifier)
	}
	if c.SelfAttests() != AttestsNone {
		if err := tpmSpec(c.TPM); err != nil {
			return c, err
		}
	} else if c.TPM != "" {
		return c, varErr(EnvTPM, "set although the %s does not attest", c.Role)
	}
	if c.Evidence != "" {
		if c.PeerAttests() == AttestsNone {
			return c, varErr(EnvEvidence, "set although the %s appraises no evidence", c.Role)
		}
		if _, err := EvidenceMediaTypes(c.Evidence); err != nil {
			return c, err
		}
	}
	if _, err := codepoint.Default().Override(c.Codepoints); err != nil {
		return c, varErr(EnvCodepoints, "%v", err)
	}
	if strings.ContainsAny(c.Misbehave, " ,\x00") {
		return c, varErr(EnvMisbehave, "want one name, got %q", c.Misbehave)
	}
	if t := getenv(EnvTimeout); t != "" {
		if !seconds.MatchString(t) {
			return c, varErr(EnvTimeout, "want seconds, got %q", t)
		}
		d, err := time.ParseDuration(t + "s")
		if err != nil || d <= 0 {
			return c, varErr(EnvTimeout, "want a positive number of seconds, got %q", t)
		}
		c.Timeout = d
	}
	return c, nil
}

func hostPort(name, v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return varErr(name, "want host:port, got %q", v)
	}
	if strings.ContainsAny(host, " /\x00") {
		return varErr(name, "bad host in %q", v)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 || port != strconv.Itoa(p) {
		return varErr(name, "bad port in %q", v)
	}
	return nil
}

func tpmSpec(v string) error {
	switch {
	case v == "software", v == "simulator", v == RootPSA, v == RootCCA:
		return nil
	case strings.HasPrefix(v, "swtpm:"):
		if err := hostPort(EnvTPM, strings.TrimPrefix(v, "swtpm:")); err != nil {
			return varErr(EnvTPM, "want swtpm:<host>:<port>, got %q", v)
		}
		return nil
	case strings.HasPrefix(v, "device:/"):
		return nil
	}
	return varErr(EnvTPM, "want software, simulator, psa-iot, cca, swtpm:<host>:<port> or device:<path>, got %q", v)
}

// RootPSA is the ATLS_TPM of a software PSA root of trust: its evidence
// is a PSA initial attestation token, not Parsec TPM key attestation.
const RootPSA = "psa-iot"

// RootCCA is the ATLS_TPM of a software Arm CCA platform and realm: its
// evidence is a CCA token.
const RootCCA = "cca"

// EvidenceFormats are the names ATLS_EVIDENCE and a manifest's
// "evidence" use, with the media type each stands for.
var EvidenceFormats = map[string]string{
	"parsec-tpm": parsectpm.MediaType,
	"psa-iot":    psa.MediaType,
	"cca":        cca.MediaType,
}

// DefaultEvidence is the format a relying party takes when ATLS_EVIDENCE
// is unset.
const DefaultEvidence = "parsec-tpm"

// EvidenceMediaTypes reads ATLS_EVIDENCE ("" is DefaultEvidence) as the
// media types it names, in order.
func EvidenceMediaTypes(v string) ([]string, error) {
	if v == "" {
		v = DefaultEvidence
	}
	var out []string
	for _, name := range strings.Split(v, ",") {
		mt, ok := EvidenceFormats[name]
		if !ok || slices.Contains(out, mt) {
			return nil, varErr(EnvEvidence, "want a comma-separated list of distinct parsec-tpm, psa-iot and cca, got %q", v)
		}
		out = append(out, mt)
	}
	return out, nil
}

// Env renders the configuration as NAME=value pairs; FromEnv of them
// gives the configuration back. Empty optional variables are left out.
func (c Config) Env() []string {
	var out []string
	add := func(name, v string) {
		if v != "" {
			out = append(out, name+"="+v)
		}
	}
	add(EnvContract, strconv.Itoa(Version))
	add(EnvTestCase, c.TestCase)
	add(EnvRole, string(c.Role))
	add(EnvProfile, c.Profile)
	add(EnvServerAttests, string(c.ServerAttests))
	add(EnvClientAttests, string(c.ClientAttests))
	add(EnvServerCredential, string(c.ServerCredential))
	add(EnvClientCredential, string(c.ClientCredential))
	add(EnvListen, c.Listen)
	add(EnvConnect, c.Connect)
	add(EnvServerName, c.ServerName)
	add(EnvCACert, c.CACert)
	add(EnvCAKey, c.CAKey)
	add(EnvVerifier, c.Verifier)
	add(EnvVerifierKey, c.VerifierKey)
	add(EnvTrustedVerifiers, c.TrustedVerifiers)
	add(EnvTPM, c.TPM)
	add(EnvEvidence, c.Evidence)
	add(EnvEndorsements, c.Endorsements)
	add(EnvEndorsementsOut, c.EndorsementsOut)
	add(EnvCodepoints, c.Codepoints)
	add(EnvMisbehave, c.Misbehave)
	add(EnvOut, c.Out)
	add(EnvKeyLog, c.KeyLog)
	if c.Timeout > 0 {
		add(EnvTimeout, formatSeconds(c.Timeout))
	}
	return out
}

// formatSeconds writes d as decimal seconds exactly (no float rounding),
// so FromEnv reads back the same duration.
func formatSeconds(d time.Duration) string {
	s, ns := int64(d/time.Second), int64(d%time.Second)
	if ns == 0 {
		return strconv.FormatInt(s, 10)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%09d", s, ns), "0")
}

// Getenv turns NAME=value pairs (as Env returns) into a lookup function.
func Getenv(env []string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}

// MapPaths returns a copy with every file or folder path rewritten by f
// (a driver maps host paths to where a container sees them).
func (c Config) MapPaths(f func(string) string) Config {
	for _, p := range []*string{&c.CACert, &c.CAKey, &c.VerifierKey, &c.TrustedVerifiers, &c.Endorsements,
		&c.EndorsementsOut, &c.Out, &c.KeyLog} {
		if *p != "" {
			*p = f(*p)
		}
	}
	return c
}

// ModelID is the case ID of the interaction model the configuration
// describes, as the suite names models: "ta-07/server-attests/bg+x509",
// "ta-07/mutual/server=bg+x509,client=passport+attestation-only", …
func (c Config) ModelID() string {
	side := func(a Attests, cr Credential) string { return string(a) + "+" + string(cr) }
	s, cl := c.ServerAttests != AttestsNone, c.ClientAttests != AttestsNone
	switch {
	case s && cl:
		return fmt.Sprintf("%s/mutual/server=%s,client=%s", c.Profile, side(c.ServerAttests, c.ServerCredential),
			side(c.ClientAttests, c.ClientCredential))
	case s:
		return fmt.Sprintf("%s/server-attests/%s", c.Profile, side(c.ServerAttests, c.ServerCredential))
	case cl:
		return fmt.Sprintf("%s/client-attests/%s", c.Profile, side(c.ClientAttests, c.ClientCredential))
	}
	return c.Profile + "/no-attestation"
}
