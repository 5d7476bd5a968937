package ftp

import "testing"

// Free copy buffers are reused while downloads run and given back after a
// quiet spell (trim); a buffer taken after that is a fresh, usable one.
func TestCopyBufsReuseAndTrim(t *testing.T) {
	var c copyBufs
	a := c.get()
	if len(*a) != DownloadBufferSize {
		t.Fatalf("buffer of %d bytes, want %d", len(*a), DownloadBufferSize)
	}
	(*a)[0], (*a)[DownloadBufferSize-1] = 1, 2
	c.put(a)
	if b := c.get(); b != a {
		t.Fatal("a free buffer was not reused")
	}
	c.put(a)
	c.trim()
	if n := c.idle(); n != 0 {
		t.Fatalf("%d free buffers kept after trim, want 0", n)
	}
	b := c.get()
	(*b)[DownloadBufferSize-1] = 3 // writable (unmapped memory would fault)
	c.put(b)
}
