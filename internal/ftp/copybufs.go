package ftp

import (
	"sync"
	"time"
)

// copyBufs recycles the download copy buffers (DownloadBufferSize each;
// the download budget bounds how many exist). Where the system allows
// (copybufs_unix.go) they are mapped outside the Go heap: hundreds of
// them during a load neither count towards the collector's heap goal nor
// stay after it — free buffers are unmapped once no download ended for
// copyBufsQuiet. (A sync.Pool kept them on the heap until two collections
// after the last use: 1 000 sessions left ~100 MB of them 2 minutes after
// they ended, test/load.)
type copyBufs struct {
	mu    sync.Mutex
	free  []*[]byte
	quiet *time.Timer
}

// copyBufsQuiet: free buffers unused this long are given back.
const copyBufsQuiet = 5 * time.Second

func (c *copyBufs) get() *[]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b
	}
	b := newCopyBuf()
	return &b
}

func (c *copyBufs) put(b *[]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.free = append(c.free, b)
	if c.quiet == nil {
		c.quiet = time.AfterFunc(copyBufsQuiet, c.trim)
	} else {
		c.quiet.Reset(copyBufsQuiet)
	}
}

// trim gives the free buffers back.
func (c *copyBufs) trim() {
	c.mu.Lock()
	free := c.free
	c.free = nil
	c.mu.Unlock()
	for _, b := range free {
		freeCopyBuf(*b)
	}
}

// idle is how many free buffers are kept (for tests).
func (c *copyBufs) idle() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.free)
}
