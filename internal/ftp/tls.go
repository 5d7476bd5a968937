package ftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
)

// TLS policy values for the control and data connections (RFC 4217).
type TLSPolicy int

const (
	TLSOptional TLSPolicy = iota // the client chooses
	TLSRequired                  // plaintext is refused
)

// sessionTLS is a session's view of the server's TLS configuration: tickets
// it issues carry a random token, and a PROT P data connection must resume
// a session carrying that token. A third party that reaches the passive
// port first cannot resume the control connection's session, so it is
// refused (vsftpd's require_ssl_reuse).
func (s *session) sessionTLS() *tls.Config {
	if s.tlsConf != nil {
		return s.tlsConf
	}
	base := s.srv.TLSConfig
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	cfg := base.Clone()
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		ss.Extra = append(ss.Extra, token)
		return base.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := base.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return nil, err
		}
		if !slices.ContainsFunc(ss.Extra, func(e []byte) bool { return bytes.Equal(e, token) }) {
			return nil, nil // another session's ticket: no resumption
		}
		return ss, nil
	}
	s.tlsConf = cfg
	return cfg
}

// AUTH TLS (RFC 4217 §4): upgrade the control connection. "AUTH SSL" is
// accepted as an alias (as most servers do).
func (s *session) cmdAUTH(arg string) {
	switch {
	case s.srv.TLSConfig == nil:
		s.reply(502, "TLS is not configured on this server.")
		return
	case s.tlsControl:
		s.reply(503, "Already using TLS.")
		return
	}
	switch strings.ToUpper(arg) {
	case "TLS", "TLS-C", "SSL", "TLS-P":
	default:
		s.reply(504, "AUTH type not supported; use AUTH TLS.")
		return
	}
	if s.r.Buffered() > 0 {
		// Plaintext pipelined after AUTH could be injected by a third party
		// (the STARTTLS command injection attack): refuse it.
		s.reply(503, "Commands after AUTH must wait for the TLS handshake.")
		s.conn.Close()
		return
	}
	s.reply(234, "Proceed with negotiation.")
	if s.startTLS() {
		s.user = "" // RFC 4217 §4: a fresh login follows
	}
}

// startTLS runs the server side of the control connection's handshake
// (after AUTH TLS, or at once for implicit FTPS) and switches the session
// to it; false (and the connection closed) if it fails.
func (s *session) startTLS() bool {
	tc := tls.Server(s.conn, s.sessionTLS())
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Info("control TLS handshake failed", "err", err)
		s.conn.Close()
		return false
	}
	s.setControl(tc)
	s.tlsControl = true
	s.show(func(v *shown) { v.tls = true })
	return true
}

// PBSZ (RFC 4217 §8): only 0 makes sense for a stream protocol like TLS.
func (s *session) cmdPBSZ(arg string) {
	if !s.tlsControl {
		s.reply(503, "PBSZ needs AUTH TLS first.")
		return
	}
	s.pbsz = true
	s.reply(200, "PBSZ=0")
}

// PROT (RFC 4217 §9): C clear or P private data connections.
func (s *session) cmdPROT(arg string) {
	switch {
	case !s.tlsControl:
		s.reply(503, "PROT needs AUTH TLS first.")
		return
	case !s.pbsz:
		s.reply(503, "PROT needs PBSZ first.")
		return
	}
	switch strings.ToUpper(arg) {
	case "P":
		s.protP = true
		s.reply(200, "Protection level set to P.")
	case "C":
		if s.dataTLSRequired() {
			s.reply(534, "Data connections must be protected: use PROT P.")
			return
		}
		s.protP = false
		s.reply(200, "Protection level set to C.")
	case "S", "E":
		s.reply(536, "Only PROT C and P are supported.")
	default:
		s.reply(504, "Unknown protection level.")
	}
}

// CCC (RFC 4217 §6) would drop TLS from the control connection: refused.
func (s *session) cmdCCC(string) {
	s.reply(534, "CCC refused: the control connection stays protected.")
}

func (s *session) controlTLSRequired() bool {
	return s.srv.TLSControl == TLSRequired || (s.acct != nil && s.acct.TLSRequired)
}

func (s *session) dataTLSRequired() bool {
	return s.srv.TLSData == TLSRequired || (s.acct != nil && s.acct.TLSRequired)
}

// protectData runs the data connection's TLS handshake for PROT P and,
// when required, checks that it resumed this session's control TLS session.
func (s *session) protectData(ctx context.Context, conn net.Conn) (net.Conn, error) {
	if !s.protP {
		return conn, nil
	}
	tc := tls.Server(conn, s.sessionTLS())
	hctx, cancel := context.WithTimeout(ctx, s.srv.DataTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		s.log.Info("data TLS handshake failed", "err", err)
		return nil, fmt.Errorf("%w: TLS handshake: %w", errDataConn, err)
	}
	if s.srv.TLSRequireReuse && !tc.ConnectionState().DidResume {
		tc.Close()
		s.log.Warn("refused data connection: TLS session not resumed from the control connection")
		return nil, errNoTLSReuse
	}
	return tc, nil
}
