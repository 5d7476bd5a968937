//go:build !unix

package ftp

import "net"

func keepUrgentInline(net.Conn) {}
