//go:build unix

package ftp

import "syscall"

// newCopyBuf maps a buffer of anonymous memory, or takes one from the heap
// when the system refuses (no address space or mappings left).
func newCopyBuf() []byte {
	b, err := syscall.Mmap(-1, 0, DownloadBufferSize, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, DownloadBufferSize)
	}
	return b
}

// freeCopyBuf unmaps b; a heap buffer (Munmap refuses it) is left to the
// collector.
func freeCopyBuf(b []byte) { _ = syscall.Munmap(b) }
