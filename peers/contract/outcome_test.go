package contract

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func sample() Outcome {
	s := "bg: media_type=application/vnd.parallaxsecond.key-attestation.tpm"
	return Outcome{Contract: 1, TestCase: "ta-07/server-attests/bg+x509", Role: Client, Profile: "ta-07",
		Handshake: HandshakeOK, AppData: AppDataOK,
		Negotiated: &Negotiated{CipherSuite: "TLS_AES_128_GCM_SHA256", ServerAttestation: &s},
		Verdict:    &Verdict{Status: "affirming"}}
}

func TestOutcomeRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("peer: listening\nsome log line {not json}\n")
	o := sample()
	if err := o.Print(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ParseOutcome(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Fatalf("got %+v", got)
	}
}

// The contract's own example parses, and unknown fields are ignored.
func TestOutcomeContractExample(t *testing.T) {
	line := `{"contract":1,"testcase":"ta-07/server-attests/bg+x509","role":"client","profile":"ta-07",
 "handshake":"failed","app_data":"none",
 "alert_sent":{"code":42,"name":"bad_certificate"},"alert_received":null,
 "negotiated":{"cipher_suite":"TLS_AES_128_GCM_SHA256","server_attestation":"bg: x","client_attestation":null},
 "verdict":{"status":"contraindicated","reason":"nonce.mismatch"},
 "error":"", "vendor_extra": {"x": [1,2]}}`
	o, err := ParseOutcome([]byte(strings.ReplaceAll(line, "\n", "")))
	if err != nil {
		t.Fatal(err)
	}
	if o.AlertSent == nil || o.AlertSent.Code != 42 || o.AlertReceived != nil || o.Verdict.Reason != "nonce.mismatch" ||
		o.Negotiated.ClientAttestation != nil {
		t.Fatalf("%+v", o)
	}
}

func TestParseOutcomeRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"\n\n",
		"hello world",
		`{"contract":1}`,
		`{"contract":2,"role":"client","handshake":"ok","app_data":"ok"}`,
		`{"contract":1,"role":"proxy","handshake":"ok","app_data":"ok"}`,
		`{"contract":1,"role":"client","handshake":"maybe","app_data":"ok"}`,
		`{"contract":1,"role":"client","handshake":"failed","app_data":"ok"}`,
		`{"contract":1,"role":"client","handshake":"ok","app_data":"none","verdict":{"status":"fine"}}`,
		`{"contract":1,"role":"client","handshake":"ok","app_data":"none","alert_sent":{"code":300}}`,
		`{"contract":1,"role":"client","handshake":"ok","app_data":"none"} {}`,
		`{"contract":1,"role":"client","handshake":"ok","app_data":"none"` + "\n",
		// The outcome must be the last line: a valid one followed by noise is not accepted.
		`{"contract":1,"role":"client","handshake":"ok","app_data":"none"}` + "\ngoodbye\n",
	} {
		if o, err := ParseOutcome([]byte(in)); err == nil {
			t.Errorf("%q parsed as %+v", in, o)
		}
	}
}

func TestParseOutcomeBoundsLine(t *testing.T) {
	big := `{"contract":1,"role":"client","handshake":"ok","app_data":"none","error":"` + strings.Repeat("x", MaxOutcomeLine) + `"}`
	if _, err := ParseOutcome([]byte(big)); err == nil {
		t.Fatal("oversized line accepted")
	}
}
