package tls13

import (
	"crypto"
	"crypto/hmac"
	"hash"
)

// transcriptHash accumulates handshake messages. Before the cipher suite is
// known it buffers them (the hash is chosen by ServerHello).
type transcriptHash struct {
	buf []byte
	h   hash.Hash
}

func (t *transcriptHash) write(msg []byte) {
	if t.h == nil {
		t.buf = append(t.buf, msg...)
		return
	}
	t.h.Write(msg)
}

func (t *transcriptHash) setHash(h crypto.Hash) {
	t.h = h.New()
	t.h.Write(t.buf)
	t.buf = nil
}

func (t *transcriptHash) sum() []byte { return t.h.Sum(nil) }

// restartAfterHelloRetry replaces ClientHello1 by message_hash (RFC 8446 §4.4.1).
func (t *transcriptHash) restartAfterHelloRetry(h crypto.Hash, clientHello1 []byte) {
	ch := h.New()
	ch.Write(clientHello1)
	sum := ch.Sum(nil)
	t.h = h.New()
	t.h.Write([]byte{typeMessageHash, 0, 0, byte(len(sum))})
	t.h.Write(sum)
	t.buf = nil
}

func (t *transcriptHash) clone() *transcriptHash {
	if c, ok := t.h.(hash.Cloner); ok {
		if h2, err := c.Clone(); err == nil {
			return &transcriptHash{h: h2.(hash.Hash)}
		}
	}
	panic("tls13: transcript hash cannot be cloned")
}

// keySchedule holds the RFC 8446 §7.1 secrets of one connection.
type keySchedule struct {
	hash      crypto.Hash
	early     []byte
	handshake []byte
	master    []byte
	trace     func(name string, v []byte)
}

func newKeySchedule(h crypto.Hash, trace func(string, []byte)) *keySchedule {
	ks := &keySchedule{hash: h, trace: trace}
	ks.early = Extract(h, nil, nil) // no PSK: Extract(0, 0)
	trace("early_secret", ks.early)
	return ks
}

func (ks *keySchedule) emptyHash() []byte { return ks.hash.New().Sum(nil) }

func (ks *keySchedule) setHandshake(shared []byte) {
	derived := DeriveSecret(ks.hash, ks.early, "derived", ks.emptyHash())
	ks.handshake = Extract(ks.hash, shared, derived)
	ks.trace("handshake_secret", ks.handshake)
	derived = DeriveSecret(ks.hash, ks.handshake, "derived", ks.emptyHash())
	ks.master = Extract(ks.hash, nil, derived)
	ks.trace("master_secret", ks.master)
}

func (ks *keySchedule) derive(base []byte, label, name string, transcript []byte) []byte {
	s := DeriveSecret(ks.hash, base, label, transcript)
	ks.trace(name, s)
	return s
}

func (ks *keySchedule) earlyExporter(chHash []byte) []byte {
	return ks.derive(ks.early, "e exp master", "early_exporter_master_secret", chHash)
}

func (ks *keySchedule) handshakeTraffic(helloHash []byte) (client, server []byte) {
	return ks.derive(ks.handshake, "c hs traffic", "client_handshake_traffic_secret", helloHash),
		ks.derive(ks.handshake, "s hs traffic", "server_handshake_traffic_secret", helloHash)
}

func (ks *keySchedule) applicationTraffic(serverFinishedHash []byte) (client, server, exporter []byte) {
	return ks.derive(ks.master, "c ap traffic", "client_application_traffic_secret_0", serverFinishedHash),
		ks.derive(ks.master, "s ap traffic", "server_application_traffic_secret_0", serverFinishedHash),
		ks.derive(ks.master, "exp master", "exporter_master_secret", serverFinishedHash)
}

func (ks *keySchedule) resumption(clientFinishedHash []byte) []byte {
	return ks.derive(ks.master, "res master", "resumption_master_secret", clientFinishedHash)
}

func finishedVerifyData(h crypto.Hash, baseKey, transcript []byte) []byte {
	key := ExpandLabel(h, baseKey, "finished", nil, h.Size())
	mac := hmac.New(h.New, key)
	mac.Write(transcript)
	return mac.Sum(nil)
}

// exportKeyingMaterial is the RFC 8446 §7.5 exporter over secret.
func exportKeyingMaterial(h crypto.Hash, secret []byte, label string, context []byte, length int) []byte {
	s := DeriveSecret(h, secret, label, h.New().Sum(nil))
	ch := h.New()
	ch.Write(context)
	return ExpandLabel(h, s, "exporter", ch.Sum(nil), length)
}

func nextTrafficSecret(h crypto.Hash, secret []byte) []byte {
	return ExpandLabel(h, secret, "traffic upd", nil, h.Size())
}
