package ftp

import (
	"context"
	"net/netip"
	"time"
)

// SharedCounts keeps the per-IP counts (keyed by clientKey: an IPv6
// client by the first address of its /64) and the per-user session counts
// of the session limits across every process that serves the same users (a
// cluster), so that a client spread over N nodes by a round-robin load
// balancer gets no more sessions or login attempts than against one. Nil:
// each Server counts on its own.
//
// When a call fails (the shared store is unreachable) the Server logs it
// and falls back to its own counts: limits weaken, service goes on.
type SharedCounts interface {
	// AddSession records a session from ip starting (delta 1) or ending
	// (delta -1) and returns how many sessions from ip are open in total.
	AddSession(ctx context.Context, ip netip.Addr, delta int) (int, error)
	// AddUserSession does the same for the logged-in sessions of user.
	AddUserSession(ctx context.Context, user string, delta int) (int, error)
	// LoginFailures returns the failed logins from ip in the current
	// window, after counting one more when add is set.
	LoginFailures(ctx context.Context, ip netip.Addr, add bool) (int, error)
}

// sharedTimeout bounds one SharedCounts call: a session never waits long
// for the shared store.
const sharedTimeout = 2 * time.Second

// admitShared counts sess in the shared per-IP count; false (and nothing
// counted) when that reaches MaxSessionsPerIP. Called after admit, never
// under a lock.
func (s *Server) admitShared(sess *session) bool {
	limit := s.limits().MaxSessionsPerIP
	if s.Shared == nil || sess.health || limit <= 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(sess.ctx, sharedTimeout)
	defer cancel()
	n, err := s.Shared.AddSession(ctx, clientKey(sess.client), 1)
	if err != nil {
		sess.log.Warn("shared session count unavailable; counting this node only", "err", err)
		return true
	}
	sess.sharedCounted = true
	if n > limit {
		s.releaseShared(sess)
		sess.log.Warn("refused session: max_sessions_per_ip reached across the cluster", "limit", limit)
		return false
	}
	return true
}

func (s *Server) releaseShared(sess *session) {
	if !sess.sharedCounted {
		return
	}
	sess.sharedCounted = false
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	if _, err := s.Shared.AddSession(ctx, clientKey(sess.client), -1); err != nil {
		sess.log.Warn("shared session count unavailable", "err", err)
	}
}

// takeSharedUser counts a login of user in the shared per-user count;
// false (and nothing counted) when that passes max. Without Shared, or
// when it fails, the node's own count (userSessions) is all there is.
func (s *Server) takeSharedUser(sess *session, user string, max int) bool {
	if s.Shared == nil || max <= 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(sess.ctx, sharedTimeout)
	defer cancel()
	n, err := s.Shared.AddUserSession(ctx, user, 1)
	if err != nil {
		sess.log.Warn("shared user session count unavailable; counting this node only", "err", err)
		return true
	}
	sess.sharedUser = user
	if n > max {
		s.releaseSharedUser(sess)
		return false
	}
	return true
}

func (s *Server) releaseSharedUser(sess *session) {
	if sess.sharedUser == "" {
		return
	}
	user := sess.sharedUser
	sess.sharedUser = ""
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	if _, err := s.Shared.AddUserSession(ctx, user, -1); err != nil {
		sess.log.Warn("shared user session count unavailable", "err", err)
	}
}

// loginBlocked reports whether ip used up its failed logins: across the
// cluster with Shared, else in this process.
func (s *Server) loginBlocked(sess *session) bool {
	limit := s.limits().LoginFailuresPerIP
	if s.Shared != nil && limit > 0 {
		ctx, cancel := context.WithTimeout(sess.ctx, sharedTimeout)
		defer cancel()
		n, err := s.Shared.LoginFailures(ctx, clientKey(sess.client), false)
		if err == nil {
			return n >= limit
		}
		sess.log.Warn("shared login failure count unavailable; counting this node only", "err", err)
	}
	return s.fails.blocked(clientKey(sess.client), time.Now(), limit)
}

// loginFailed counts one failed login from the session's IP.
func (s *Server) loginFailed(sess *session) {
	s.fails.failed(clientKey(sess.client), time.Now())
	s.globalFailure(time.Now())
	if s.Shared != nil && s.limits().LoginFailuresPerIP > 0 {
		ctx, cancel := context.WithTimeout(sess.ctx, sharedTimeout)
		defer cancel()
		if _, err := s.Shared.LoginFailures(ctx, clientKey(sess.client), true); err != nil {
			sess.log.Warn("shared login failure count unavailable", "err", err)
		}
	}
}
