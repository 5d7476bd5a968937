//go:build unix

package s3fs

import (
	"syscall"
	"unsafe"
)

// slabBlocks is how many blocks one mapping holds (4 MiB).
const slabBlocks = 64

// mappedBlocks maps slabs of anonymous memory; a mapping is never unmapped
// (its addresses are reused), only its pages are given back (MADV_DONTNEED:
// they read as zero when touched again).
type mappedBlocks struct{}

func newBacking() blockBacking { return mappedBlocks{} }

func (mappedBlocks) slab() []*block {
	mem, err := syscall.Mmap(-1, 0, slabBlocks*blockSize, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil { // out of address space or mappings: the heap will do
		return heapBlocks{}.slab()
	}
	out := make([]*block, slabBlocks)
	for i := range out {
		out[i] = (*block)(unsafe.Pointer(&mem[i*blockSize]))
	}
	return out
}

func (mappedBlocks) release(bs []*block) {
	for _, b := range bs {
		_ = syscall.Madvise(b[:], syscall.MADV_DONTNEED) // heap blocks: harmless
	}
}
