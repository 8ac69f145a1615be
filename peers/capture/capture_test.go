package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/suite/harness"
)

// tee records what the engine reports and forwards it to the capture.
type tee struct {
	mu   sync.Mutex
	recs [][]byte
	sent []bool
	next tls13.Trace
}

func (t *tee) Record(sent bool, raw []byte) {
	t.mu.Lock()
	t.recs, t.sent = append(t.recs, bytes.Clone(raw)), append(t.sent, sent)
	t.mu.Unlock()
	t.next.Record(sent, raw)
}
func (t *tee) Message(bool, []byte)  {}
func (t *tee) Secret(string, []byte) {}

type packet struct {
	src, dst     string
	seq, ack     uint32
	flags        byte
	payload      []byte
	ipOK, tcpOK  bool
	capturedSize int
}

// readPcap parses what Writer writes: LINKTYPE_RAW IPv4 + TCP.
func readPcap(t *testing.T, b []byte) []packet {
	t.Helper()
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != LinkTypeRaw {
		t.Fatalf("bad pcap header % x", b[:min(24, len(b))])
	}
	var out []packet
	for b = b[24:]; len(b) > 0; {
		n := int(binary.LittleEndian.Uint32(b[8:]))
		pkt := b[16 : 16+n]
		b = b[16+n:]
		ip, tcp := pkt[:20], pkt[20:]
		pseudo := append(append([]byte{}, ip[12:20]...), 0, 6, byte(len(tcp)>>8), byte(len(tcp)))
		out = append(out, packet{
			src:   fmt.Sprintf("%v:%d", net.IP(ip[12:16]), binary.BigEndian.Uint16(tcp[0:])),
			dst:   fmt.Sprintf("%v:%d", net.IP(ip[16:20]), binary.BigEndian.Uint16(tcp[2:])),
			seq:   binary.BigEndian.Uint32(tcp[4:]),
			ack:   binary.BigEndian.Uint32(tcp[8:]),
			flags: tcp[13], payload: tcp[20:],
			ipOK: checksum(0, ip) == 0, tcpOK: checksum(checksum32(0, pseudo), tcp) == 0,
			capturedSize: n,
		})
	}
	return out
}

// captured runs a ta-07 attested handshake with the client's records
// captured, and returns the pcap, the key log and what the engine saw.
func captured(t *testing.T) (pcap, keylog []byte, rec *tee) {
	f, err := harness.NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}}
	cli, srv := f.Parties(m)
	cc, sc, err := f.Configs(m, cli, srv)
	if err != nil {
		t.Fatal(err)
	}
	var pcapBuf, keys bytes.Buffer
	w, err := New(&pcapBuf, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 40000}, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4433}, true)
	if err != nil {
		t.Fatal(err)
	}
	rec = &tee{next: w}
	cc.Trace, cc.KeyLogWriter = rec, &keys
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := harness.Run(ctx, cc, sc)
	if err != nil || r.ClientErr != nil || r.ServerErr != nil {
		t.Fatalf("%v %v", err, r.Describe())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return pcapBuf.Bytes(), keys.Bytes(), rec
}

func TestCaptureFraming(t *testing.T) {
	pcap, _, rec := captured(t)
	pkts := readPcap(t, pcap)
	if len(pkts) != 3+len(rec.recs)+2 {
		t.Fatalf("%d packets for %d records", len(pkts), len(rec.recs))
	}
	if pkts[0].flags != flagSYN || pkts[1].flags != flagSYN|flagACK || pkts[2].flags != flagACK ||
		pkts[len(pkts)-1].flags != flagFIN|flagACK {
		t.Fatalf("flags %x %x %x … %x", pkts[0].flags, pkts[1].flags, pkts[2].flags, pkts[len(pkts)-1].flags)
	}
	// Each end's stream is contiguous and acknowledged by the other.
	next := map[string]uint32{pkts[0].src: pkts[0].seq + 1, pkts[1].src: pkts[1].seq + 1}
	for i, p := range pkts {
		if !p.ipOK || !p.tcpOK {
			t.Fatalf("packet %d: bad checksum", i)
		}
		if i < 3 {
			continue
		}
		if p.seq != next[p.src] || p.ack != next[p.dst] {
			t.Fatalf("packet %d: seq %d ack %d, want %d %d", i, p.seq, p.ack, next[p.src], next[p.dst])
		}
		if i-3 < len(rec.recs) {
			wantSrc := "10.0.0.2:40000"
			if !rec.sent[i-3] {
				wantSrc = "10.0.0.1:4433"
			}
			if p.src != wantSrc || !bytes.Equal(p.payload, rec.recs[i-3]) {
				t.Fatalf("packet %d from %s does not carry record %d", i, p.src, i-3)
			}
		}
		next[p.src] += uint32(len(p.payload))
		if p.flags&flagFIN != 0 {
			next[p.src]++ // a FIN takes a sequence number
		}
	}
}

func TestCaptureIPv6(t *testing.T) {
	var buf bytes.Buffer
	w, err := New(&buf, &net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	w.Record(true, []byte{22, 3, 3, 0, 1, 0})
	w.Close()
	// header, 3 handshake segments, one record, 2 FINs: 40+20 bytes each plus 16 of pcap framing.
	if want := 24 + 6*(16+60) + 6; buf.Len() != want {
		t.Fatalf("%d bytes, want %d", buf.Len(), want)
	}
	if _, err := New(&buf, &net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, &net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 2}, true); err == nil {
		t.Fatal("mixed families accepted")
	}
}

// Tshark decrypts the capture with the key log and shows the ta-07
// attestation extension in the (encrypted) server Certificate.
func TestTsharkDecrypts(t *testing.T) {
	tshark := needs.Tool(t, "tshark")
	pcap, keylog, _ := captured(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "c.pcap"), pcap, 0o644)
	os.WriteFile(filepath.Join(dir, "keys.txt"), keylog, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tshark, "-n", "-r", filepath.Join(dir, "c.pcap"),
		"-o", "tls.keylog_file:"+filepath.Join(dir, "keys.txt"), "-d", "tcp.port==4433,tls",
		"-Y", "tls.handshake.type == 11", "-T", "fields", "-e", "tls.handshake.extension.type").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	want := fmt.Sprint(codepoint.Default().TA07AttestationEvidence)
	if !strings.Contains(string(out), want) {
		t.Fatalf("decrypted Certificate shows no extension %s:\n%s", want, out)
	}
}
