package s3fs

import (
	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Upload buffer budget. Every byte an upload buffers (the part being
// filled, and the parts handed to their senders until S3 stored them) is
// accounted in the Store's ftp.Budget as the bytes arrive (reserveBlock:
// ahead of them by at most what the upload holds, up to 1 MiB): an upload
// that sent 64 KiB + 1 byte holds two 64 KiB blocks, not a whole part. The budget caps what one client IP (IPv6: its /64), one user and
// one upload (a session runs one transfer at a time) may hold, and a wait
// for a block ends after Options.BufferWait with ftp.ErrBufferBusy (452).
//
// Progress. Uploads that wait for memory while holding some could hold
// the whole budget between them, each half-way through a part (the old
// whole-part reservations existed to rule that out). The budget therefore
// grants a block only if the state stays safe (ftp.Budget.safe, the
// banker's algorithm: some order lets every upload that is filling a part
// finish it, within the budget and its IP's and user's caps), each upload
// declaring its part as its claim (Claim) and handing a full part to its
// sender with Detach. When a block is not free at once, an upload whose
// part already has MinPartSize bytes sends it as a (shorter) part, which
// gives its memory back as soon as S3 stored it ("spill"). What is left is
// slowness, not deadlock: a holder that sends slowly keeps others waiting,
// and they get 452 at the deadline (their bytes kept as a partial: nothing
// acknowledged is lost); the transfer's minimum rate (ftp.Server.MinRate)
// ends uploads that hold memory without sending.
//
// The caps are raised to one part of the largest size when smaller (an
// upload needs a whole part in memory), and the part-size schedule never
// grows a part beyond the smallest cap (partsize.go).

// Default shares of the budget, in percent. A user has no cap of its own
// by default: one account is often a whole fleet (many devices or
// parallel jobs behind one login), and a 25 % user cap made 1 000 sessions
// of one user wait for 64 MiB while 190 MiB of the budget were free, until
// their uploads failed with 452 (test/load, docs/reliability.md). Each
// client IP and each upload stays capped, so no one client takes it all;
// operators who distrust their users set buffer_user_share.
const (
	DefaultBufferIPShare      = 25
	DefaultBufferUserShare    = 100
	DefaultBufferSessionShare = 25
)

// bufferCaps computes the per-IP, per-user and per-upload caps in bytes
// from the Options' percentages (0: the default; 100: no cap), each at
// least minPart.
func bufferCaps(o Options, minPart int64) (ip, user, session int64) {
	c := func(pct, def int) int64 {
		if pct == 0 {
			pct = def
		}
		if pct >= 100 {
			return o.BufferBudget
		}
		return max(o.BufferBudget*int64(pct)/100/blockSize*blockSize, minPart)
	}
	return c(o.BufferIPShare, DefaultBufferIPShare), c(o.BufferUserShare, DefaultBufferUserShare),
		c(o.BufferSessionShare, DefaultBufferSessionShare)
}

// newBufferBudget builds the Store's budget.
func newBufferBudget(o Options, ipCap, userCap int64) *ftp.Budget {
	return ftp.NewBudget(ftp.BudgetConfig{Size: o.BufferBudget, IPCap: ipCap, UserCap: userCap,
		Wait: o.BufferWait, Logger: o.Logger.With("component", "s3fs", "budget", "upload")})
}
