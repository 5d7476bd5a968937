//go:build !unix

package s3fs

func newBacking() blockBacking { return heapBlocks{} }
