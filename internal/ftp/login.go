package ftp

import (
	"context"
	"time"
)

// Password checks are expensive by design (bcrypt, so that an unknown user
// costs what a known one does). Three bounds keep them from taking the CPU
// away from everyone else:
//
//   - at most MaxPasswordChecks run at once in the process; a PASS waits
//     for a turn at most LoginCheckWait, then gets 421. As many turns
//     again are kept for fresh clients (no failed login from their address
//     in the current minute, none in the session, no other check of its
//     under way): a flood of wrong
//     passwords queues for its own turns and a real user does not wait
//     behind it (measured in docs/security.md: 4.7 s without, see there);
//   - LoginFailuresPerIP per client (an IPv6 client per /64), across the
//     cluster with Shared;
//   - LoginFailuresGlobal per minute in the process: beyond it, a client
//     that already failed within the minute is refused with 421 before its
//     password is checked, while a client with no recent failure is still
//     checked — a flood from many addresses slows, a real user gets in.

// acquireCheck waits for a password check turn; ok false when none came
// within LoginCheckWait or ctx ended. release must be called after. A
// fresh client takes a shared turn if one is free, else the first of
// either kind.
func (s *Server) acquireCheck(ctx context.Context, fresh bool) (release func(), ok bool) {
	shared := func() { <-s.checks }
	select {
	case s.checks <- struct{}{}:
		return shared, true
	default:
	}
	var freshTurn chan struct{} // nil: never ready
	if fresh {
		freshTurn = s.freshChecks
	}
	t := time.NewTimer(s.LoginCheckWait)
	defer t.Stop()
	select {
	case s.checks <- struct{}{}:
		return shared, true
	case freshTurn <- struct{}{}:
		return func() { <-s.freshChecks }, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// beginCheck counts a password check from sess's client, waiting or
// running, and reports whether the client is fresh: no failed login this
// minute, none in the session, and no other check of its under way (so
// that one address gets one fresh attempt at a time, however many
// sessions it opens). endCheck must follow.
func (s *Server) beginCheck(sess *session, now time.Time) (fresh bool) {
	key := clientKey(sess.client)
	fresh = sess.failures == 0 && !s.fails.recent(key, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh = fresh && s.checking[key] == 0
	s.checking[key]++
	return fresh
}

func (s *Server) endCheck(sess *session) {
	key := clientKey(sess.client)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checking[key]--; s.checking[key] <= 0 {
		delete(s.checking, key)
	}
}

// globalFailure records a failed login in the process-wide window.
func (s *Server) globalFailure(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.globalFails.start) >= time.Minute {
		s.globalFails.start, s.globalFails.count = now, 0
	}
	s.globalFails.count++
}

// floodRefused reports whether a PASS from sess is refused before its
// check: the process saw LoginFailuresGlobal failures this minute and
// sess's client is one of those that failed.
func (s *Server) floodRefused(sess *session, now time.Time) bool {
	limit := s.limits().LoginFailuresGlobal
	if limit <= 0 {
		return false
	}
	s.mu.Lock()
	hot := now.Sub(s.globalFails.start) < time.Minute && s.globalFails.count >= limit
	s.mu.Unlock()
	return hot && (sess.failures > 0 || s.fails.recent(clientKey(sess.client), now))
}
