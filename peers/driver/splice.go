package driver

import (
	"io"
	"net"
)

// Splice copies a to b and b to a until both directions end, passing on
// each direction's end as a half-close, so that a peer's close_notify
// followed by FIN reaches the other side as it would over one connection.
// The caller closes both connections.
func Splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	half := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if c, ok := dst.(interface{ CloseWrite() error }); ok {
			c.CloseWrite()
		}
		done <- struct{}{}
	}
	go half(b, a)
	go half(a, b)
	<-done
	<-done
}
