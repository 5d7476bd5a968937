package ftp

import (
	"errors"
	"time"
)

// USER starts (or restarts) a login (RFC 959 §4.1.1).
func (s *session) cmdUSER(arg string) {
	if s.controlTLSRequired() && !s.tlsControl {
		s.reply(530, "TLS required: use AUTH TLS before logging in.")
		return
	}
	if s.acct != nil {
		s.reply(530, "Already logged in; cannot change user.")
		return
	}
	s.user = arg
	s.reply(331, "Please specify the password.")
}

// PASS completes the login. A failure is answered 530 after a pause, and
// the session is closed after MaxLoginFailure failures.
func (s *session) cmdPASS(arg string) {
	switch {
	case s.acct != nil:
		s.reply(230, "Already logged in.")
		return
	case s.user == "":
		s.reply(503, "Login with USER first.")
		return
	}
	user := s.user
	s.user = ""
	// The refusals below come in floods: one line per client and reason
	// per interval (LogLimiter), not one each.
	if s.srv.loginBlocked(s) {
		s.srv.refused.Warn(s.log, clientKey(s.client).String(), "login refused: too many failed logins from this address", "user", user)
		s.reply(421, "Too many failed logins from your address; try again later.")
		s.conn.Close()
		return
	}
	if s.srv.floodRefused(s, time.Now()) {
		s.srv.refused.Warn(s.log, clientKey(s.client).String(), "login refused: too many failed logins on this server; this address failed already", "user", user)
		s.reply(421, "Too many failed logins; try again later.")
		s.conn.Close()
		return
	}
	fresh := s.srv.beginCheck(s, time.Now())
	defer s.srv.endCheck(s)
	release, ok := s.srv.acquireCheck(s.ctx, fresh)
	if !ok {
		s.srv.refused.Warn(s.log, clientKey(s.client).String(), "login refused: no password check turn in time", "user", user, "wait", s.srv.LoginCheckWait.String())
		s.reply(421, "Server busy checking logins; try again later.")
		s.conn.Close()
		return
	}
	acct, err := s.srv.Auth.Login(s.ctx, LoginRequest{User: user, Password: arg, Client: s.client, TLS: s.tlsControl})
	release()
	if errors.Is(err, ErrAddressNotAllowed) {
		s.srv.refused.Warn(s.log, clientKey(s.client).String(), "login refused: address not allowed", "user", user)
		s.reply(530, "Login not allowed from your address.")
		return
	}
	if err == nil && acct.TLSRequired && !s.tlsControl {
		s.log.Warn("login refused: this user must use TLS", "user", user)
		s.reply(530, "TLS required for this user: use AUTH TLS before logging in.")
		return
	}
	if err == nil && !s.takeUser(acct) {
		s.log.Warn("login refused: the user's session limit is reached", "user", user, "limit", s.maxSessions(acct))
		s.reply(421, "Too many sessions for this user; try again later.")
		s.conn.Close()
		return
	}
	if err == nil {
		s.acct = acct
		s.cwd = "/"
		s.log = s.log.With("user", acct.Name)
		s.log.Info("login")
		s.show(func(v *shown) { v.user = acct.Name })
		s.srv.observe(func(o Observer) { o.LoginDone(true) })
		s.reply(230, "Login successful.")
		return
	}
	if !errors.Is(err, ErrBadLogin) {
		s.log.Error("authentication backend failed", "user", user, "err", err)
		s.reply(421, "Authentication service unavailable; try again later.")
		s.conn.Close()
		return
	}
	s.failures++
	s.srv.loginFailed(s)
	s.srv.observe(func(o Observer) { o.LoginDone(false) })
	s.log.Warn("login failed", "user", user, "failures", s.failures)
	select {
	case <-time.After(s.srv.LoginFailDelay):
	case <-s.ctx.Done():
		return
	}
	if s.failures >= s.srv.MaxLoginFailure {
		s.reply(421, "Too many failed logins; closing connection.")
		s.conn.Close()
		return
	}
	s.reply(530, "Login incorrect.")
}

// QUIT ends the session (RFC 959 §4.1.1); a transfer in progress was
// already waited for by the command loop.
func (s *session) cmdQUIT(string) bool {
	s.reply(221, "Goodbye.")
	return true
}

// REIN is optional; RFC 959 allows 502 for it.
func (s *session) cmdREIN(string) {
	s.reply(502, "REIN not implemented; reconnect instead.")
}

// maxSessions is the account's session limit, else the server's (0: none).
func (s *session) maxSessions(a *Account) int {
	if a.MaxSessions > 0 {
		return a.MaxSessions
	}
	return s.srv.limits().MaxSessionsPerUser
}

// takeUser counts the login against the user's session limit, on this
// node and across the cluster.
func (s *session) takeUser(acct *Account) bool {
	max := s.maxSessions(acct)
	if !s.srv.userSess.take(acct.Name, max) {
		return false
	}
	if !s.srv.takeSharedUser(s, acct.Name, max) {
		s.srv.userSess.drop(acct.Name)
		return false
	}
	s.userCounted = true
	return true
}
