package s3fs

import "testing"

// Blocks come back zero or as they were left, never handed out twice;
// after trim their pages are given back and they read as zero.
func TestBlockPool(t *testing.T) {
	bp := newBlockPool()
	n := 3*slabBlocks + 5
	held := make([]*block, n)
	seen := map[*block]bool{}
	for i := range held {
		b := bp.get()
		if b[0] != 0 || b[blockSize-1] != 0 {
			t.Fatalf("block %d not zero at first use", i)
		}
		if seen[b] {
			t.Fatal("one block handed out twice")
		}
		seen[b] = true
		b[0], b[blockSize-1] = 1, 1
		held[i] = b
	}
	for _, b := range held {
		bp.put(b)
	}
	if b := bp.get(); b[0] != 1 {
		t.Fatal("a warm block lost its bytes")
	} else {
		bp.put(b)
	}
	bp.trim()
	if bp.warm != 0 {
		t.Fatalf("warm %d after trim", bp.warm)
	}
	for i := range n {
		if b := bp.get(); b[0] != 0 || b[blockSize-1] != 0 {
			t.Fatalf("block %d kept its bytes after trim", i)
		}
	}
}
