package devtools

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// A minimal RFC 6455 client: enough to talk to a local DevTools endpoint
// (text messages, fragmentation, ping/pong, close), nothing more.

// maxMessage bounds a reassembled message; screenshots are the largest.
const maxMessage = 64 << 20

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

type wsConn struct {
	c  net.Conn
	r  *bufio.Reader
	wm sync.Mutex // one writer at a time: frames must not interleave
}

// dialWebSocket opens ws://host/path on conn c (already connected).
func dialWebSocket(c net.Conn, u *url.URL) (*wsConn, error) {
	var keyBytes [16]byte
	if _, err := rand.Read(keyBytes[:]); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return nil, fmt.Errorf("devtools: websocket handshake: %w", err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, fmt.Errorf("devtools: websocket handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("devtools: websocket handshake: status %s", resp.Status)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("devtools: websocket handshake: bad Sec-WebSocket-Accept")
	}
	return &wsConn{c: c, r: r}, nil
}

// writeFrame writes one final, masked frame (clients must mask).
func writeFrame(w io.Writer, op byte, payload []byte) error {
	hdr := make([]byte, 0, 14)
	hdr = append(hdr, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	if _, err := rand.Read(mask[:]); err != nil {
		return err
	}
	hdr = append(hdr, mask[:]...)
	buf := make([]byte, len(hdr)+len(payload))
	copy(buf, hdr)
	for i, b := range payload {
		buf[len(hdr)+i] = b ^ mask[i%4]
	}
	_, err := w.Write(buf)
	return err
}

func (ws *wsConn) send(op byte, payload []byte) error {
	ws.wm.Lock()
	defer ws.wm.Unlock()
	return writeFrame(ws.c, op, payload)
}

// errClosed reports a close frame from the server.
var errClosed = errors.New("devtools: websocket closed by peer")

// readMessage reads one complete data message, answering pings on the
// way (reply may be nil, e.g. in tests).
func readMessage(r *bufio.Reader, reply func(op byte, payload []byte) error) ([]byte, error) {
	var msg []byte
	started := false
	for {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		if h[0]&0x70 != 0 {
			return nil, errors.New("devtools: websocket: reserved bits set")
		}
		masked := h[1]&0x80 != 0
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if op >= opClose && (n > 125 || !fin) {
			return nil, errors.New("devtools: websocket: bad control frame")
		}
		if n > maxMessage || uint64(len(msg))+n > maxMessage {
			return nil, fmt.Errorf("devtools: websocket: message larger than %d bytes", maxMessage)
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(r, mask[:]); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, err
		}
		if masked {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch op {
		case opClose:
			return nil, errClosed
		case opPing:
			if reply != nil {
				if err := reply(opPong, payload); err != nil {
					return nil, err
				}
			}
			continue
		case opPong:
			continue
		case opText, opBinary:
			if started {
				return nil, errors.New("devtools: websocket: new message inside a fragmented one")
			}
			started = true
		case opContinuation:
			if !started {
				return nil, errors.New("devtools: websocket: continuation without a message")
			}
		default:
			return nil, fmt.Errorf("devtools: websocket: unknown opcode %d", op)
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}

func (ws *wsConn) read() ([]byte, error) { return readMessage(ws.r, ws.send) }

func (ws *wsConn) close() error {
	_ = ws.send(opClose, []byte{0x03, 0xe8}) // 1000: normal closure
	return ws.c.Close()
}

// wsURL checks the DevTools endpoint is a local ws:// URL.
func wsURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("devtools: endpoint %q: %w", s, err)
	}
	if u.Scheme != "ws" || u.Host == "" {
		return nil, fmt.Errorf("devtools: endpoint %q is not ws://host/path", s)
	}
	return u, nil
}
