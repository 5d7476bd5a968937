package s3fs

import (
	"errors"
	"io"
	"sync"
	"time"
)

// blockSize is the unit of upload buffering: a 4 KiB upload holds one
// 64 KiB block, not a whole part.
const blockSize = 64 << 10

type block [blockSize]byte

// blockPool recycles blocks between parts and uploads. Where the system
// allows (blocks_unix.go) blocks live outside the Go heap, in memory mapped
// a slab at a time: the upload buffers, most of what the process holds
// during transfers, then neither count towards the garbage collector's
// heap goal (twice the live heap) nor need zeroing and collecting as they
// come and go. Free blocks keep their pages while transfers run (reusing
// them costs no page faults) and give them back to the system once no
// block was freed for quietRelease.
type blockPool struct {
	mu      sync.Mutex
	free    []*block // ready for use; the top warm ones hold pages
	warm    int
	quiet   *time.Timer
	backing blockBacking
}

// blockBacking is where blocks come from: mapped slabs (unix) or the heap.
type blockBacking interface {
	slab() []*block     // new blocks, zero
	release(b []*block) // give their pages back; they read as zero after
}

// quietRelease: free blocks unused this long give their pages back.
const quietRelease = 5 * time.Second

func newBlockPool() *blockPool { return &blockPool{backing: newBacking()} }

func (bp *blockPool) get() *block {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if len(bp.free) == 0 {
		bp.free = bp.backing.slab()
	}
	b := bp.free[len(bp.free)-1]
	bp.free = bp.free[:len(bp.free)-1]
	bp.warm = max(bp.warm-1, 0)
	return b
}

func (bp *blockPool) put(b *block) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.free = append(bp.free, b)
	bp.warm++
	if bp.quiet == nil {
		bp.quiet = time.AfterFunc(quietRelease, bp.trim)
	} else {
		bp.quiet.Reset(quietRelease)
	}
}

// trim gives back the pages of the warm free blocks.
func (bp *blockPool) trim() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.backing.release(bp.free[len(bp.free)-bp.warm:])
	bp.warm = 0
}

// roundUpBlock rounds n up to a whole number of blocks.
func roundUpBlock(n int64) int64 {
	return (n + blockSize - 1) / blockSize * blockSize
}

// roundDownBlock rounds n down to a whole number of blocks.
func roundDownBlock(n int64) int64 { return n / blockSize * blockSize }

// partBuf is the data of one part: full blocks followed by one partly
// filled block. It is filled by one goroutine, then handed over (read-only)
// to the goroutine that sends it.
type partBuf struct {
	blocks []*block
	size   int64 // bytes written
}

// room returns the unwritten tail of the last block (empty when the last
// block is full or there is none).
func (p *partBuf) room() []byte {
	if len(p.blocks) == 0 {
		return nil
	}
	used := p.size - int64(len(p.blocks)-1)*blockSize
	return p.blocks[len(p.blocks)-1][used:]
}

// addBlock appends an empty block; call only when room() is empty.
func (p *partBuf) addBlock(b *block) { p.blocks = append(p.blocks, b) }

// wrote records n bytes written into room().
func (p *partBuf) wrote(n int) { p.size += int64(n) }

// free returns the blocks to the pool.
func (p *partBuf) free(bp *blockPool) {
	for i, b := range p.blocks {
		bp.put(b)
		p.blocks[i] = nil
	}
	p.blocks, p.size = nil, 0
}

// reader reads the part without copying it. It is an io.ReadSeeker because
// the SDK rewinds bodies to retry a request.
func (p *partBuf) reader() *partReader { return &partReader{p: p} }

type partReader struct {
	p   *partBuf
	off int64
}

func (r *partReader) Read(b []byte) (int, error) {
	if r.off >= r.p.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && r.off < r.p.size {
		blk := r.p.blocks[r.off/blockSize]
		start := r.off % blockSize
		end := min(int64(blockSize), r.p.size-(r.off-start))
		c := copy(b[n:], blk[start:end])
		n += c
		r.off += int64(c)
	}
	return n, nil
}

func (r *partReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.p.size
	default:
		return 0, errors.New("s3fs: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("s3fs: negative position")
	}
	r.off = offset
	return offset, nil
}

// Len is the number of unread bytes (the SDK uses it for Content-Length).
func (r *partReader) Len() int {
	if r.off >= r.p.size {
		return 0
	}
	return int(r.p.size - r.off)
}
