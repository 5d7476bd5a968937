package s3fs

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// budget is the process-wide allowance of upload buffer bytes: a weighted
// semaphore (FIFO, all-or-nothing acquisitions) plus a gauge for tests and
// metrics.
//
// Deadlock freedom. An upload waits for budget in exactly two situations,
// and in both it holds no budget that an unfinished part still needs:
//
//  1. Its first block (probation, one 64 KiB block): the upload holds
//     nothing at all.
//  2. The reservation of a whole part (its target size): taken when the
//     first block of that part is needed, i.e. after the previous part was
//     handed to its sender goroutine. If the upload was in probation, it
//     first releases the probation block's budget (the block's data stays in
//     memory, briefly outside the budget) and then waits for the whole part.
//
// So every holder of budget is either
//
//   - a part being filled whose reservation already covers its full size: it
//     needs no more budget to complete, only more bytes from its client (or
//     a Commit/Abort, which release it), or
//   - a part being sent (or waiting for one of its upload's send slots):
//     it is released when its HTTP request ends, which needs no budget.
//
// No holder ever waits for budget, so the waits-for graph has no cycle
// through the budget and some waiter always progresses once holders release.
// Each acquisition is at most the largest part size, which New keeps at or
// below the budget (a semaphore acquisition larger than its size would never
// succeed). A client that stops sending while holding a reservation is not a
// deadlock: it is an idle transfer, and the session's idle timeout cancels
// its context, which aborts the upload and releases its reservation.
//
// The memory bound is therefore BufferBudget plus at most one 64 KiB block
// per upload that is waiting to leave probation.
type budget struct {
	sem  *semaphore.Weighted
	size int64
	used atomic.Int64
}

func newBudget(size int64) *budget {
	return &budget{sem: semaphore.NewWeighted(size), size: size}
}

// acquire waits for n bytes of budget (or ctx).
func (b *budget) acquire(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	b.used.Add(n)
	return nil
}

// release returns n bytes.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.used.Add(-n)
	b.sem.Release(n)
}

// inUse is the number of bytes currently acquired.
func (b *budget) inUse() int64 { return b.used.Load() }
