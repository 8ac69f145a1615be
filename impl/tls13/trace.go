package tls13

import (
	"fmt"
	"io"
)

// Trace observes a connection: every handshake message and record in
// both directions and every secret of the key schedule. Test vectors and
// debugging hang off it. Calls come from the connection's goroutines in
// wire order; implementations must not retain the slices past the call.
type Trace interface {
	// Message is a complete handshake message (with its 4-byte header).
	Message(sent bool, raw []byte)
	// Record is a whole record as it is on the wire (header included).
	Record(sent bool, raw []byte)
	// Secret is a secret or key named as in RFC 8446 (for example
	// "handshake_secret", "client_handshake_traffic_secret",
	// "server_application_write_key").
	Secret(name string, value []byte)
}

// ApplicationDataTrace is a Trace that also sees the plaintext of each
// application data record sent or read: a judge of what a protocol above
// TLS put on the wire (exported authenticators in frames) needs it, and
// a record's ciphertext does not show it.
type ApplicationDataTrace interface {
	ApplicationData(sent bool, data []byte)
}

// traceAppData reports application data to the Trace, if it wants it.
func (c *Conn) traceAppData(sent bool, data []byte) {
	if t, ok := c.config.Trace.(ApplicationDataTrace); ok && len(data) > 0 {
		t.ApplicationData(sent, data)
	}
}

// NSS key log labels (the SSLKEYLOGFILE format Wireshark reads).
var keyLogLabels = map[string]string{
	"client_handshake_traffic_secret":     "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
	"server_handshake_traffic_secret":     "SERVER_HANDSHAKE_TRAFFIC_SECRET",
	"client_application_traffic_secret_0": "CLIENT_TRAFFIC_SECRET_0",
	"server_application_traffic_secret_0": "SERVER_TRAFFIC_SECRET_0",
	"exporter_master_secret":              "EXPORTER_SECRET",
	"early_exporter_master_secret":        "EARLY_EXPORTER_SECRET",
}

// secret reports a secret to the Trace and, when it is one Wireshark
// needs, to the key log.
func (c *Conn) secret(name string, value []byte) {
	if c.config.Trace != nil {
		c.config.Trace.Secret(name, value)
	}
	if w := c.config.KeyLogWriter; w != nil && c.clientRandom != nil {
		if label, ok := keyLogLabels[name]; ok {
			writeKeyLog(w, label, c.clientRandom, value)
		}
	}
}

func writeKeyLog(w io.Writer, label string, clientRandom, secret []byte) {
	// One Write per line so concurrent connections sharing a writer do not interleave.
	fmt.Fprintf(w, "%s %x %x\n", label, clientRandom, secret)
}
