package ftp

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/s3ftpd/s3ftpd/internal/ftp/wire"
)

// reservePassive replaces any pending endpoint with a new one.
func (s *session) reservePassive(verb string) (PassiveListener, bool) {
	s.closePassive()
	s.active = netip.AddrPort{}
	if s.srv.Passive == nil {
		s.reply(425, "Passive mode is not available on this server.")
		return nil, false
	}
	pl, err := s.srv.Passive.Reserve(s.ctx, s.client)
	if err != nil {
		s.replyError(err, verb)
		return nil, false
	}
	return pl, true
}

// PASV (RFC 959 §4.1.1): IPv4 only; the advertised address comes from
// Server.PassiveIP (behind a LB, the LB's) or is the one the client reached.
func (s *session) cmdPASV(string) {
	if s.epsvAll {
		s.reply(503, "EPSV ALL in effect; use EPSV.")
		return
	}
	ip := s.local
	if s.srv.PassiveIP != nil {
		var err error
		if ip, err = s.srv.PassiveIP(s.client, s.local); err != nil {
			s.log.Warn("no passive address", "err", err)
			s.reply(425, "Cannot determine the passive address; use EPSV.")
			return
		}
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		s.reply(425, "PASV needs IPv4; use EPSV.")
		return
	}
	pl, ok := s.reservePassive("PASV")
	if !ok {
		return
	}
	s.pasv = pl
	a, p := ip.As4(), pl.Port()
	s.reply(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], p>>8, p&0xff))
}

// EPSV (RFC 2428 §3): port only; the client reuses the control address, so
// it works through NAT and load balancers with no address to configure.
func (s *session) cmdEPSV(arg string) {
	switch strings.ToUpper(arg) {
	case "":
	case "ALL":
		s.epsvAll = true
		s.reply(200, "EPSV ALL ok.")
		return
	case "1", "2":
		if (arg == "1") != s.local.Is4() {
			s.reply(522, "Network protocol not supported, use ("+s.family()+")")
			return
		}
	default:
		s.reply(522, "Network protocol not supported, use ("+s.family()+")")
		return
	}
	pl, ok := s.reservePassive("EPSV")
	if !ok {
		return
	}
	s.pasv = pl
	s.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", pl.Port()))
}

func (s *session) family() string {
	if s.local.Is4() {
		return "1"
	}
	return "2"
}

// PORT h1,h2,h3,h4,p1,p2 (RFC 959 §4.1.2).
func (s *session) cmdPORT(arg string) {
	ap, ok := wire.ParsePORT(arg)
	if !ok {
		s.reply(501, "Syntax error in PORT arguments.")
		return
	}
	s.setActive("PORT", ap)
}

// EPRT |proto|addr|port| (RFC 2428 §2); any delimiter in 33-126.
func (s *session) cmdEPRT(arg string) {
	ap, code := wire.ParseEPRT(arg)
	switch code {
	case 522:
		s.reply(522, "Network protocol not supported, use (1,2)")
	case 501:
		s.reply(501, "Syntax error in EPRT arguments.")
	default:
		s.setActive("EPRT", ap)
	}
}

// setActive checks an active-mode address: only the client's own IP, no
// privileged port (RFC 2577 §3: no FTP bounce), and never one of this
// server's own addresses (ownAddress).
func (s *session) setActive(verb string, ap netip.AddrPort) {
	s.closePassive()
	s.active = netip.AddrPort{}
	switch {
	case s.epsvAll:
		s.reply(503, "EPSV ALL in effect; use EPSV.")
	case !s.srv.AllowActive:
		s.reply(502, "Active mode is disabled on this server; use PASV or EPSV.")
	case ap.Addr().Unmap() != s.client:
		s.log.Warn("refused active address", "verb", verb, "addr", ap.String())
		s.reply(501, "Data connections go only to your own address.")
	case ap.Port() < 1024:
		s.reply(501, "Refusing a privileged port.")
	case s.ownAddress(ap.Addr().Unmap()):
		s.log.Warn("refused active address: it is one of this server's own", "verb", verb, "addr", ap.String())
		s.reply(501, "Active mode to this server's own address is refused; use PASV or EPSV.")
	default:
		s.active = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		s.reply(200, verb+" command successful. Consider using EPSV.")
	}
}
