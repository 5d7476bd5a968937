//go:build unix

package ftp

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed reports whether the peer of c has closed its side (a FIN is
// waiting to be read), without consuming anything and without blocking:
// recv(MSG_PEEK|MSG_DONTWAIT) returns 0 at end of stream. Wrappers (TLS,
// PROXY protocol) are looked through to the TCP socket.
func peerClosed(c net.Conn) bool {
	sc, ok := tcpUnder(c).(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var b [1]byte
	// Control, not Read: the command loop is blocked in a Read on this
	// socket and holds its read lock; a non-blocking peek needs neither.
	_ = rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || errors.Is(err, syscall.ECONNRESET)
	})
	return closed
}
