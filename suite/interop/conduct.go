package interop

import (
	"context"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
)

// The contract's own rules (peers/CONTRACT.md), checked for every peer:
// a malformed variable is exit 2 and the error names it; a relying party
// given no verifier to trust is exit 2; a case outside the manifest (a
// misbehaviour, root of trust or verifier it does not list) is exit 127;
// each with an outcome line whose handshake is "none", and nothing on the
// wire. Each is one case per peer, on the first claimed case it applies
// to: what is checked is the peer's start-up, not the model.

func init() { generators = append(generators, Conduct) }

// Exit is what a contract case wants of the peer: its exit code, and the
// variable its outcome line's error must name ("" for any).
type Exit struct {
	Code int
	Name string
}

// conduct is one contract rule.
type conduct struct {
	name, it string
	// applies says whether c can carry the rule for m (the first case
	// of the battery it applies to does).
	applies func(m *contract.Manifest, c Case) bool
	set     func(m *contract.Manifest, k *Case)
	want    Exit
}

var conducts = []conduct{
	{
		name: "malformed-timeout", it: "exits 2 (bad configuration) for a malformed ATLS_TIMEOUT, naming it, before any handshake",
		applies: anyCase,
		set:     func(_ *contract.Manifest, k *Case) { k.PeerEnv = append(k.PeerEnv, contract.EnvTimeout+"=soon") },
		want:    Exit{contract.ExitConfig, contract.EnvTimeout},
	},
	{
		name: "malformed-attests", it: "exits 2 (bad configuration) for a malformed ATLS_SERVER_ATTESTS, naming it, before any handshake",
		applies: anyCase,
		set: func(_ *contract.Manifest, k *Case) {
			k.PeerEnv = append(k.PeerEnv, contract.EnvServerAttests+"=sometimes")
		},
		want: Exit{contract.ExitConfig, contract.EnvServerAttests},
	},
	{
		name: "unknown-misbehaviour", it: "exits 127 (unsupported) for a misbehaviour nobody defines, before any handshake",
		applies: anyCase,
		set: func(_ *contract.Manifest, k *Case) {
			k.PeerEnv = append(k.PeerEnv, contract.EnvMisbehave+"=no-such-misbehaviour")
		},
		want: Exit{Code: contract.ExitUnsupported},
	},
	{
		name: "unlisted-misbehaviour", it: "exits 127 (unsupported) for a contract misbehaviour its manifest does not list, before any handshake",
		applies: func(m *contract.Manifest, c Case) bool { return unlistedMisbehaviour(m) != "" },
		set: func(m *contract.Manifest, k *Case) {
			k.PeerEnv = append(k.PeerEnv, contract.EnvMisbehave+"="+unlistedMisbehaviour(m))
		},
		want: Exit{Code: contract.ExitUnsupported},
	},
	{
		name: "unlisted-tpm", it: "exits 127 (unsupported) for a root of trust its manifest does not list, before any handshake",
		applies: func(m *contract.Manifest, c Case) bool {
			_, _, peer := c.sides()
			return peer.Attests && unlistedTPM(m) != ""
		},
		set: func(m *contract.Manifest, k *Case) {
			k.after(onPeer(func(cfg *contract.Config) { cfg.TPM = unlistedTPM(m) }))
		},
		want: Exit{Code: contract.ExitUnsupported},
	},
	{
		name: "local-verifier", it: "exits 127 (unsupported) for the in-process verifier its manifest does not list, before any handshake",
		applies: func(m *contract.Manifest, c Case) bool {
			return appraisesBG(c) && !slices.Contains(m.Verifiers, "local")
		},
		set: func(_ *contract.Manifest, k *Case) {
			k.after(onPeer(func(cfg *contract.Config) { cfg.Verifier, cfg.TrustedVerifiers, cfg.Endorsements = "local", "", "" }))
		},
		want: Exit{Code: contract.ExitUnsupported},
	},
	{
		name: "nothing-to-trust", it: "exits 2 (bad configuration) as a relying party on Veraison given no verifier to trust, naming ATLS_TRUSTED_VERIFIERS, before any handshake",
		applies: func(m *contract.Manifest, c Case) bool {
			return appraisesBG(c) && slices.Contains(m.Verifiers, "veraison")
		},
		set: func(_ *contract.Manifest, k *Case) {
			k.after(onPeer(func(cfg *contract.Config) {
				cfg.Verifier, cfg.TrustedVerifiers, cfg.VerifierKey = "veraison:http://veraison.invalid:8080", "", ""
			}))
		},
		want: Exit{contract.ExitConfig, contract.EnvTrustedVerifiers},
	},
	{
		name: "malformed-trusted-verifiers", it: "exits 2 (bad configuration) as a relying party on Veraison whose ATLS_TRUSTED_VERIFIERS is not a verifier list, before any handshake",
		applies: func(m *contract.Manifest, c Case) bool {
			return appraisesBG(c) && slices.Contains(m.Verifiers, "veraison")
		},
		set: func(_ *contract.Manifest, k *Case) {
			// The run's CA certificate: a readable file, not a list.
			k.after(onPeer(func(cfg *contract.Config) {
				cfg.Verifier, cfg.TrustedVerifiers, cfg.VerifierKey = "veraison:http://veraison.invalid:8080", cfg.CACert, ""
			}))
		},
		want: Exit{contract.ExitConfig, contract.EnvTrustedVerifiers},
	},
}

