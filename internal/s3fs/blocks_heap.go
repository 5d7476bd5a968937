package s3fs

// heapBlocks are blocks on the Go heap: where mapping fails, and on systems
// without mmap (blocks_other.go).
type heapBlocks struct{}

func (heapBlocks) slab() []*block { return []*block{new(block)} }

func (heapBlocks) release([]*block) {} // the collector does it when they are dropped
