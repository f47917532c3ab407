// Package testnet gives tests real sockets on loopback: a connected TCP
// pair, for code that needs a socket's file descriptor (a kernel
// hand-off, a poll on hang-up), which net.Pipe has not.
package testnet

import (
	"net"
	"testing"
)

// TCPPair returns both ends of a TCP connection on 127.0.0.1; the test's
// cleanup closes them.
func TCPPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}
