//go:build unix

package ftp

import (
	"net"
	"syscall"
)

// keepUrgentInline sets SO_OOBINLINE on a control connection. RFC 959
// §4.1.3 has clients send ABOR (and at times other commands) with the
// Telnet Synch: TCP urgent data. Without this option Linux takes the
// urgent byte out of the stream, so the command line never ends; python's
// ftplib.abort() sends "ABOR\r\n" with MSG_OOB and would hang. Inline, the
// byte is an ordinary one, and the Telnet IP/DM sequences around it are
// dropped by the line reader (wire.LineReader).
func keepUrgentInline(c net.Conn) {
	if r, ok := c.(interface{ Raw() net.Conn }); ok { // a PROXY protocol wrapper
		c = r.Raw()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
	})
}
