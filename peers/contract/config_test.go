package contract

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// serverEnv is a complete, valid server configuration.
func serverEnv() map[string]string {
	return map[string]string{
		EnvContract: "1", EnvTestCase: "ta-07/server-attests/bg+x509", EnvRole: "server", EnvProfile: "ta-07",
		EnvServerAttests: "bg", EnvClientAttests: "none", EnvServerCredential: "x509",
		EnvListen: "0.0.0.0:4433", EnvServerName: "server.attested.test",
		EnvCACert: "/atls/in/ca.pem", EnvCAKey: "/atls/in/ca-key.pem", EnvTPM: "software",
		EnvEndorsementsOut: "/atls/out/endorsements.json", EnvOut: "/atls/out", EnvKeyLog: "/atls/out/keylog.txt",
		EnvTimeout: "12.5",
	}
}

func lookup(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvServer(t *testing.T) {
	c, err := FromEnv(lookup(serverEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != Server || c.ServerAttests != AttestsBG || c.ServerCredential != X509 || c.Timeout != 12500*time.Millisecond {
		t.Fatalf("parsed %+v", c)
	}
	if c.ModelID() != "ta-07/server-attests/bg+x509" {
		t.Fatalf("ModelID %q", c.ModelID())
	}
	back, err := FromEnv(Getenv(c.Env()))
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, back, c)
	}
}

func TestFromEnvDefaultsTimeout(t *testing.T) {
	env := serverEnv()
	delete(env, EnvTimeout)
	c, err := FromEnv(lookup(env))
	if err != nil || c.Timeout != DefaultTimeout {
		t.Fatalf("%v %v", c.Timeout, err)
	}
}

func TestFromEnvErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		name string
	}{
		{map[string]string{EnvRole: "both"}, EnvRole},
		{map[string]string{EnvTestCase: ""}, EnvTestCase},
		{map[string]string{EnvProfile: "TA 07"}, EnvProfile},
		{map[string]string{EnvServerAttests: "yes"}, EnvServerAttests},
		{map[string]string{EnvServerCredential: ""}, EnvServerCredential},
		{map[string]string{EnvClientCredential: "x509"}, EnvClientCredential},
		{map[string]string{EnvListen: "4433"}, EnvListen},
		{map[string]string{EnvListen: "host:99999"}, EnvListen},
		{map[string]string{EnvConnect: "a:1"}, EnvConnect},
		{map[string]string{EnvServerName: ""}, EnvServerName},
		{map[string]string{EnvCACert: ""}, EnvCACert},
		{map[string]string{EnvCAKey: ""}, EnvCAKey},
		{map[string]string{EnvTPM: ""}, EnvTPM},
		{map[string]string{EnvTPM: "swtpm:nohost"}, EnvTPM},
		{map[string]string{EnvVerifier: "remote"}, EnvVerifier},
		{map[string]string{EnvCodepoints: "ta-07.nope=1"}, EnvCodepoints},
		{map[string]string{EnvMisbehave: "a,b"}, EnvMisbehave},
		{map[string]string{EnvTimeout: "0"}, EnvTimeout},
		{map[string]string{EnvTimeout: "1e3"}, EnvTimeout},
		{map[string]string{EnvTimeout: "5s5"}, EnvTimeout},
	} {
		env := serverEnv()
		for k, v := range tc.set {
			env[k] = v
		}
		_, err := FromEnv(lookup(env))
		var ve *VarError
		if !errors.As(err, &ve) || ve.Name != tc.name || !strings.HasPrefix(err.Error(), tc.name+": ") {
			t.Errorf("%v: got %v, want an error naming %s", tc.set, err, tc.name)
		}
		if ExitFor(err) != ExitConfig {
			t.Errorf("%v: exit %d", tc.set, ExitFor(err))
		}
	}
}

func TestClientNeedsVerifierWhenAppraising(t *testing.T) {
	env := map[string]string{EnvContract: "1", EnvTestCase: "ta-07/server-attests/bg+x509", EnvRole: "client",
		EnvProfile: "ta-07", EnvServerAttests: "bg", EnvServerCredential: "x509", EnvClientAttests: "none",
		EnvConnect: "server:4433", EnvServerName: "server.attested.test", EnvCACert: "ca.pem"}
	_, err := FromEnv(lookup(env))
	var ve *VarError
	if !errors.As(err, &ve) || ve.Name != EnvVerifier {
		t.Fatalf("got %v", err)
	}
	env[EnvVerifier] = "local"
	c, err := FromEnv(lookup(env))
	if err != nil {
		t.Fatal(err)
	}
	// A client that certifies nothing needs no CA key.
	if c.CAKey != "" || c.PeerAttests() != AttestsBG || c.SelfAttests() != AttestsNone {
		t.Fatalf("%+v", c)
	}
}

func TestScreen(t *testing.T) {
	env := serverEnv()
	env[EnvTestCase] = ProbeCase()
	if _, err := FromEnv(lookup(env)); !errors.Is(err, ErrUnsupported) || ExitFor(err) != ExitUnsupported {
		t.Fatalf("probe: %v", err)
	}
	// The probe needs nothing else to be set.
	if err := Screen(lookup(map[string]string{EnvContract: "1", EnvTestCase: ProbeCase()})); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("bare probe: %v", err)
	}
	env = serverEnv()
	env[EnvContract] = "2"
	if _, err := FromEnv(lookup(env)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("contract 2: %v", err)
	}
	if a, b := ProbeCase(), ProbeCase(); a == b || !IsProbe(a) {
		t.Fatalf("probe IDs %q %q", a, b)
	}
}

func TestMapPaths(t *testing.T) {
	c, _ := FromEnv(lookup(serverEnv()))
	m := c.MapPaths(func(p string) string { return "/host" + p })
	if m.CACert != "/host/atls/in/ca.pem" || m.Out != "/host/atls/out" || m.KeyLog != "/host/atls/out/keylog.txt" ||
		m.Endorsements != "" || c.CACert != "/atls/in/ca.pem" {
		t.Fatalf("%+v", m)
	}
}

func TestModelIDs(t *testing.T) {
	c := Config{Profile: "ea-07", ServerAttests: AttestsPassport, ServerCredential: X509,
		ClientAttests: AttestsBG, ClientCredential: AttestationOnly}
	if got := c.ModelID(); got != "ea-07/mutual/server=passport+x509,client=bg+attestation-only" {
		t.Fatal(got)
	}
	c.ServerAttests, c.ServerCredential = AttestsNone, ""
	if got := c.ModelID(); got != "ea-07/client-attests/bg+attestation-only" {
		t.Fatal(got)
	}
}

func TestFormatSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Second: "30", 1500 * time.Millisecond: "1.5", time.Nanosecond: "0.000000001"} {
		if got := formatSeconds(d); got != want {
			t.Errorf("%v: %q want %q", d, got, want)
		}
	}
}
