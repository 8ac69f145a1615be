package parser

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func generate(t testing.TB) map[string]File {
	t.Helper()
	fs, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestVectorsAgreeWithOurParsers: every authored verdict holds for our
// parsers, through a JSON round trip.
func TestVectorsAgreeWithOurParsers(t *testing.T) {
	total := 0
	for path, f := range generate(t) {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var back File
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := Check(back); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		total += f.NumberOfTests
	}
	if total < 250 {
		t.Fatalf("only %d parser tests", total)
	}
}

// TestCoverage: the structures the issue names are all there, each with
// valid and invalid inputs, and the ta-07 nonce bounds are tested at 7,
// 8 and 255.
func TestCoverage(t *testing.T) {
	fs := generate(t)
	want := []string{
		"parsers/ta-07/evidence_request.client_hello.json", "parsers/ta-07/evidence_request.encrypted_extensions.json",
		"parsers/ta-07/evidence_proposal.client_hello.json", "parsers/ta-07/evidence_proposal.encrypted_extensions.json",
		"parsers/ta-07/results.client_hello.json", "parsers/ta-07/results.encrypted_extensions.json",
		"parsers/ta-07/certificate_type.json", "parsers/ta-07/cmw.json",
		"parsers/ea-07/remote_attestation.client_hello.json", "parsers/ea-07/remote_attestation.encrypted_extensions.json",
		"parsers/ea-07/remote_attestation.certificate_request.json", "parsers/ea-07/remote_attestation.certificate.json",
		"parsers/ea-07/cmw.json",
		"parsers/poc/evidence_proposal.client_hello.json", "parsers/poc/evidence_proposal.encrypted_extensions.json", "parsers/poc/cmw.json",
		"parsers/xp-03/cmw_attestation.certificate.json", "parsers/xp-03/cmw.json", "parsers/xp-03/frame.json",
	}
	if got := Paths(); !slices.Equal(got, sortedCopy(want)) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for path, f := range fs {
		results := map[string]int{}
		for _, g := range f.TestGroups {
			for _, tc := range g.Tests {
				results[tc.Result]++
			}
		}
		if results[Valid] == 0 || results[Invalid] == 0 {
			t.Errorf("%s: %v", path, results)
		}
	}
	nonces := map[int]string{}
	for _, tc := range fs["parsers/ta-07/evidence_request.client_hello.json"].TestGroups[0].Tests {
		if slices.Contains(tc.Flags, "NonceBounds") {
			// input: list length, list, nonce length, nonce
			n := int(tc.Input[1+int(tc.Input[0])])
			nonces[n] = tc.Result
		}
	}
	for n, r := range map[int]string{0: Invalid, 7: Invalid, 8: Valid, 255: Valid} {
		if nonces[n] != r {
			t.Errorf("nonce of %d bytes: %q, want %q", n, nonces[n], r)
		}
	}
	forms := map[string]bool{}
	for _, g := range fs["parsers/ta-07/cmw.json"].TestGroups {
		for _, tc := range g.Tests {
			for _, fl := range tc.Flags {
				forms[fl] = true
			}
		}
	}
	for _, fl := range []string{"CMWRecord", "CMWTag", "CMWCollection", "CMWMalformed"} {
		if !forms[fl] {
			t.Errorf("no CMW test flagged %s", fl)
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// TestCheckCatchesWrongVectors: a file whose verdict, alert, decoding or
// bookkeeping is wrong fails the check.
func TestCheckCatchesWrongVectors(t *testing.T) {
	base := generate(t)["parsers/ta-07/evidence_request.client_hello.json"]
	copyOf := func() File {
		b, _ := json.Marshal(base)
		var f File
		json.Unmarshal(b, &f)
		return f
	}
	find := func(f File, result string) *Test {
		for i := range f.TestGroups[0].Tests {
			if tc := &f.TestGroups[0].Tests[i]; tc.Result == result {
				return tc
			}
		}
		t.Fatalf("no %s test", result)
		return nil
	}
	edits := map[string]func(*File){
		"valid marked invalid":  func(f *File) { tc := find(*f, Valid); tc.Result, tc.Alert = Invalid, &Alert{"decode_error", 50} },
		"invalid marked valid":  func(f *File) { tc := find(*f, Invalid); tc.Result, tc.Alert = Valid, nil },
		"wrong alert":           func(f *File) { find(*f, Invalid).Alert = &Alert{"illegal_parameter", 47} },
		"wrong decoding":        func(f *File) { find(*f, Valid).Decoded = json.RawMessage(`{"nonce":"00"}`) },
		"unknown result":        func(f *File) { find(*f, Valid).Result = "maybe" },
		"wrong count":           func(f *File) { f.NumberOfTests++ },
		"repeated tcId":         func(f *File) { f.TestGroups[0].Tests[1].TcID = f.TestGroups[0].Tests[0].TcID },
		"wrong group message":   func(f *File) { f.TestGroups[0].Message = "certificate" },
		"unknown structure":     func(f *File) { f.Structure = "no_such_structure" },
		"mutated invalid input": func(f *File) { tc := find(*f, Invalid); tc.Input = find(*f, Valid).Input },
		"mutated valid input":   func(f *File) { tc := find(*f, Valid); tc.Input = append(tc.Input, 0) },
	}
	for what, edit := range edits {
		f := copyOf()
		edit(&f)
		if err := Check(f); err == nil {
			t.Errorf("%s: the check passes", what)
		}
	}
	if err := Check(copyOf()); err != nil {
		t.Fatalf("unedited copy: %v", err)
	}
}

// TestAcceptableAllowsBothButChecksTheAlert: an acceptable input may be
// taken or refused, but a refusal must carry the vector's alert.
func TestAcceptableAllowsBothButChecksTheAlert(t *testing.T) {
	f := generate(t)["parsers/ea-07/cmw.json"]
	var tc *Test
	for i, x := range f.TestGroups[0].Tests {
		if x.Result == Acceptable {
			tc = &f.TestGroups[0].Tests[i]
			break
		}
	}
	if tc == nil {
		t.Fatal("no acceptable test")
	}
	parse := parseCMW(228)
	if _, err := judge(parse, *tc); err != nil {
		t.Fatal(err)
	}
	wrong := *tc
	wrong.Alert = &Alert{"bad_certificate", 42}
	if _, err := judge(parse, wrong); err == nil || !strings.Contains(err.Error(), "alert") && !strings.Contains(err.Error(), "sends") {
		t.Fatalf("acceptable test with the wrong alert: %v", err)
	}
}

// FuzzCheck: no JSON makes the checker panic.
func FuzzCheck(f *testing.F) {
	for _, file := range generate(f) {
		b, _ := json.Marshal(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var file File
		if json.Unmarshal(b, &file) != nil {
			return
		}
		Check(file)
	})
}

// TestInputsDistinct: within a file no two tests share an input, so each
// tcId checks something the others do not.
func TestInputsDistinct(t *testing.T) {
	for path, f := range generate(t) {
		seen := map[string]int{}
		for _, g := range f.TestGroups {
			for _, tc := range g.Tests {
				k := string(tc.Input)
				if id, dup := seen[k]; dup {
					t.Errorf("%s: tcId %d has the input of tcId %d", path, tc.TcID, id)
				}
				seen[k] = tc.TcID
			}
		}
	}
}
