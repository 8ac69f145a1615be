package driver

import (
	"io"
	"net"
	"testing"
	"time"
)

// accept returns the next connection on a new loopback listener and the
// address to dial it.
func accept(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	return ln.Addr().String(), ch
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// Each side's bytes reach the other, and one side's half-close reaches the
// other as EOF while the other direction still flows.
func TestSplice(t *testing.T) {
	frontAddr, fronts := accept(t)
	backAddr, backs := accept(t)
	client := dial(t, frontAddr)
	front := <-fronts
	back := dial(t, backAddr)
	server := <-backs
	if front == nil || server == nil {
		t.Fatal("no connection")
	}
	server.SetDeadline(time.Now().Add(10 * time.Second))
	spliced := make(chan struct{})
	go func() { Splice(front, back); front.Close(); back.Close(); close(spliced) }()

	client.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	server.Write([]byte("world"))
	server.(*net.TCPConn).CloseWrite()
	if got, err := io.ReadAll(client); err != nil || string(got) != "world" {
		t.Fatalf("client read %q, %v", got, err)
	}
	client.Write([]byte("bye"))
	client.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(server); err != nil || string(rest) != "bye" {
		t.Fatalf("server read %q, %v", rest, err)
	}
	select {
	case <-spliced:
	case <-time.After(5 * time.Second):
		t.Fatal("Splice did not return once both directions ended")
	}
}
