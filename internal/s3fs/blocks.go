package s3fs

import (
	"errors"
	"io"
	"sync"
)

// blockSize is the unit of upload buffering: a 4 KiB upload holds one
// 64 KiB block, not a whole part.
const blockSize = 64 << 10

type block [blockSize]byte

// blockPool recycles blocks between parts and uploads.
type blockPool struct{ p sync.Pool }

func newBlockPool() *blockPool {
	return &blockPool{p: sync.Pool{New: func() any { return new(block) }}}
}

func (bp *blockPool) get() *block  { return bp.p.Get().(*block) }
func (bp *blockPool) put(b *block) { bp.p.Put(b) }

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
