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
	inodes, known := listenInodes(pid, port)
	return len(inodes) > 0, known
}

// listeningOwned is listening, counting only a socket that pid or one of
// its descendants holds: in the host's namespace (process peers) the
// table is every process's, and a port picked as free may be taken by
// another before the peer binds it.
func listeningOwned(pid, port int) (listening, known bool) {
	inodes, known := listenInodes(pid, port)
	if len(inodes) == 0 {
		return false, known
	}
	for _, p := range append([]int{pid}, descendants(pid)...) {
		dir := fmt.Sprintf("/proc/%d/fd", p)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			link, err := os.Readlink(dir + "/" + e.Name())
			if err == nil && inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				return true, true
			}
		}
	}
	return false, true
}

// listenInodes are the inodes of the sockets listening on port in pid's
// network namespace.
func listenInodes(pid, port int) (inodes map[string]bool, known bool) {
	inodes = map[string]bool{}
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		known = true
		for _, in := range listensOn(b, port) {
			inodes[in] = true
		}
	}
	return inodes, known
}

// listensOn parses a /proc/net/tcp table for the sockets listening on
// port, and returns their inodes.
func listensOn(table []byte, port int) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			out = append(out, f[9])
		}
	}
	return out
}

// descendants are pid's children, theirs, and so on (/proc's children
// lists), children first.
func descendants(pid int) []int {
	var out []int
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	for _, f := range strings.Fields(string(b)) {
		if child, err := strconv.Atoi(f); err == nil {
			out = append(out, child)
			out = append(out, descendants(child)...)
		}
	}
	return out
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
