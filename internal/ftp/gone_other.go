//go:build !unix

package ftp

import "net"

func peerClosed(net.Conn) bool { return false }
