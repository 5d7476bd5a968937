package ftp

import (
	"net/netip"
	"sync"
	"time"
)

// loginThrottle counts failed logins per client (clientKey) in fixed windows; an IP
// that reached the limit is refused until its window ends. Memory stays
// bounded: expired windows are dropped when the map grows.
type loginThrottle struct {
	window time.Duration

	mu   sync.Mutex
	seen map[netip.Addr]*failWindow
}

type failWindow struct {
	start time.Time
	count int
}

const throttlePruneAt = 10000

// blocked reports whether ip used up its limit of failures for this
// window (limit 0: no limit).
func (t *loginThrottle) blocked(ip netip.Addr, now time.Time, limit int) bool {
	if limit <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.seen[ip]
	return w != nil && now.Sub(w.start) < t.window && w.count >= limit
}

// failed records one failed login from ip.
func (t *loginThrottle) failed(ip netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.seen) >= throttlePruneAt {
		for k, w := range t.seen {
			if now.Sub(w.start) >= t.window {
				delete(t.seen, k)
			}
		}
	}
	w := t.seen[ip]
	if w == nil || now.Sub(w.start) >= t.window {
		w = &failWindow{start: now}
		t.seen[ip] = w
	}
	w.count++
}

// recent reports whether ip failed within the current window (whatever
// the limit).
func (t *loginThrottle) recent(ip netip.Addr, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.seen[ip]
	return w != nil && now.Sub(w.start) < t.window && w.count > 0
}
