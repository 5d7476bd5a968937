//go:build !unix

package ftp

func newCopyBuf() []byte { return make([]byte, DownloadBufferSize) }

func freeCopyBuf([]byte) {}
