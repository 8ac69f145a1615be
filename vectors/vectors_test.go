package vectors

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/internal/jsonschema"
	"github.com/attested-tls/conformance/vectors/gen/handshake"
)

// TestCommittedVectorsMatchTheImplementation is the gate: the vectors in
// this directory validate against their schemas, equal a fresh
// generation byte for byte, replay through the engine and get their
// verdicts from our parsers. Regenerate with
// `go run ./cmd/conformance vectors generate` when a change is meant.
func TestCommittedVectorsMatchTheImplementation(t *testing.T) {
	r, err := Check(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		t.Error(p)
	}
	// One trace per model of every profile (33: xp-03's 8 go on past
	// the handshake).
	if n := len(handshake.Cases()); r.Files["traces"] != n || n != 33 || r.Files["parsers"] != 19 || r.Files["binders"] != 3 || r.Files["authenticators"] != 1 || r.Files["schema"] != 4 {
		t.Errorf("files %v, want 33 traces (%d cases), 19 parsers, 3 binders, 1 authenticators, 4 schemas", r.Files, n)
	}
	if r.AuthenticatorTests != 4 {
		t.Errorf("%d authenticator tests, want 4", r.AuthenticatorTests)
	}
	if r.Replays != 2*r.Files["traces"] {
		t.Errorf("%d replays for %d traces", r.Replays, r.Files["traces"])
	}
	t.Logf("%v, %d replays, %d parser tests, %d binder tests, %d authenticator tests in %v", r.Files, r.Replays, r.ParserTests, r.BinderTests, r.AuthenticatorTests, r.Elapsed)
}

func TestGenerateIsByteIdentical(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d files, then %d", len(a), len(b))
	}
	for p, x := range a {
		if !bytes.Equal(x, b[p]) {
			t.Errorf("%s differs between two generations", p)
		}
		if !bytes.HasSuffix(bytes.TrimSpace(x), []byte("}")) || !bytes.HasSuffix(x, []byte("\n")) {
			t.Errorf("%s does not end in a newline", p)
		}
	}
}

func TestCanonicalSortsKeys(t *testing.T) {
	got, err := Canonical(struct {
		B string            `json:"b"`
		A map[string]string `json:"a"`
		C string            `json:"c"`
	}{B: "<&>", A: map[string]string{"z": "1", "y": "2"}, C: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": {\n    \"y\": \"2\",\n    \"z\": \"1\"\n  },\n  \"b\": \"<&>\",\n  \"c\": \"x\"\n}\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestSchemasRejectBrokenFiles: each schema accepts its files and catches
// a missing field, an unknown field and a malformed value.
func TestSchemasRejectBrokenFiles(t *testing.T) {
	cases := []struct{ schema, file, field, badKey string }{
		{"schema/trace.schema.json", "traces/ta-07/server-attests_bg-x509.json", "secrets", "cipher_suite"},
		{"schema/parser.schema.json", "parsers/ta-07/cmw.json", "testGroups", "numberOfTests"},
		{"schema/binder.schema.json", "binders/ea-07.json", "tests", "profile"},
		{"schema/authenticator.schema.json", "authenticators/rfc9261.json", "tests", "rfc"},
	}
	for _, c := range cases {
		sb, err := os.ReadFile(c.schema)
		if err != nil {
			t.Fatal(err)
		}
		s, err := jsonschema.Compile(sb)
		if err != nil {
			t.Fatalf("%s: %v", c.schema, err)
		}
		doc, err := os.ReadFile(filepath.FromSlash(c.file))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(doc); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		mutate := func(edit func(map[string]any)) []byte {
			var m map[string]any
			if err := json.Unmarshal(doc, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			b, _ := json.Marshal(m)
			return b
		}
		for what, bad := range map[string][]byte{
			"missing " + c.field:       mutate(func(m map[string]any) { delete(m, c.field) }),
			"unknown field":            mutate(func(m map[string]any) { m["extra"] = 1 }),
			"bad value of " + c.badKey: mutate(func(m map[string]any) { m[c.badKey] = "no such value" }),
		} {
			if err := s.Validate(bad); err == nil {
				t.Errorf("%s: %s passes the schema", c.file, what)
			}
		}
	}
	// A hex field with an odd length fails deep inside a trace.
	sb, _ := os.ReadFile("schema/trace.schema.json")
	s, _ := jsonschema.Compile(sb)
	doc, _ := os.ReadFile(filepath.FromSlash("traces/poc/client-attests_bg-attestation-only.json"))
	bad := bytes.Replace(doc, []byte(`"hex": "01`), []byte(`"hex": "1`), 1)
	if bytes.Equal(bad, doc) {
		t.Fatal("no message hex to break")
	}
	if err := s.Validate(bad); err == nil {
		t.Error("an odd-length hex string passes the trace schema")
	}
}

// TestCheckReportsDrift: a changed message, a missing file and a stray
// file in a copy of the set are each reported.
func TestCheckReportsDrift(t *testing.T) {
	dir := t.TempDir()
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	if r, err := Check(dir); err != nil || len(r.Problems) != 0 {
		t.Fatalf("a fresh copy: %v %v", err, r.Problems)
	}
	// One flipped hex digit in a ServerHello.
	trace := filepath.Join(dir, "traces", "ea-07", "server-attests_bg-x509.json")
	b, _ := os.ReadFile(trace)
	i := bytes.Index(b, []byte(`"hex": "02`))
	if i < 0 {
		t.Fatal("no ServerHello in the trace")
	}
	j := i + len(`"hex": "0200`) + 20
	if b[j] == '0' {
		b[j] = '1'
	} else {
		b[j] = '0'
	}
	os.WriteFile(trace, b, 0o644)
	os.Remove(filepath.Join(dir, "parsers", "poc", "cmw.json"))
	os.WriteFile(filepath.Join(dir, "binders", "stray.json"), []byte("{}\n"), 0o644)
	// A flipped bit in the RFC 8448 server authenticator's signature.
	auth := filepath.Join(dir, "authenticators", "rfc9261.json")
	ab, _ := os.ReadFile(auth)
	k := bytes.Index(ab, []byte(`"0f000084`))
	if k < 0 {
		t.Fatal("no CertificateVerify in the authenticator file")
	}
	k += 40
	if ab[k] == '0' {
		ab[k] = '1'
	} else {
		ab[k] = '0'
	}
	os.WriteFile(auth, ab, 0o644)
	os.WriteFile(filepath.Join(dir, "schema", "trace.schema.json"), []byte("{}\n"), 0o644)

	r, err := Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(r.Problems, "\n")
	for _, want := range []string{
		"traces/ea-07/server-attests_bg-x509.json: differs from a fresh generation",
		"traces/ea-07/server-attests_bg-x509.json: transcript hash",
		"parsers/poc/cmw.json: missing",
		"binders/stray.json: not produced by the generator",
		"binders/stray.json: schema",
		"authenticators/rfc9261.json: differs from a fresh generation",
		"authenticators/rfc9261.json: test 1: certificate_verify: the 0x0804 signature does not verify",
		"schema/trace.schema.json: differs from a fresh generation",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem %q in:\n%s", want, all)
		}
	}
	// Write removes the stray file and restores the rest.
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	if r, _ := Check(dir); len(r.Problems) != 0 {
		t.Fatalf("after Write: %v", r.Problems)
	}
}
