package ftp

import (
	"context"
	"io"
	"net"
	"sync"

	"golang.org/x/time/rate"
)

// Per-account limits: the largest file an upload may make, the sessions a
// user may hold at once, and bandwidth (a token bucket per session, and
// one per user shared by all its sessions on this server).

// capReader ends an upload with ErrTooLarge (552, RFC 959 "exceeded
// storage allocation") once more than left bytes arrive.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		return 0, ErrTooLarge
	}
	c.left -= int64(n)
	return n, err
}

// userSessions counts the logged-in sessions of each user (MaxSessions).
type userSessions struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more session of user unless max (>0) are open.
func (u *userSessions) take(user string, max int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil {
		u.n = map[string]int{}
	}
	if max > 0 && u.n[user] >= max {
		return false
	}
	u.n[user]++
	return true
}

func (u *userSessions) drop(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[user]--; u.n[user] <= 0 {
		delete(u.n, user)
	}
}

// Bandwidth limits, in bytes per second (0: none).
type Bandwidth struct {
	UpPerSession, DownPerSession int64
	UpPerUser, DownPerUser       int64
}

// userBuckets are the per-user token buckets, shared by a user's sessions.
type userBuckets struct {
	mu       sync.Mutex
	up, down map[string]*rate.Limiter
}

func (b *userBuckets) get(m *map[string]*rate.Limiter, user string, perSec int64) *rate.Limiter {
	if perSec <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if *m == nil {
		*m = map[string]*rate.Limiter{}
	}
	l := (*m)[user]
	if l == nil || l.Limit() != rate.Limit(perSec) {
		l = newBucket(perSec)
		(*m)[user] = l
	}
	return l
}

// newBucket allows perSec bytes per second with a burst of a tenth of a
// second (at least 32 KiB, so one read of the copy loop fits).
func newBucket(perSec int64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSec), int(max(perSec/10, 32<<10)))
}

// limitedConn paces a data connection's reads (uploads) or writes
// (downloads) by up to two buckets. Waiting ends with ctx (ABOR, stall).
type limitedConn struct {
	net.Conn
	ctx     context.Context
	buckets []*rate.Limiter
}

func (c *limitedConn) wait(n int) error {
	for _, b := range c.buckets {
		for left := n; left > 0; {
			k := min(left, b.Burst())
			if err := b.WaitN(c.ctx, k); err != nil {
				return err
			}
			left -= k
		}
	}
	return nil
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if len(p) > 32<<10 {
		p = p[:32<<10] // wait for what one read takes, not a whole buffer
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if werr := c.wait(n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (c *limitedConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), 32<<10)
		if err := c.wait(k); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(p[:k])
		written += n
		if err != nil {
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}

// bandwidth is the account's bandwidth limits, else the server's (as in
// force now: SetLimits).
func (s *session) bandwidth() Bandwidth {
	if a := s.acct.Bandwidth; a != (Bandwidth{}) {
		return a
	}
	return s.srv.limits().Bandwidth
}

// minRate is the least rate the stall timer lets x run at: MinRate, but
// at most half of a bandwidth limit that paces x (a transfer held to
// 1 KiB/s by its own limit is not stalled).
func (s *session) minRate(x *transfer) int64 {
	r := s.srv.MinRate
	bw := s.bandwidth()
	limits := []int64{bw.DownPerSession, bw.DownPerUser}
	if isUpload(x.verb) {
		limits = []int64{bw.UpPerSession, bw.UpPerUser}
	}
	for _, l := range limits {
		if l > 0 && r > l/2 {
			r = l / 2
		}
	}
	return r
}

// paced wraps a transfer's data connection in its account's limits.
func (s *session) paced(x *transfer, c net.Conn) net.Conn {
	bw := s.bandwidth()
	var buckets []*rate.Limiter
	if isUpload(x.verb) {
		if bw.UpPerSession > 0 {
			buckets = append(buckets, newBucket(bw.UpPerSession))
		}
		if l := s.srv.buckets.get(&s.srv.buckets.up, s.acct.Name, bw.UpPerUser); l != nil {
			buckets = append(buckets, l)
		}
	} else {
		if bw.DownPerSession > 0 {
			buckets = append(buckets, newBucket(bw.DownPerSession))
		}
		if l := s.srv.buckets.get(&s.srv.buckets.down, s.acct.Name, bw.DownPerUser); l != nil {
			buckets = append(buckets, l)
		}
	}
	if len(buckets) == 0 {
		return c
	}
	return &limitedConn{Conn: c, ctx: x.ctx, buckets: buckets}
}
