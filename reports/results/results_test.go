package results

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/internal/jsonschema"
)

var update = flag.Bool("update", false, "rewrite testdata/sample.json from sample()")

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// sample is a run with two peers, two profiles and every optional field set.
func sample() *Results {
	bg := Side{Attests: true, Topology: Background, Credential: X509}
	return &Results{
		SchemaVersion: SchemaVersion, SuiteVersion: "v0.1.0", RunID: "run-1",
		Started: t0, Finished: t0.Add(90 * time.Second),
		Host: Host{Name: "ci-1", OS: "linux", Arch: "amd64", CPUs: 2, Go: "go1.26.8"},
		Profiles: []Profile{
			{Name: "ea-07", Draft: "draft-fossati-seat-early-attestation", Revision: "07"},
			{Name: "ta-07", Draft: "draft-fossati-tls-attestation", Revision: "07"},
		},
		Peers: []Peer{
			{Name: "go", Kind: InProcess, Version: "v0.1.0", Capabilities: []string{"ta-07", "ea-07"}},
			{Name: "mbedtls", Kind: Container, Version: "3.6.6", ImageDigest: "sha256:" + strings.Repeat("ab", 32), Capabilities: []string{"ta-07"}},
		},
		Specs: []Spec{
			{
				ID: "ta-07/server-attests/bg+x509/go→mbedtls", Description: "server attests, background check",
				Pair: Pair{Client: "go", Server: "mbedtls"}, Profile: "ta-07",
				Model: Model{Server: bg}, Role: RoleServer,
				Requirements: []string{"TA07-8.1.2-1"}, Outcome: ExpectedFail,
				Message:  "client saw alert decode_error",
				Expected: &Expectation{Outcome: Fail, Reason: "mbedTLS sends an empty evidence_proposal"},
				Duration: Duration(12500 * time.Microsecond),
				Alerts:   []Alert{{Code: 50, Name: "decode_error", SentBy: ClientSide}},
				Verdicts: []Verdict{{Attester: ServerSide, Status: Rejected, TrustTier: TierContraindicated, Reason: "result.nonce-mismatch"}},
				Artifacts: Artifacts{Logs: []string{"logs/1/client.log", "logs/1/server.log"},
					KeyLog: "logs/1/keylog.txt", Pcap: "logs/1/handshake.pcap"},
				Attack: &Attack{Scenario: "relay", Capability: "tee-bound", Verdict: AttackPrevented, Check: "binder"},
			},
			{
				ID: "ea-07/no-attestation/go→go", Pair: Pair{Client: "go", Server: "go"}, Profile: "ea-07",
				Role: RoleBoth, Outcome: Pass, Duration: Duration(time.Millisecond),
			},
		},
	}
}

func compiledSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	s, err := jsonschema.Compile(JSONSchema())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemaMatchesTypes: every object of schema.json declares exactly the
// JSON fields of its Go type, and requires exactly those not marked
// omitempty/omitzero.
func TestSchemaMatchesTypes(t *testing.T) {
	s := compiledSchema(t)
	types := map[string]reflect.Type{
		"host": reflect.TypeFor[Host](), "run": reflect.TypeFor[Run](), "profile": reflect.TypeFor[Profile](),
		"peer": reflect.TypeFor[Peer](), "pair": reflect.TypeFor[Pair](), "side": reflect.TypeFor[Side](),
		"model": reflect.TypeFor[Model](), "expectation": reflect.TypeFor[Expectation](), "alert": reflect.TypeFor[Alert](),
		"verdict": reflect.TypeFor[Verdict](), "artifacts": reflect.TypeFor[Artifacts](), "spec": reflect.TypeFor[Spec](),
		"attack": reflect.TypeFor[Attack](), "shard": reflect.TypeFor[Shard](),
	}
	check := func(name string, node *jsonschema.Schema, typ reflect.Type) {
		var fields, required []string
		for f := range typ.Fields() {
			tag := f.Tag.Get("json")
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			fields = append(fields, name)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
		slices.Sort(fields)
		slices.Sort(required)
		if got := node.Properties(); !slices.Equal(got, fields) {
			t.Errorf("%s: schema properties %v, Go fields %v", name, got, fields)
		}
		if got := node.Required(); !slices.Equal(got, required) {
			t.Errorf("%s: schema required %v, Go non-omitempty fields %v", name, got, required)
		}
	}
	check("(root)", s, reflect.TypeFor[Results]())
	for def, typ := range types {
		node := s.Def(def)
		if node == nil {
			t.Errorf("schema has no $defs/%s", def)
			continue
		}
		check(def, node, typ)
	}
	// Enums in the schema list exactly the Go constants.
	var outcomes []string
	for _, o := range Outcomes {
		outcomes = append(outcomes, `"`+string(o)+`"`)
	}
	if got := s.Def("outcome").Enum(); !slices.Equal(got, outcomes) {
		t.Errorf("outcome enum %v, want %v", got, outcomes)
	}
	verdicts := []string{`"` + string(AttackSucceeds) + `"`, `"` + string(AttackPrevented) + `"`}
	if got := s.Def("attack").Property("verdict").Enum(); !slices.Equal(got, verdicts) {
		t.Errorf("attack verdict enum %v, want %v", got, verdicts)
	}
}

func TestSampleFileAgainstSchema(t *testing.T) {
	want, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join("testdata", "sample.json")
	if *update {
		if err := os.WriteFile(name, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from sample().Marshal(); run go test -update if the schema changed on purpose", name)
	}
	if err := compiledSchema(t).Validate(got); err != nil {
		t.Errorf("%s does not validate against schema.json: %v", name, err)
	}
	if _, err := Parse(got); err != nil {
		t.Errorf("Parse(%s): %v", name, err)
	}
	// An empty run is valid too, with [] rather than null lists.
	empty := &Results{SchemaVersion: 1, SuiteVersion: "v", RunID: "r", Started: t0, Finished: t0}
	b, err := empty.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := compiledSchema(t).Validate(b); err != nil {
		t.Errorf("empty run: %v\n%s", err, b)
	}
}

// TestInvalidRejectedByBoth: mutations of the sample that the schema
// forbids are also refused by Parse, so Go and schema agree.
func TestInvalidRejectedByBoth(t *testing.T) {
	base, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	schema := compiledSchema(t)
	spec0 := func(m map[string]any) map[string]any { return m["specs"].([]any)[0].(map[string]any) }
	for name, mutate := range map[string]func(map[string]any){
		"schema version": func(m map[string]any) { m["schema_version"] = 2 },
		"unknown field":  func(m map[string]any) { m["extra"] = true },
		"missing run id": func(m map[string]any) { delete(m, "run_id") },
		"bad started":    func(m map[string]any) { m["started"] = "noon" },
		"peer kind":      func(m map[string]any) { m["peers"].([]any)[0].(map[string]any)["kind"] = "vm" },
		"image digest":   func(m map[string]any) { m["peers"].([]any)[1].(map[string]any)["image_digest"] = "sha256:xyz" },
		"outcome":        func(m map[string]any) { spec0(m)["outcome"] = "flaky" },
		"role":           func(m map[string]any) { spec0(m)["role"] = "verifier" },
		"alert code":     func(m map[string]any) { spec0(m)["alerts"].([]any)[0].(map[string]any)["code"] = 256 },
		"alert side":     func(m map[string]any) { spec0(m)["alerts"].([]any)[0].(map[string]any)["sent_by"] = "verifier" },
		"trust tier":     func(m map[string]any) { spec0(m)["verdicts"].([]any)[0].(map[string]any)["trust_tier"] = "great" },
		"verdict status": func(m map[string]any) { spec0(m)["verdicts"].([]any)[0].(map[string]any)["status"] = "maybe" },
		"absolute pcap":  func(m map[string]any) { spec0(m)["artifacts"].(map[string]any)["pcap"] = "/tmp/x.pcap" },
		"negative time":  func(m map[string]any) { spec0(m)["duration_ms"] = -1 },
		"topology": func(m map[string]any) {
			spec0(m)["model"].(map[string]any)["server"].(map[string]any)["topology"] = "cloud"
		},
		"expected outcome": func(m map[string]any) { spec0(m)["expected"].(map[string]any)["outcome"] = "pass" },
		"empty reason":     func(m map[string]any) { spec0(m)["expected"].(map[string]any)["reason"] = "" },
		"duplicate req":    func(m map[string]any) { spec0(m)["requirements"] = []any{"A", "A"} },
		"missing pair":     func(m map[string]any) { delete(spec0(m), "pair") },
		"attack verdict":   func(m map[string]any) { spec0(m)["attack"].(map[string]any)["verdict"] = "maybe" },
		"attack scenario":  func(m map[string]any) { delete(spec0(m)["attack"].(map[string]any), "scenario") },
		"attack check":     func(m map[string]any) { spec0(m)["attack"].(map[string]any)["check"] = "" },
	} {
		var m map[string]any
		if err := json.Unmarshal(base, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		doc, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(doc); err == nil {
			t.Errorf("%s: schema accepted it", name)
		}
		if _, err := Parse(doc); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
}

// TestValidateCrossReferences: what only Go checks (the schema cannot).
func TestValidateCrossReferences(t *testing.T) {
	for name, mutate := range map[string]func(r *Results){
		"unknown peer":            func(r *Results) { r.Specs[0].Pair.Server = "openssl" },
		"unknown profile":         func(r *Results) { r.Specs[0].Profile = "ta-08" },
		"duplicate spec":          func(r *Results) { r.Specs[1].ID = r.Specs[0].ID },
		"duplicate peer":          func(r *Results) { r.Peers[1].Name = "go" },
		"finished before started": func(r *Results) { r.Finished = r.Started.Add(-time.Second) },
		"expected-fail, no entry": func(r *Results) { r.Specs[0].Expected = nil },
		"attests without topology": func(r *Results) {
			r.Specs[1].Model.Client = Side{Attests: true, Credential: X509}
		},
		"unclean path":           func(r *Results) { r.Specs[0].Artifacts.Pcap = "logs/../logs/x.pcap" },
		"prevented by no check":  func(r *Results) { r.Specs[0].Attack.Check = "" },
		"succeeded past a check": func(r *Results) { r.Specs[0].Attack.Verdict = AttackSucceeds },
	} {
		r := sample()
		mutate(r)
		if err := r.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
		if err := r.Write(filepath.Join(t.TempDir(), "results.json")); err == nil {
			t.Errorf("%s: Write accepted it", name)
		}
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "results.json")
	want := sample()
	if err := want.Write(name); err != nil {
		t.Fatal(err)
	}
	got, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Base() != dir {
		t.Errorf("Base = %q, want %q", got.Base(), dir)
	}
	want.base = dir
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	if d := got.Specs[0].Duration; time.Duration(d) != 12500*time.Microsecond {
		t.Errorf("duration = %v", time.Duration(d))
	}
	if p := got.ArtifactPath(got.Specs[0].Artifacts.Pcap); p != filepath.Join(dir, "logs/1/handshake.pcap") {
		t.Errorf("ArtifactPath = %s", p)
	}
}

// TestWriteKeepsOldFileOnFailure: a failed Write leaves the previous file
// and no temporary files behind.
func TestWriteKeepsOldFileOnFailure(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "results.json")
	if err := sample().Write(name); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(name)
	bad := sample()
	bad.RunID = ""
	if err := bad.Write(name); err == nil {
		t.Fatal("Write of an invalid run succeeded")
	}
	// Rename over a non-empty directory fails after the temp file was written.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := sample().Write(blocked); err == nil {
		t.Fatal("Write over a directory succeeded")
	}
	after, _ := os.ReadFile(name)
	if !bytes.Equal(before, after) {
		t.Error("previous results file changed")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestWriteRebasesArtifacts: a run loaded from one folder and written to
// another keeps pointing at the same artifact files.
func TestWriteRebasesArtifacts(t *testing.T) {
	root := t.TempDir()
	r := sample()
	r.SetBase(filepath.Join(root, "run1"))
	out := filepath.Join(root, "merged", "results.json")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.Write(out); err != nil {
		t.Fatal(err)
	}
	got, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Specs[0].Artifacts.Pcap; p != "../run1/logs/1/handshake.pcap" {
		t.Errorf("rebased pcap = %q", p)
	}
	if r.Specs[0].Artifacts.Pcap != "logs/1/handshake.pcap" {
		t.Error("Write changed its receiver")
	}
}

func TestMerge(t *testing.T) {
	root := t.TempDir()
	a := sample()
	a.SetBase(filepath.Join(root, "a"))
	b := sample()
	b.SetBase(filepath.Join(root, "b"))
	b.RunID = "run-2"
	b.Started, b.Finished = t0.Add(-time.Hour), t0.Add(-time.Minute)
	b.Host.Name = "ci-2"
	b.Specs = b.Specs[:1]
	b.Specs[0].ID = "ta-07/server-attests/bg+x509/mbedtls→go"
	b.Specs[0].Pair = Pair{Client: "mbedtls", Server: "go"}
	b.Peers[0].Capabilities = []string{"poc"}
	b.Profiles = b.Profiles[1:]

	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.RunID != "run-1+run-2" || len(m.MergedFrom) != 2 || m.Host.Name != "several (see merged_from)" {
		t.Errorf("run id %q, merged_from %d, host %q", m.RunID, len(m.MergedFrom), m.Host.Name)
	}
	if !m.Started.Equal(b.Started) || !m.Finished.Equal(a.Finished) {
		t.Errorf("span %s..%s", m.Started, m.Finished)
	}
	if len(m.Specs) != 3 || len(m.Profiles) != 2 || len(m.Peers) != 2 {
		t.Fatalf("specs %d profiles %d peers %d", len(m.Specs), len(m.Profiles), len(m.Peers))
	}
	if !slices.IsSortedFunc(m.Specs, func(x, y Spec) int { return strings.Compare(x.ID, y.ID) }) {
		t.Error("merged specs not sorted")
	}
	if caps := m.Peers[0].Capabilities; !slices.Equal(caps, []string{"ta-07", "ea-07", "poc"}) {
		t.Errorf("go capabilities %v", caps)
	}
	i := slices.IndexFunc(m.Specs, func(s Spec) bool { return s.ID == b.Specs[0].ID })
	if p := m.Specs[i].Artifacts.Pcap; p != "../b/logs/1/handshake.pcap" {
		t.Errorf("rebased pcap %q", p)
	}
	if a.RunID != "run-1" || b.Specs[0].Artifacts.Pcap != "logs/1/handshake.pcap" {
		t.Error("Merge changed an input")
	}
	// Merging a merged file with a third run keeps every run.
	c := sample()
	c.RunID, c.Specs = "run-3", nil
	m2, err := Merge(m, c)
	if err != nil {
		t.Fatal(err)
	}
	if m2.RunID != "run-1+run-2+run-3" {
		t.Errorf("run id %q", m2.RunID)
	}

	for name, mutate := range map[string]func(r *Results){
		"same spec twice":   func(r *Results) { r.Specs[0].ID = a.Specs[0].ID },
		"peer version":      func(r *Results) { r.Peers[1].Version = "3.6.7" },
		"profile revision":  func(r *Results) { r.Profiles[0].Revision = "08" },
		"suite version":     func(r *Results) { r.SuiteVersion = "v0.2.0" },
		"same run id twice": func(r *Results) { r.RunID = "run-1" },
	} {
		c := b.Clone()
		mutate(c)
		if _, err := Merge(a, c); err == nil {
			t.Errorf("%s: Merge succeeded", name)
		}
	}
}

func TestModelKey(t *testing.T) {
	pp := Side{Attests: true, Topology: Passport, Credential: AttestationOnly}
	bg := Side{Attests: true, Topology: Background, Credential: X509}
	for _, c := range []struct {
		m    Model
		want string
	}{
		{Model{Server: bg}, "server-attests/bg+x509"},
		{Model{Client: pp}, "client-attests/passport+attestation-only"},
		{Model{Server: bg, Client: pp}, "mutual/server=bg+x509,client=passport+attestation-only"},
		{Model{}, "no-attestation"},
	} {
		if got := c.m.Key(); got != c.want {
			t.Errorf("Key = %q, want %q", got, c.want)
		}
	}
}

func TestOutcome(t *testing.T) {
	for _, o := range Outcomes {
		if !o.Valid() {
			t.Errorf("%s not valid", o)
		}
		if o.Gates() != (o == Fail || o == UnexpectedPass) {
			t.Errorf("%s.Gates() = %v", o, o.Gates())
		}
	}
	if ExpectedFail.Observed() != Fail || UnexpectedPass.Observed() != Pass || Unsupported.Observed() != Unsupported {
		t.Error("Observed")
	}
	if Outcome("flaky").Valid() {
		t.Error("flaky is valid")
	}
}

// FuzzParse: Parse never panics; what it accepts re-encodes to a file the
// JSON Schema accepts and that parses to the same value.
func FuzzParse(f *testing.F) {
	schema := compiledSchema(f)
	b, err := sample().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"schema_version":1}`))
	f.Add([]byte(`{"schema_version":1,"suite_version":"v","run_id":"r","started":"2026-01-01T00:00:00Z","finished":"2026-01-01T00:00:00Z","host":{"name":"","os":"","arch":"","cpus":0,"go":""},"profiles":[],"peers":[],"specs":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed file: %v", err)
		}
		if err := schema.Validate(out); err != nil {
			t.Fatalf("Parse accepted what the schema rejects: %v\n%s", err, out)
		}
		r2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		out2, _ := r2.Marshal()
		if !bytes.Equal(out, out2) {
			t.Fatalf("not a fixed point:\n%s\n%s", out, out2)
		}
	})
}
