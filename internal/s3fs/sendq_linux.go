package s3fs

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"
)

// sendQueue returns how many bytes c's socket still holds to send or to
// have acknowledged (SIOCOUTQ, tcp(7)); false when it cannot tell.
func sendQueue(c net.Conn) (int, bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok || c == nil {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int32
	var errno syscall.Errno
	cerr := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	})
	if cerr != nil || errno != 0 {
		return 0, false
	}
	return int(n), true
}