func anyCase(*contract.Manifest, Case) bool { return true }

// onPeer is a servicesFunc that changes only the peer's configuration.
func onPeer(f func(*contract.Config)) servicesFunc {
	return func(_ context.Context, _ driver.Case, peer, _ *contract.Config) error {
		f(peer)
		return nil
	}
}

// appraisesBG: the peer is c's relying party for background-check
// evidence.
func appraisesBG(c Case) bool {
	_, ref, peer := c.sides()
	return !peer.Attests && ref.Attests && ref.Topology == party.BackgroundCheck
}

// unlistedMisbehaviour is a contract misbehaviour m does not list.
func unlistedMisbehaviour(m *contract.Manifest) string {
	for _, b := range contract.Misbehaviours {
		if !slices.Contains(m.Misbehaviours, b) {
			return b
		}
	}
	return ""
}

// unlistedTPM is an ATLS_TPM of a kind m does not list.
func unlistedTPM(m *contract.Manifest) string {
	for _, t := range []struct{ kind, value string }{
		{"software", "software"}, {"simulator", "simulator"}, {"swtpm", "swtpm:127.0.0.1:2321"}, {"device", "device:/dev/tpmrm0"},
	} {
		if !slices.Contains(m.TPMs, t.kind) {
			return t.value
		}
	}
	return ""
}

// Conduct gives each contract rule to the first claimed case of m it
// applies to.
func Conduct(m *contract.Manifest, c Case) []Case {
	var out []Case
	for _, r := range conducts {
		if !firstFor(m, c, func(k Case) bool { return r.applies(m, k) }) {
			continue
		}
		k := withServices(m, Case{Model: c.Model, PeerRole: c.PeerRole, Timeout: c.Timeout}, false)
		k.Variant, k.Kind, k.It, k.Exit = "contract-"+r.name, "contract", r.it, &Exit{Code: r.want.Code, Name: r.want.Name}
		// The peer provisions nothing: it must exit before it could.
		k.Endorse, k.ProvisionReference = nil, nil
		r.set(m, &k)
		out = append(out, k)
	}
	return out
}

// expectExit judges a contract case: the exit code, an outcome line with
// handshake "none" naming the variable, and no handshake on the wire.
func expectExit(c Case, r *Result) {
	GinkgoHelper()
	Expect(r.Peer).NotTo(BeNil())
	Expect(r.Peer.Exit).To(Equal(c.Exit.Code), "the peer's exit, want %d (%s)\n%s", c.Exit.Code, contract.ExitName(c.Exit.Code), r.Describe())
	Expect(r.Peer.Outcome).NotTo(BeNil(), "no outcome line: %v\n%s", r.Peer.OutcomeErr, r.Describe())
	o := r.Peer.Outcome
	Expect(o.Contract).To(Equal(contract.Version), "the outcome line's contract version\n%s", r.Describe())
	Expect(o.Handshake).To(Equal(contract.HandshakeNone), "the outcome line's handshake, want none (not attempted)\n%s", r.Describe())
	if c.Exit.Name != "" {
		Expect(o.Error).To(ContainSubstring(c.Exit.Name), "the outcome line's error does not name %s\n%s", c.Exit.Name, r.Describe())
	}
	Expect(r.Wire.Received).To(BeEmpty(), "the peer sent handshake messages\n%s", r.Describe())
	Expect(r.Wire.AppData).To(BeEmpty(), "the peer sent application data\n%s", r.Describe())
}
