package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/reference"
)

func env(kv ...string) func(string) string { return contract.Getenv(kv) }

func TestPeerProbe(t *testing.T) {
	var out, errOut bytes.Buffer
	code := peerMain(context.Background(), env("ATLS_CONTRACT=1", "ATLS_TESTCASE="+contract.ProbeCase()), &out, &errOut)
	if code != contract.ExitUnsupported {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	o, err := contract.ParseOutcome(out.Bytes())
	if err != nil || o.Handshake != contract.HandshakeNone {
		t.Fatalf("%v %+v", err, o)
	}
}

func TestPeerBadConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	code := peerMain(context.Background(), env("ATLS_CONTRACT=1", "ATLS_TESTCASE=ta-07/x", "ATLS_ROLE=proxy"), &out, &errOut)
	if code != contract.ExitConfig || !strings.Contains(errOut.String(), "ATLS_ROLE") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if o, err := contract.ParseOutcome(out.Bytes()); err != nil || !strings.Contains(o.Error, "ATLS_ROLE") {
		t.Fatalf("%v %+v", err, o)
	}
}

func TestPeerFaults(t *testing.T) {
	base := []string{"ATLS_CONTRACT=1", "ATLS_TESTCASE=ta-07/server-attests/bg+x509", "ATLS_ROLE=client", "ATLS_PROFILE=ta-07",
		"ATLS_SERVER_ATTESTS=bg", "ATLS_SERVER_CREDENTIAL=x509", "ATLS_CLIENT_ATTESTS=none", "ATLS_CONNECT=127.0.0.1:1",
		"ATLS_SERVER_NAME=s", "ATLS_CA_CERT=ca.pem", "ATLS_VERIFIER=local"}
	for fault, want := range map[string]int{reference.FaultCrash: 134, reference.FaultGarbage: 0, "bogus": contract.ExitConfig} {
		var out, errOut bytes.Buffer
		code := peerMain(context.Background(), env(append(base, reference.EnvFault+"="+fault)...), &out, &errOut)
		if code != want {
			t.Errorf("%s: exit %d, want %d", fault, code, want)
		}
		if _, err := contract.ParseOutcome(out.Bytes()); err == nil {
			t.Errorf("%s: printed a valid outcome", fault)
		}
	}
	if code := peerCmd([]string{"extra"}, &bytes.Buffer{}, &bytes.Buffer{}); code != contract.ExitConfig {
		t.Errorf("an argument: exit %d", code)
	}
}
