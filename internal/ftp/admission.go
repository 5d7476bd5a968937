package ftp

import (
	"net"
	"net/netip"
	"strconv"
	"time"
)

// clientKey is the address every per-IP limit counts under: an IPv4
// address as it is, an IPv6 address as its /64. RFC 4291 §2.5.4 gives a
// link a /64 and a single host commonly holds all of it (RFC 8981 temporary
// addresses), so a limit per IPv6 address would limit nothing.
func clientKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// ClientKey is clientKey for the storage's own per-client limits (the
// upload buffer budget), so that they count clients as the session limits
// do.
func ClientKey(ip netip.Addr) netip.Addr { return clientKey(ip) }

// slot is one accepted connection's place in the session limits. It is
// taken as soon as the connection is accepted, before any byte is read
// from it (a PROXY header, a TLS handshake), and given back when the
// connection ends: a peer that opens connections and never completes a
// handshake holds a slot as a session would, and is refused as one.
type slot struct {
	global  bool       // counted against MaxSessions
	key     netip.Addr // counted against MaxSessionsPerIP under key; invalid: not counted per IP
	pending bool       // counted in key's pending handshakes
}

// admitConn counts a connection that was just accepted. key is its
// client's clientKey, or invalid when the client is not known yet.
//
// Behind a load balancer the real client is only known once the PROXY
// header is read; until then the connection's address is the LB's. It
// cannot count per IP under that address (every client of the LB would
// share one per-IP budget, and one of them could use it up), and it must
// not wait for the header to be counted at all (a peer that sends no
// header would then hold descriptors unbounded). So a connection from a
// trusted LB counts globally at once and per IP after its header (admitIP),
// and the header read itself is bounded by the PROXY wrapper's timeout. A
// connection that comes directly counts both at once.
func (s *Server) admitConn(sl *slot, key netip.Addr) (int, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing.Load():
		return 421, "Service not available, server shutting down.", false
	case s.limits().MaxSessions > 0 && s.slots >= s.limits().MaxSessions:
		return 421, "Too many users; try again later.", false
	}
	s.slots++
	sl.global = true
	return s.admitIPLocked(sl, key)
}

// admitIP counts the connection per IP once its client is known (after a
// PROXY header).
func (s *Server) admitIP(sl *slot, key netip.Addr) (int, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitIPLocked(sl, key)
}

func (s *Server) admitIPLocked(sl *slot, key netip.Addr) (int, string, bool) {
	if !key.IsValid() {
		return 0, "", true
	}
	if limit := s.limits().MaxSessionsPerIP; limit > 0 && s.perIP[key] >= limit {
		return 421, "Too many connections from your address; try again later.", false
	}
	s.perIP[key]++
	sl.key = key
	return 0, "", true
}

// uncount gives a slot back (all of it, or, for a health check, all but
// the global part).
func (s *Server) uncount(sl *slot, global bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endPendingLocked(sl)
	if sl.key.IsValid() {
		if s.perIP[sl.key]--; s.perIP[sl.key] <= 0 {
			delete(s.perIP, sl.key)
		}
		sl.key = netip.Addr{}
	}
	if global && sl.global {
		s.slots--
		sl.global = false
	}
}

// beginPending counts a TLS handshake under its client; false when that
// client has MaxPendingPerIP handshakes running already.
func (s *Server) beginPending(sl *slot) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.MaxPendingPerIP > 0 && s.pending[sl.key] >= s.MaxPendingPerIP {
		return false
	}
	s.pending[sl.key]++
	sl.pending = true
	return true
}

func (s *Server) endPending(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endPendingLocked(sl)
}

func (s *Server) endPendingLocked(sl *slot) {
	if !sl.pending {
		return
	}
	sl.pending = false
	if s.pending[sl.key]--; s.pending[sl.key] <= 0 {
		delete(s.pending, sl.key)
	}
}

// refuseConn answers a connection refused before its session exists: a
// 421 (RFC 959 §5.4) on a plaintext connection, nothing on one that
// expects a TLS handshake first (a plaintext reply would be noise to it).
func (s *Server) refuseConn(c net.Conn, implicitTLS bool, code int, text string) {
	if !implicitTLS {
		// A PROXY connection reads its header before any write: bounded too.
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte(strconv.Itoa(code) + " " + text + "\r\n"))
	}
	c.Close()
}

// refusedLog logs a connection refused before its session exists, at
// most once per source and reason per interval (LogLimiter). viaLB: c's
// address is the load balancer's, its header still unread.
func (s *Server) refusedLog(msg string, c net.Conn, viaLB bool, code int, text string) {
	src, attr := "", "client"
	if viaLB {
		attr = "lb"
	}
	if a, ok := c.(interface{ Peer() netip.Addr }); ok && viaLB {
		src = a.Peer().String()
	} else {
		src = AddrIP(c.RemoteAddr()).String()
	}
	args := []any{attr, src}
	if code != 0 {
		args = append(args, "reply", strconv.Itoa(code)+" "+text)
	}
	s.refused.Warn(s.Logger, src, msg, args...)
}
