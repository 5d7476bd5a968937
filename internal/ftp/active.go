package ftp

import (
	"net"
	"net/netip"
)

// proxiedConn is a connection whose client address a trusted load
// balancer stated in a PROXY header (internal/proxy).
type proxiedConn interface{ Proxied() bool }

// ownAddress reports whether an active-mode target (the client's own IP,
// setActive checks that first) is one of this server's addresses: then a
// PORT would make us connect to ourselves — the embedded S3 port, the ops
// endpoint, another node's relay — and send file bytes there. That happens
// when the "client" address is really a neighbour on this host: a load
// balancer on the same machine that sends no PROXY header, or a local
// proxy.
//
// A client address taken from a trusted LB's PROXY header is exempt: the
// LB accepted a TCP connection from it, so it is a real remote client, not
// us (the LB is trusted for exactly that statement), even when it is a
// loopback address as in tests where everything runs on 127.0.0.0/8. The
// one case left is a client on the LB's own host (PROXY source loopback
// on a LB that is not on our host); see docs/security.md.
func (s *session) ownAddress(ip netip.Addr) bool {
	if pc, ok := s.conn.(proxiedConn); ok && pc.Proxied() {
		return false
	}
	if ip.IsLoopback() || ip.IsUnspecified() || ip == s.local {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		s.log.Warn("cannot list local addresses; refusing active mode to be safe", "err", err)
		return true
	}
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}
