//go:build !linux

package s3fs

import "net"

// sendQueue cannot read a socket's send queue on this system: only the
// bytes the connection takes count as progress (see stall.go).
func sendQueue(net.Conn) (int, bool) { return 0, false }
