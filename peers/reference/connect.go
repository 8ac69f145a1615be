package reference

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/attested-tls/conformance/peers/contract"
)

// connect accepts the one connection (server) or dials it (client),
// within ctx. A client retries refused dials until ctx ends: in a
// process run the server may still be starting.
func connect(ctx context.Context, cfg contract.Config, ln net.Listener, lg *logger) (net.Conn, error) {
	if cfg.Role == contract.Server {
		if ln == nil {
			var err error
			if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen); err != nil {
				return nil, err
			}
			defer ln.Close()
		}
		lg.printf("listening on %s", ln.Addr())
		stop := context.AfterFunc(ctx, func() { ln.Close() })
		defer stop()
		for {
			c, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("no client connected: %w", ctx.Err())
				}
				return nil, err
			}
			// A connection closed before its first byte is someone
			// checking the port, not the client: keep listening.
			if d, ok := ctx.Deadline(); ok {
				c.SetReadDeadline(d)
			}
			first := make([]byte, 1)
			if n, err := c.Read(first); n == 0 {
				c.Close()
				if ctx.Err() != nil {
					return nil, fmt.Errorf("no client connected: %w", ctx.Err())
				}
				lg.printf("ignored a connection from %s closed before its first byte (%v)", c.RemoteAddr(), err)
				continue
			}
			lg.printf("accepted %s", c.RemoteAddr())
			return &prefixed{Conn: c, first: first}, nil
		}
	}
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Connect)
		if err == nil {
			lg.printf("connected to %s", c.RemoteAddr())
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to %s: %w (last: %v)", cfg.Connect, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Prefixed is c whose first bytes, already read (to tell a client from a
// port check, or to find a ClientHello's server name), Read returns first.
func Prefixed(c net.Conn, first []byte) net.Conn { return &prefixed{Conn: c, first: first} }

// prefixed is a connection whose first bytes were read; Read returns
// them first.
type prefixed struct {
	net.Conn
	first []byte
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.first) > 0 {
		n := copy(b, p.first)
		p.first = p.first[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
