package driver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Readiness without connecting: a peer runs exactly one connection, so a
// readiness probe that connects would be taken for the client. Instead
// the driver reads the socket table of the peer's network namespace,
// /proc/<pid>/net/tcp{,6} (the host's view of a container's init too),
// and waits for a socket listening on the port.

// tcpListen is the "st" value of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// listening reports whether process pid's network namespace has a TCP
// socket listening on port; known is false when /proc cannot tell (not
// Linux, or the engine is on another machine).
func listening(pid, port int) (listening, known bool) {
	seen := false
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		seen = true
		if listensOn(b, port) {
			return true, true
		}
	}
	return false, seen
}

// listensOn parses a /proc/net/tcp table for a listening socket on port.
func listensOn(table []byte, port int) bool {
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != tcpListen {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			return true
		}
	}
	return false
}

// dialable is the fallback readiness check: a connection that the peer
// must tolerate (the contract asks servers to ignore one closed before
// its first byte).
func dialable(ctx context.Context, addr string) bool {
	c, err := (&net.Dialer{Timeout: 200 * time.Millisecond}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
