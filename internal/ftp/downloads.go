package ftp

import (
	"errors"
	"fmt"
	"io"
)

// Download buffers. Each RETR copies from storage to the data connection
// through one DownloadBufferSize buffer, and a stalled download keeps it
// (with its storage stream and descriptors) until the stall rule ends it.
// The buffers come from a process budget with the same per-client caps as
// the upload buffers (budget.go): no client IP (/64) and no user holds
// more than its share, and a RETR that finds none free within BufferWait
// gets 451 before its data connection is opened.

// DownloadBufferSize is the copy buffer of one download. 256 KiB: in the
// harness RETR went from 0.52 to 0.61 of a direct GET over 128 KiB (1 MiB:
// 0.62, at four times the memory per download).
const DownloadBufferSize = 256 << 10

// DefaultDownloadBuffers is Server.DownloadBuffers when zero: 1 024
// downloads at once.
const DefaultDownloadBuffers = 256 << 20

// Default shares of the download budget, in percent.
const (
	DefaultDownloadIPShare   = 25
	DefaultDownloadUserShare = 100 // as the upload budget's (s3fs.DefaultBufferUserShare)
)

// downloadBudget builds the Server's download budget from its fields.
func (s *Server) downloadBudget() *Budget {
	size := s.DownloadBuffers
	if size <= 0 {
		size = DefaultDownloadBuffers
	}
	size = max(size, DownloadBufferSize)
	return NewBudget(BudgetConfig{
		Size:    size,
		IPCap:   shareCap(size, s.DownloadIPShare, DefaultDownloadIPShare),
		UserCap: shareCap(size, s.DownloadUserShare, DefaultDownloadUserShare),
		Wait:    s.BufferWait,
		Logger:  s.Logger.With("budget", "download"),
	})
}

// shareCap is pct percent of size (def when pct is 0; no cap from 100),
// at least one buffer.
func shareCap(size int64, pct, def int) int64 {
	if pct == 0 {
		pct = def
	}
	if pct >= 100 {
		return 0
	}
	return max(size*int64(pct)/100, DownloadBufferSize)
}

// DownloadBudget is the download buffer budget (for metrics).
func (s *Server) DownloadBudget() *Budget {
	s.init()
	return s.downloads
}

// downloadBuffer takes a download buffer for x's session from the budget;
// release gives it back. ErrBufferBusy becomes errDownloadBusy (451).
func (s *session) downloadBuffer(x *transfer) (buf *[]byte, release func(), err error) {
	h := s.srv.downloads.Holder(s.client, s.userName(), 0)
	if err := h.Acquire(x.ctx, DownloadBufferSize); err != nil {
		if errors.Is(err, ErrBufferBusy) {
			err = fmt.Errorf("%w: %w", errDownloadBusy, err)
		}
		return nil, nil, err
	}
	bp := s.srv.bufs.get()
	return bp, func() {
		s.srv.bufs.put(bp)
		h.Release(DownloadBufferSize)
	}, nil
}

// copyWith copies src to dst through buf (a data connection wrapped for
// stall detection hides io.ReaderFrom, so io.Copy would allocate one).
func copyWith(dst io.Writer, src io.Reader, buf *[]byte) (int64, error) {
	return io.CopyBuffer(dst, src, *buf)
}
