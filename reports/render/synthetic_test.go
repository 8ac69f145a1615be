package render

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/reports/results"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// synthetic is a run over three profiles and two peers with every outcome
// kind, several models, a negative spec, artifacts, an unknown
// requirement ID and text that needs escaping.
func synthetic() *results.Results {
	bgX := results.Side{Attests: true, Topology: results.Background, Credential: results.X509}
	ppA := results.Side{Attests: true, Topology: results.Passport, Credential: results.AttestationOnly}
	ppX := results.Side{Attests: true, Topology: results.Passport, Credential: results.X509}
	bgA := results.Side{Attests: true, Topology: results.Background, Credential: results.AttestationOnly}
	srv := results.Model{Server: bgX}
	cli := results.Model{Client: ppA}
	gm, gg, mg, mm := results.Pair{Client: "go", Server: "mbedtls"}, results.Pair{Client: "go", Server: "go"},
		results.Pair{Client: "mbedtls", Server: "go"}, results.Pair{Client: "mbedtls", Server: "mbedtls"}
	arts := func(n string) results.Artifacts {
		return results.Artifacts{Logs: []string{"logs/" + n + "/client.log", "logs/" + n + "/server.log"},
			KeyLog: "logs/" + n + "/keylog.txt", Pcap: "logs/" + n + "/handshake.pcap"}
	}
	ms := func(n int) results.Duration { return results.Duration(time.Duration(n) * time.Millisecond) }
	return &results.Results{
		SchemaVersion: results.SchemaVersion, SuiteVersion: "v0.1.0", RunID: "20261126T120000Z-1",
		Started: t0, Finished: t0.Add(83 * time.Second),
		Host: results.Host{Name: "ci-1", OS: "linux", Arch: "amd64", CPUs: 2, Go: "go1.26.8"},
		Profiles: []results.Profile{
			{Name: "ta-07", Draft: "draft-fossati-tls-attestation", Revision: "07"},
			{Name: "ea-07", Draft: "draft-fossati-seat-early-attestation", Revision: "07"},
			{Name: "poc", Draft: "attested-tls-poc", Revision: "ph-tls-attestation"},
		},
		Peers: []results.Peer{
			{Name: "mbedtls", Kind: results.Container, Version: "3.6.6-attest", ImageDigest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Capabilities: []string{"poc", "ta-07"}},
			{Name: "go", Kind: results.InProcess, Version: "v0.1.0", Capabilities: []string{"ea-07", "poc", "ta-07"}},
		},
		Specs: []results.Spec{
			{ID: "ta-07/server-attests/bg+x509/go→go", Description: "server attests, background check, X.509", Pair: gg, Profile: "ta-07", Model: srv,
				Role: results.RoleBoth, Requirements: []string{"TA07-8.1.2-1", "TA07-8.1.1-1"}, Outcome: results.Pass, Duration: ms(12),
				Verdicts: []results.Verdict{{Attester: results.ServerSide, Status: results.Accepted, TrustTier: results.TierAffirming}}, Artifacts: arts("1")},
			{ID: "ta-07/server-attests/bg+x509/go→mbedtls", Description: "server attests, background check, X.509", Pair: gm, Profile: "ta-07", Model: srv,
				Role: results.RoleServer, Requirements: []string{"TA07-8.1.2-1"}, Outcome: results.Fail, Duration: ms(40),
				Message: "client: handshake failed: remote error: decode_error\nserver: evidence_proposal selected no type",
				Alerts:  []results.Alert{{Code: 50, Name: "decode_error", SentBy: results.ServerSide}}, Artifacts: arts("2")},
			{ID: "ta-07/server-attests/bg+x509/go→mbedtls/neg/nonce-reused", Description: "relying party rejects a reused nonce", Pair: gm, Profile: "ta-07", Model: srv,
				Role: results.RoleClient, Requirements: []string{"TA07-8.1.2-2"}, Outcome: results.Pass, Duration: ms(9),
				Alerts:   []results.Alert{{Code: 47, Name: "illegal_parameter", SentBy: results.ClientSide}},
				Verdicts: []results.Verdict{{Attester: results.ServerSide, Status: results.Rejected, TrustTier: results.TierContraindicated, Reason: "nonce.reused"}}},
			{ID: "ta-07/server-attests/bg+x509/mbedtls→go", Description: "server attests, background check, X.509", Pair: mg, Profile: "ta-07", Model: srv,
				Role: results.RoleClient, Requirements: []string{"TA07-8.1.1-1"}, Outcome: results.ExpectedFail, Duration: ms(31),
				Message:  "server: client offered an empty evidence_proposal",
				Expected: &results.Expectation{Outcome: results.Fail, Reason: "mbedTLS PoC sends an empty evidence_proposal (upstream issue 12)"},
				Alerts:   []results.Alert{{Code: 50, Name: "decode_error", SentBy: results.ServerSide}}, Artifacts: arts("3")},
			{ID: "ta-07/server-attests/bg+x509/mbedtls→mbedtls", Description: "server attests, background check, X.509", Pair: mm, Profile: "ta-07", Model: srv,
				Role: results.RoleBoth, Requirements: []string{"TA07-8.1.2-1"}, Outcome: results.Unsupported, Duration: ms(1),
				Message:  "peer mbedtls: server attestation not implemented (exit 127)",
				Expected: &results.Expectation{Outcome: results.Unsupported, Reason: "server-side attestation not in the PoC"}},
			{ID: "ta-07/client-attests/passport+attestation-only/go→go", Description: "client attests, passport", Pair: gg, Profile: "ta-07", Model: cli,
				Role: results.RoleBoth, Requirements: []string{"TA07-8.2-2"}, Outcome: results.Pass, Duration: ms(15)},
			{ID: "ta-07/client-attests/passport+attestation-only/mbedtls→go", Description: "client attests, passport", Pair: mg, Profile: "ta-07", Model: cli,
				Role: results.RoleClient, Requirements: []string{"TA07-8.2-3", "TA07-9.9-9"}, Outcome: results.UnexpectedPass, Duration: ms(22),
				Expected: &results.Expectation{Outcome: results.Fail, Reason: "passport results were not supported before 3.6.6"}},
			{ID: "ta-07/mutual/server=bg+x509,client=passport+attestation-only/go→go", Description: "mutual attestation", Pair: gg, Profile: "ta-07",
				Model: results.Model{Server: bgX, Client: ppA}, Role: results.RoleBoth, Outcome: results.Skipped, Duration: 0,
				Message: "skipped: needs:veraison"},
			{ID: "ea-07/server-attests/passport+x509/go→go", Description: "early attestation, server passport", Pair: gg, Profile: "ea-07",
				Model: results.Model{Server: ppX}, Role: results.RoleServer, Requirements: []string{"EA07-4.1-1"}, Outcome: results.Pass, Duration: ms(18),
				Verdicts: []results.Verdict{{Attester: results.ServerSide, Status: results.Accepted, TrustTier: results.TierAffirming}}},
			{ID: "ea-07/server-attests/passport+x509/go→mbedtls", Description: "early attestation, server passport", Pair: gm, Profile: "ea-07",
				Model: results.Model{Server: ppX}, Role: results.RoleServer, Requirements: []string{"EA07-4.1-1"}, Outcome: results.Unsupported, Duration: ms(1),
				Message: "peer mbedtls does not implement ea-07"},
			{ID: "poc/client-attests/bg+attestation-only/mbedtls→go", Description: `PoC wire: client evidence in cert_data <"quoted"> & escaped`, Pair: mg, Profile: "poc",
				Model: results.Model{Client: bgA}, Role: results.RoleClient, Requirements: []string{"POC-ch-1"}, Outcome: results.Fail, Duration: ms(55),
				Message:   `<script>alert("x")</script> | *not bold* [link](x) & more`,
				Alerts:    []results.Alert{{Code: 42, Name: "bad_certificate", SentBy: results.ServerSide}},
				Verdicts:  []results.Verdict{{Attester: results.ClientSide, Status: results.Rejected, Reason: "evidence.no-endorsement"}},
				Artifacts: results.Artifacts{Logs: []string{"logs/with space/client#1.log"}}},
			// Attack specs: two pairs, three variants, one verdict that
			// differs from the documented one.
			{ID: "ta-07/server-attests/bg+x509/attack/relay/oracle/go→go", Pair: gg, Profile: "ta-07", Model: srv, Role: results.RoleServer, Outcome: results.Pass, Duration: ms(4),
				Description: "relay: against ta-07 X.509, an attacker with a TIK-signing oracle: the attack succeeds, because no binder shows where the session keys live",
				Attack:      &results.Attack{Scenario: "relay", Capability: "oracle", Verdict: results.AttackSucceeds}},
			{ID: "ta-07/server-attests/bg+x509/attack/splice/oracle/go→go", Pair: gg, Profile: "ta-07", Model: srv, Role: results.RoleServer, Outcome: results.Pass, Duration: ms(5),
				Description: "splice: evidence from another handshake carries that handshake's <binder> & is refused",
				Alerts:      []results.Alert{{Code: 42, Name: "bad_certificate", SentBy: results.ClientSide}},
				Attack:      &results.Attack{Scenario: "splice", Capability: "oracle", Verdict: results.AttackPrevented, Check: "binder"}},
			{ID: "ea-07/server-attests/passport+x509/attack/replay-ear-fresh/replay/go→go", Pair: gg, Profile: "ea-07", Model: results.Model{Server: ppX}, Role: results.RoleServer,
				Outcome: results.Pass, Duration: ms(3), Description: "replay of a fresh EAR: only CertificateVerify stops it",
				Attack: &results.Attack{Scenario: "replay-ear-fresh", Capability: "replay", Verdict: results.AttackPrevented, Check: "certificate-verify"}},
			{ID: "ea-07/server-attests/passport+x509/attack/replay-ear-stale/replay/go→go", Pair: gg, Profile: "ea-07", Model: results.Model{Server: ppX}, Role: results.RoleServer,
				Outcome: results.Fail, Duration: ms(3), Description: "replay of a stale EAR: prevented by the freshness check",
				Message: "the attack's verdict; documented: the result is stale: expected prevented, got succeeds",
				Attack:  &results.Attack{Scenario: "replay-ear-stale", Capability: "replay", Verdict: results.AttackSucceeds}},
			{ID: "poc/client-attests/bg+attestation-only/attack/splice/oracle/mbedtls→go", Pair: mg, Profile: "poc", Model: results.Model{Client: bgA}, Role: results.RoleServer,
				Outcome: results.Pass, Duration: ms(6), Description: "splice against the PoC's nonce-only binding: the attack succeeds",
				Attack: &results.Attack{Scenario: "splice", Capability: "oracle", Verdict: results.AttackSucceeds, Part: results.PartAttester}},
		},
	}
}

func testCatalog(t testing.TB) *requirements.Catalog {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := requirements.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeArtifacts creates every artifact file of r under dir.
func writeArtifacts(t testing.TB, r *results.Results, dir string) {
	t.Helper()
	for _, s := range r.Specs {
		for _, p := range s.Artifacts.Paths() {
			f := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte("artifact "+p+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
