package ftp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBufferBusy: a transfer waited for buffer memory (an upload's part
// buffers, a download's copy buffer) for the budget's whole deadline and
// got none. For an upload it is 452 (RFC 959 §4.2: "Requested action not
// taken. Insufficient storage space in system"); for a download 451.
var ErrBufferBusy = errors.New("no buffer memory free")

// Budget is a process-wide allowance of buffer bytes shared by every
// client, with caps so that no client takes it all: no client IP (an IPv6
// client by its /64, as the session limits count it), no user and no
// holder (one session's transfer) may hold more than its share. A wait for
// bytes is FIFO among the waiters a release can serve, ends with its
// context, and fails with ErrBufferBusy after BudgetConfig.Wait: nothing
// waits forever, whoever holds the budget.
//
// All acquisitions of one Budget are meant to be of one size (a block): a
// larger request could be overtaken forever by smaller ones.
type Budget struct {
	size, ipCap, userCap int64
	wait                 time.Duration
	log                  *slog.Logger

	mu      sync.Mutex
	used    int64
	byIP    map[netip.Addr]int64
	byUser  map[string]int64
	waiters []*budgetWaiter
	filling map[*BudgetHolder]struct{} // holders with cur > 0
	// Σ max(claim, cur) of the filling holders, in all and per capped
	// IP and user, and how many capped IPs and users are over their cap
	// by that measure (see fits): the cheap sufficient safety test.
	claims     int64
	ipClaims   map[netip.Addr]int64
	userClaims map[string]int64
	over       int
	scratch    []simHolder
	ipFree     map[netip.Addr]int64
	userFree   map[string]int64

	waits, refusals atomic.Int64
}

// BudgetConfig configures a Budget.
type BudgetConfig struct {
	// Size is the whole budget in bytes.
	Size int64
	// IPCap and UserCap are the bytes one client IP (/64) and one user
	// may hold together; 0: no cap.
	IPCap, UserCap int64
	// Wait bounds one wait for bytes; 0: 30s.
	Wait time.Duration
	// Logger gets a line for each long wait; nil: slog.Default().
	Logger *slog.Logger
}

// DefaultBudgetWait is how long a transfer waits for buffer memory when
// BudgetConfig.Wait is zero.
const DefaultBudgetWait = 30 * time.Second

// budgetLogAfter: waits shorter than this are ordinary backpressure and
// not logged.
const budgetLogAfter = time.Second

// NewBudget makes a Budget.
func NewBudget(c BudgetConfig) *Budget {
	if c.Wait <= 0 {
		c.Wait = DefaultBudgetWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &Budget{
		size: c.Size, ipCap: c.IPCap, userCap: c.UserCap,
		wait: c.Wait, log: c.Logger,
		byIP: map[netip.Addr]int64{}, byUser: map[string]int64{}, filling: map[*BudgetHolder]struct{}{},
		ipClaims: map[netip.Addr]int64{}, userClaims: map[string]int64{},
		ipFree: map[netip.Addr]int64{}, userFree: map[string]int64{},
	}
}

// Size is the whole budget.
func (b *Budget) Size() int64 { return b.size }

// Caps returns the per-IP and per-user caps in bytes (0: none).
func (b *Budget) Caps() (ip, user int64) { return b.ipCap, b.userCap }

// InUse is the number of bytes held now.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Waits counts the waits for bytes that took longer than a second;
// Refusals counts those that ended in ErrBufferBusy.
func (b *Budget) Waits() int64    { return b.waits.Load() }
func (b *Budget) Refusals() int64 { return b.refusals.Load() }

// BudgetHolder is one party's account in a Budget: a session's transfer,
// counted under its client IP and user. Its methods are safe for
// concurrent use (an upload's parts are released by their senders).
type BudgetHolder struct {
	b    *Budget
	addr netip.Addr // the client, for the log
	ip   netip.Addr // its ClientKey; invalid: not counted per IP
	user string     // "": not counted per user
	cap  int64      // what this holder may hold; 0: no own cap
	// Under b.mu: held is everything h holds; cur the part of it still
	// being filled, which may grow up to claim (Claim); the rest (held −
	// cur, Detach) is on its way out and is released without any more
	// budget.
	held, cur, claim int64
	m                int64 // max(claim, cur) while filling, else 0: what claims counts
	// logged: this holder's first long wait was logged (one line per
	// holder, however long it keeps waiting).
	logged bool
}

// Holder opens an account for a party of client ip (counted by its
// ClientKey) and user, which may hold at most cap bytes itself (0: only the
// IP, user and global limits apply).
func (b *Budget) Holder(ip netip.Addr, user string, cap int64) *BudgetHolder {
	h := &BudgetHolder{b: b, addr: ip, user: user, cap: cap}
	if ip.IsValid() {
		h.ip = ClientKey(ip)
	}
	return h
}

// User and Client are whom h is counted under (Client: "" when not per IP).
func (h *BudgetHolder) User() string { return h.user }
func (h *BudgetHolder) Client() string {
	if !h.addr.IsValid() {
		return ""
	}
	return h.addr.String()
}

// Held is what h holds now.
func (h *BudgetHolder) Held() int64 {
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	return h.held
}

type budgetWaiter struct {
	h       *BudgetHolder
	n       int64
	granted chan struct{} // closed when the bytes were granted
}

// blocked says which limit keeps h from n more bytes; "" if none.
func (b *Budget) blocked(h *BudgetHolder, n int64) string {
	switch {
	case b.used+n > b.size:
		return "budget"
	case h.cap > 0 && h.held+n > h.cap:
		return "session share"
	case b.ipCap > 0 && h.ip.IsValid() && b.byIP[h.ip]+n > b.ipCap:
		return "client IP share"
	case b.userCap > 0 && h.user != "" && b.byUser[h.user]+n > b.userCap:
		return "user share"
	case !b.safe(h, n):
		return "memory kept for parts under way"
	}
	return ""
}

// safe reports whether granting n more bytes to g leaves the budget in a
// safe state (the banker's algorithm, Dijkstra): an order exists in which
// every holder that is filling a claim gets the rest of it within the
// global budget and its IP and user caps, and then frees what it holds
// (an upload's part, once full, is sent and released). Bytes on their way
// out (Detach) count as free: they are released without more budget. So
// however the holders' clients send, some holder can always go on, and
// waits for budget form no cycle; a holder that stops sending is the stall
// rule's business (ftp.Server.MinRate), not a deadlock. b.mu is held.
func (b *Budget) safe(g *BudgetHolder, n int64) bool {
	if b.fits(g, n) {
		return true
	}
	hs := b.scratch[:0]
	free := b.size
	clear(b.ipFree)
	clear(b.userFree)
	add := func(h *BudgetHolder, cur int64) {
		hs = append(hs, simHolder{h: h, need: max(h.claim-cur, 0), cur: cur})
		free -= cur
		if b.ipCap > 0 && h.ip.IsValid() {
			if _, ok := b.ipFree[h.ip]; !ok {
				b.ipFree[h.ip] = b.ipCap
			}
			b.ipFree[h.ip] -= cur
		}
		if b.userCap > 0 && h.user != "" {
			if _, ok := b.userFree[h.user]; !ok {
				b.userFree[h.user] = b.userCap
			}
			b.userFree[h.user] -= cur
		}
	}
	for h := range b.filling {
		if h != g {
			add(h, h.cur)
		}
	}
	add(g, g.cur+n)
	defer func() { clear(hs); b.scratch = hs[:0] }()
	if free < 0 {
		return false
	}
	slices.SortFunc(hs, func(a, c simHolder) int { return cmp.Compare(a.need, c.need) })
	left := len(hs)
	for progress := true; progress && left > 0; {
		progress = false
		for i := range hs {
			x := &hs[i]
			if x.h == nil || x.need > free {
				continue
			}
			if f, ok := b.ipFree[x.h.ip]; ok && x.need > f {
				continue
			}
			if f, ok := b.userFree[x.h.user]; ok && x.need > f {
				continue
			}
			free += x.cur
			if _, ok := b.ipFree[x.h.ip]; ok {
				b.ipFree[x.h.ip] += x.cur
			}
			if _, ok := b.userFree[x.h.user]; ok {
				b.userFree[x.h.user] += x.cur
			}
			x.h = nil
			left--
			progress = true
		}
	}
	return left == 0
}

// simHolder is a holder in safe's simulation.
type simHolder struct {
	h         *BudgetHolder
	need, cur int64
}

// fits is safe's cheap sufficient test: after the grant, every filling
// holder could get the rest of its claim at once — Σ max(claim, cur)
// stays within the budget and within every IP's and user's cap (bytes on
// their way out count as free). This is the old whole-part reservation's
// invariant, so without overcommitment no simulation runs. b.mu is held.
func (b *Budget) fits(g *BudgetHolder, n int64) bool {
	d := max(g.claim, g.cur+n) - g.m
	if b.claims+d > b.size {
		return false
	}
	over := b.over
	if b.ipCap > 0 && g.ip.IsValid() {
		c := b.ipClaims[g.ip]
		if c > b.ipCap {
			over--
		}
		if c+d > b.ipCap {
			return false
		}
	}
	if b.userCap > 0 && g.user != "" {
		c := b.userClaims[g.user]
		if c > b.userCap {
			over--
		}
		if c+d > b.userCap {
			return false
		}
	}
	return over == 0
}

// account updates h.m and the claim sums after h's cur, claim or filling
// changed. b.mu is held.
func (b *Budget) account(h *BudgetHolder) {
	m := int64(0)
	if _, ok := b.filling[h]; ok {
		m = max(h.claim, h.cur)
	}
	d := m - h.m
	if d == 0 {
		return
	}
	h.m = m
	b.claims += d
	if b.ipCap > 0 && h.ip.IsValid() {
		addClaimTo(b, b.ipClaims, h.ip, d, b.ipCap)
	}
	if b.userCap > 0 && h.user != "" {
		addClaimTo(b, b.userClaims, h.user, d, b.userCap)
	}
}

func addClaimTo[K comparable](b *Budget, m map[K]int64, k K, d, cap int64) {
	was := m[k] > cap
	m[k] += d
	if m[k] <= 0 {
		delete(m, k)
	}
	switch now := m[k] > cap; {
	case now && !was:
		b.over++
	case was && !now:
		b.over--
	}
}

// grant counts n bytes for h; b.mu is held.
func (b *Budget) grant(h *BudgetHolder, n int64) {
	b.used += n
	h.held += n
	h.cur += n
	b.filling[h] = struct{}{}
	b.account(h)
	if h.ip.IsValid() {
		b.byIP[h.ip] += n
	}
	if h.user != "" {
		b.byUser[h.user] += n
	}
}

// dispatch grants the waiters that fit now, oldest first; b.mu is held.
// It runs after every release, so a waiter that fits never stays queued.
func (b *Budget) dispatch() {
	kept := b.waiters[:0]
	for _, w := range b.waiters {
		if b.blocked(w.h, w.n) == "" {
			b.grant(w.h, w.n)
			close(w.granted)
			continue
		}
		kept = append(kept, w)
	}
	clear(b.waiters[len(kept):])
	b.waiters = kept
}

// TryAcquire takes n bytes if they are free now, without waiting.
func (h *BudgetHolder) TryAcquire(n int64) bool {
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.blocked(h, n) != "" {
		return false
	}
	b.grant(h, n)
	return true
}

// Acquire takes n bytes, waiting for them until ctx ends or for the
// budget's deadline (then ErrBufferBusy, naming the limit that held it up).
func (h *BudgetHolder) Acquire(ctx context.Context, n int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := h.b
	b.mu.Lock()
	why := b.blocked(h, n)
	if why == "" {
		b.grant(h, n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{h: h, n: n, granted: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	start := time.Now()
	t := time.NewTimer(b.wait)
	defer t.Stop()
	long := time.NewTimer(budgetLogAfter)
	defer long.Stop()
wait:
	for {
		select {
		case <-w.granted:
			h.waited(why, time.Since(start))
			return nil
		case <-long.C:
			b.waits.Add(1)
			h.logWait(why)
		case <-t.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	b.mu.Lock()
	select {
	case <-w.granted: // granted meanwhile: keep the bytes
		b.mu.Unlock()
		return nil
	default:
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	why = b.blocked(h, n)
	b.dispatch() // w may have blocked nobody, but the queue changed
	b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	b.refusals.Add(1)
	return fmt.Errorf("%w: waited %v for the %s (holding %d bytes)", ErrBufferBusy, b.wait, why, h.Held())
}

// logWait logs h's first wait longer than budgetLogAfter.
func (h *BudgetHolder) logWait(why string) {
	h.b.mu.Lock()
	first := !h.logged
	h.logged = true
	held := h.held
	h.b.mu.Unlock()
	if first {
		h.b.log.Info("waiting for buffer memory", "limit", why, "client", h.Client(), "user", h.user,
			"held", held, "deadline", h.b.wait)
	}
}

// waited logs the end of a long wait (Debug: the start was logged).
func (h *BudgetHolder) waited(why string, d time.Duration) {
	if d >= budgetLogAfter {
		h.b.log.Debug("got buffer memory", "limit", why, "client", h.Client(), "user", h.user, "waited", d)
	}
}

// Claim declares that what h is filling now (a part) will hold at most c
// bytes in all; the safety check (safe) keeps room for it. 0: h fills
// nothing that needs more (a download's one buffer).
func (h *BudgetHolder) Claim(c int64) {
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	h.claim = c
	h.b.account(h)
}

// Detach marks what h is filling as on its way out (an upload's full part
// handed to its sender): it will be released without needing more budget.
// It returns those bytes, for ReleaseDetached. The claim ends with it.
func (h *BudgetHolder) Detach() int64 {
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	n := h.cur
	h.cur, h.claim = 0, 0
	delete(b.filling, h)
	b.account(h)
	b.dispatch()
	return n
}

// Release gives back n bytes of what h is filling.
func (h *BudgetHolder) Release(n int64) { h.release(n, true) }

// ReleaseDetached gives back n bytes that Detach returned.
func (h *BudgetHolder) ReleaseDetached(n int64) { h.release(n, false) }

func (h *BudgetHolder) release(n int64, cur bool) {
	if n == 0 {
		return
	}
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	h.held -= n
	if cur {
		if h.cur -= n; h.cur <= 0 {
			h.cur = 0
			delete(b.filling, h)
		}
		b.account(h)
	}
	if h.ip.IsValid() {
		if b.byIP[h.ip] -= n; b.byIP[h.ip] <= 0 {
			delete(b.byIP, h.ip)
		}
	}
	if h.user != "" {
		if b.byUser[h.user] -= n; b.byUser[h.user] <= 0 {
			delete(b.byUser, h.user)
		}
	}
	b.dispatch()
}
