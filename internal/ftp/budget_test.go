package ftp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

const blk = 64 << 10

func testBudget(size, ipCap, userCap int64, wait time.Duration) *ftp.Budget {
	return ftp.NewBudget(ftp.BudgetConfig{Size: size, IPCap: ipCap, UserCap: userCap, Wait: wait,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// take acquires n blocks for h, failing the test if any is refused.
func take(t *testing.T, h *ftp.BudgetHolder, n int) {
	t.Helper()
	for range n {
		if !h.TryAcquire(blk) {
			t.Fatalf("block refused at %d held", h.Held())
		}
	}
}

// No client IP (an IPv6 client by its /64), user or holder gets more than
// its cap, while others still get theirs.
func TestBudgetCaps(t *testing.T) {
	b := testBudget(16*blk, 4*blk, 6*blk, time.Second)
	v6a := b.Holder(netip.MustParseAddr("2001:db8::1"), "u1", 0)
	v6b := b.Holder(netip.MustParseAddr("2001:db8::ffff:2"), "u2", 0) // same /64
	take(t, v6a, 3)
	take(t, v6b, 1)
	if v6b.TryAcquire(blk) {
		t.Fatal("a second address of one /64 exceeded the per-IP cap")
	}
	other := b.Holder(netip.MustParseAddr("2001:db8:0:1::1"), "u1", 0) // another /64, same user
	take(t, other, 3)
	if other.TryAcquire(blk) {
		t.Fatal("user u1 exceeded the per-user cap")
	}
	sess := b.Holder(netip.MustParseAddr("192.0.2.9"), "u3", 2*blk)
	take(t, sess, 2)
	if sess.TryAcquire(blk) {
		t.Fatal("a holder exceeded its own cap")
	}
	v6a.Release(3 * blk)
	take(t, v6b, 3)
	if got := b.InUse(); got != 9*blk {
		t.Fatalf("in use %d, want %d", got, 9*blk)
	}
}

// A wait ends with ErrBufferBusy at the deadline, and a release wakes a
// waiter.
func TestBudgetWaitDeadline(t *testing.T) {
	b := testBudget(2*blk, 0, 0, 200*time.Millisecond)
	hog := b.Holder(netip.MustParseAddr("192.0.2.1"), "hog", 0)
	take(t, hog, 2)
	w := b.Holder(netip.MustParseAddr("192.0.2.2"), "victim", 0)
	err := w.Acquire(context.Background(), blk)
	if !errors.Is(err, ftp.ErrBufferBusy) {
		t.Fatalf("wait ended with %v, want ErrBufferBusy", err)
	}
	if b.Refusals() != 1 {
		t.Fatalf("refusals = %d", b.Refusals())
	}
	done := make(chan error, 1)
	b2 := testBudget(2*blk, 0, 0, time.Minute)
	hog2 := b2.Holder(netip.Addr{}, "hog", 0)
	take(t, hog2, 2)
	w2 := b2.Holder(netip.Addr{}, "victim", 0)
	go func() { done <- w2.Acquire(context.Background(), blk) }()
	hog2.Release(blk)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a release did not wake the waiter")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- w2.Acquire(ctx, blk) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the context did not end the wait")
	}
}

// Holders filling claims never get into a state where none can finish:
// with two parts' claims of 4 blocks on a budget of 5, the second holder
// may start (one of them can still finish) but is held back before both
// are stuck half-way.
func TestBudgetAvoidsDeadlock(t *testing.T) {
	b := testBudget(5*blk, 0, 0, 100*time.Millisecond)
	a := b.Holder(netip.Addr{}, "a", 0)
	c := b.Holder(netip.Addr{}, "c", 0)
	a.Claim(4 * blk)
	c.Claim(4 * blk)
	take(t, a, 2)
	take(t, c, 1)
	if c.TryAcquire(blk) {
		// a needs 2, c would need 2, 1 free: neither could finish.
		t.Fatal("granted a block that leaves no holder able to finish")
	}
	take(t, a, 2)   // a can always finish
	n := a.Detach() // a's full part goes to its sender
	a.ReleaseDetached(n)
	take(t, c, 3)
	if got := b.InUse(); got != 4*blk {
		t.Fatalf("in use %d, want %d", got, 4*blk)
	}
}
