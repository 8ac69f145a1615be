package tls13

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// The key log carries, per connection, the five NSS labels Wireshark needs,
// keyed by the client random, with the secrets the key schedule derived.
func TestKeyLogMatchesTrace(t *testing.T) {
	p := getPKI(t)
	var log bytes.Buffer
	rec := newRecorder()
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.KeyLogWriter, cc.Trace = &log, rec
	cli, _, cerr, serr := runPair(t, cc, sc)
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	random := hex.EncodeToString(cli.clientRandom)
	want := map[string]string{
		"CLIENT_HANDSHAKE_TRAFFIC_SECRET": "client_handshake_traffic_secret",
		"SERVER_HANDSHAKE_TRAFFIC_SECRET": "server_handshake_traffic_secret",
		"CLIENT_TRAFFIC_SECRET_0":         "client_application_traffic_secret_0",
		"SERVER_TRAFFIC_SECRET_0":         "server_application_traffic_secret_0",
		"EXPORTER_SECRET":                 "exporter_master_secret",
		"EARLY_EXPORTER_SECRET":           "early_exporter_master_secret",
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d key log lines, want %d:\n%s", len(lines), len(want), log.String())
	}
	for _, line := range lines {
		var label, cr, secret string
		if _, err := fmt.Sscanf(line, "%s %s %s", &label, &cr, &secret); err != nil {
			t.Fatalf("bad line %q", line)
		}
		name, ok := want[label]
		if !ok || cr != random || secret != hex.EncodeToString(rec.secrets[name]) {
			t.Fatalf("line %q does not match the traced %s", line, name)
		}
	}
}
