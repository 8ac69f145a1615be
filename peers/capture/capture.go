// Package capture writes a packet capture of one TLS connection from the
// engine's view of it: every record the tls13.Trace reports becomes one
// TCP segment in a pcap file, with synthetic IP and TCP headers (a
// three-way handshake first, sequence and acknowledgement numbers that
// add up, a FIN each way at Close), so Wireshark and tshark dissect and,
// with the connection's key log, decrypt it. It needs no privileges and
// no access to the network the peers share, which a capture on a Docker
// bridge would; what it cannot show is what the kernel did (retransmits,
// segmentation), which no attested-TLS check looks at.
package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/attested-tls/conformance/impl/tls13"
)

// LinkTypeRaw is the pcap link type of bare IPv4/IPv6 packets.
const LinkTypeRaw = 101

const snapLen = 262144

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagPSH = 0x08
	flagACK = 0x10
)

// Writer is a tls13.Trace that writes the records of one connection as a
// pcap stream. It is safe for concurrent use.
type Writer struct {
	mu       sync.Mutex
	w        io.Writer
	ends     [2]netip.AddrPort // client, server
	next     [2]uint32         // next sequence number each end sends
	ipID     uint16
	isClient bool
	closed   bool
	err      error
	now      func() time.Time
}

var _ tls13.Trace = (*Writer)(nil)

// New starts a capture of the connection between local and remote, as
// seen by the client (isClient) or the server: it writes the pcap header
// and the TCP handshake.
func New(w io.Writer, local, remote net.Addr, isClient bool) (*Writer, error) {
	l, err := addrPort(local)
	if err != nil {
		return nil, err
	}
	r, err := addrPort(remote)
	if err != nil {
		return nil, err
	}
	c := &Writer{w: w, isClient: isClient, now: time.Now, next: [2]uint32{1000, 5000}}
	c.ends = [2]netip.AddrPort{l, r}
	if !isClient {
		c.ends = [2]netip.AddrPort{r, l}
	}
	if c.ends[0].Addr().Is4() != c.ends[1].Addr().Is4() {
		return nil, errors.New("capture: one end IPv4, the other IPv6")
	}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], snapLen)
	binary.LittleEndian.PutUint32(hdr[20:], LinkTypeRaw)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	c.segment(0, flagSYN, nil)
	c.next[0]++
	c.segment(1, flagSYN|flagACK, nil)
	c.next[1]++
	c.segment(0, flagACK, nil)
	return c, c.err
}

func addrPort(a net.Addr) (netip.AddrPort, error) {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a == nil {
		return netip.AddrPort{}, errors.New("capture: no address")
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("capture: address %q: %w", a, err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Record writes one record as a TCP segment from whichever end sent it.
func (c *Writer) Record(sent bool, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(raw) == 0 {
		return
	}
	from := 0 // the client
	if sent != c.isClient {
		from = 1
	}
	c.segment(from, flagPSH|flagACK, raw)
	c.next[from] += uint32(len(raw))
}

func (c *Writer) Message(bool, []byte)  {}
func (c *Writer) Secret(string, []byte) {}

// Close ends the capture with a FIN from each end; it does not close the
// underlying writer. It returns the first write error.
func (c *Writer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		for from := range 2 {
			c.segment(from, flagFIN|flagACK, nil)
			c.next[from]++
		}
	}
	return c.err
}

// segment writes one packet from ends[from] to the other end.
func (c *Writer) segment(from int, flags byte, payload []byte) {
	if c.err != nil {
		return
	}
	src, dst := c.ends[from], c.ends[1-from]
	tcp := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], c.next[from])
	if flags&flagACK != 0 {
		binary.BigEndian.PutUint32(tcp[8:], c.next[1-from])
	}
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], payload)

	var pkt []byte
	if src.Addr().Is4() {
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
		c.ipID++
		binary.BigEndian.PutUint16(ip[4:], c.ipID)
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // don't fragment
		ip[8], ip[9] = 64, 6
		s, d := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], checksum(0, ip))
		pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 6, byte(len(tcp)>>8), byte(len(tcp)))
		binary.BigEndian.PutUint16(tcp[16:], checksum(checksum32(0, pseudo), tcp))
		pkt = append(ip, tcp...)
	} else {
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)))
		ip[6], ip[7] = 6, 64
		s, d := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		pseudo := append(append(append([]byte{}, s[:]...), d[:]...),
			byte(len(tcp)>>24), byte(len(tcp)>>16), byte(len(tcp)>>8), byte(len(tcp)), 0, 0, 0, 6)
		binary.BigEndian.PutUint16(tcp[16:], checksum(checksum32(0, pseudo), tcp))
		pkt = append(ip, tcp...)
	}
	now := c.now()
	rec := make([]byte, 16, 16+len(pkt))
	binary.LittleEndian.PutUint32(rec[0:], uint32(now.Unix()))
	binary.LittleEndian.PutUint32(rec[4:], uint32(now.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
	_, c.err = c.w.Write(append(rec, pkt...))
}

// checksum32 adds b as big-endian 16-bit words to sum.
func checksum32(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

// checksum is the Internet checksum of b, continuing from a partial sum.
func checksum(sum uint32, b []byte) uint16 {
	sum = checksum32(sum, b)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
