package rootoftrust

import (
	"context"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
)

func TestParse(t *testing.T) {
	for v, want := range map[string]Root{
		"software":                       {Kind: Software},
		"simulator":                      {Kind: Simulator},
		"psa-iot":                        {Kind: PSA},
		"swtpm:127.0.0.1:2321":           {Kind: Swtpm, Addr: "127.0.0.1:2321"},
		"parsec:/run/parsec/parsec.sock": {Kind: Parsec, Addr: "/run/parsec/parsec.sock"},
	} {
		r, err := Parse(v)
		if err != nil || r != want || r.String() != v {
			t.Errorf("Parse(%q) = %+v (%s), %v; want %+v", v, r, r, err, want)
		}
	}
	for _, v := range []string{"", "swtpm", "swtpm:", "swtpm:host", "swtpm::1", "device:/dev/tpmrm0", "SOFTWARE", "parsec", "parsec:", "parsec:parsec.sock"} {
		if r, err := Parse(v); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", v, r)
		}
	}
}

// Open gives an attester whose evidence verifies, with the faults it was
// opened with.
func TestOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nonce := []byte("a nonce of sixteen+")
	for _, r := range []Root{{Kind: Software}, {Kind: Simulator}} {
		for _, f := range []struct {
			faults parsectpm.Faults
			want   attest.Reason
		}{{parsectpm.Faults{}, ""}, {parsectpm.Faults{NotFixedTPM: true}, parsectpm.ReasonNotFixedTPM}} {
			a, release, err := Open(ctx, r, f.faults)
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			ev, err := a.Evidence(ctx, attest.Challenge{Nonce: nonce})
			if err != nil {
				t.Fatal(err)
			}
			d, err := parsectpm.Decode(ev.Data)
			if err != nil {
				t.Fatal(err)
			}
			err = parsectpm.Verify(d, a.Endorsement(), nonce, a.Identity().Public())
			if got := attest.ReasonOf(err); got != f.want || (f.want == "" && err != nil) {
				t.Errorf("%s with %+v: %v, want %q", r, f.faults, err, f.want)
			}
			if err := release(); err != nil {
				t.Error(err)
			}
		}
	}
	// A PSA root gives PSA tokens, with the faults it was opened with.
	for _, f := range []struct {
		faults parsectpm.Faults
		want   attest.Reason
	}{{parsectpm.Faults{}, ""}, {parsectpm.Faults{UnendorsedKey: true}, psa.ReasonSignature}} {
		a, release, err := Open(ctx, Root{Kind: PSA}, f.faults)
		if err != nil {
			t.Fatal(err)
		}
		ch := attest.Challenge{Nonce: nonce, TIK: a.Identity().Public()}
		ev, err := a.Evidence(ctx, ch)
		if err != nil || ev.MediaType != psa.MediaType {
			t.Fatalf("%q %v", ev.MediaType, err)
		}
		tok, err := psa.Decode(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := psa.Challenge(ch)
		if got := attest.ReasonOf(psa.Verify(tok, a.Endorsement(), want)); got != f.want {
			t.Errorf("psa-iot with %+v: %q, want %q", f.faults, got, f.want)
		}
		if err := release(); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := Open(ctx, Root{Kind: "device"}, parsectpm.Faults{}); err == nil {
		t.Error("opened a device root")
	}
	if _, _, err := Open(ctx, Root{Kind: Swtpm, Addr: "127.0.0.1:1"}, parsectpm.Faults{}); err == nil {
		t.Error("opened a swtpm where none listens")
	}
	if _, _, err := Open(ctx, Root{Kind: Parsec, Addr: t.TempDir() + "/none.sock"}, parsectpm.Faults{}); err == nil {
		t.Error("opened a Parsec where none listens")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"software", "simulator", "swtpm:tpm:2321", "swtpm:", "parsec:/p.sock", "device:/dev/tpmrm0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, err := Parse(v)
		if err != nil {
			return
		}
		if r.String() != v {
			t.Fatalf("%q parses to %+v, which reads %q", v, r, r)
		}
		if again, err := Parse(r.String()); err != nil || again != r {
			t.Fatalf("%q: round trip %+v, %v", v, again, err)
		}
	})
}
