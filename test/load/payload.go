package main

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"
	"math/rand/v2"
)

// content is what a client stores under a name: size bytes of a ChaCha8
// stream from seed. The driver keeps only (seed, size, SHA-256) per file;
// the SHA-256 is of the bytes the client actually sent.
type content struct {
	seed uint64
	size int64
	sum  [sha256.Size]byte
}

// generator is an io.Reader of c's bytes that hashes them as they are read
// (jlaffaye/ftp's Stor copies it into the data connection).
type generator struct {
	r    *rand.ChaCha8
	left int64
	h    hash.Hash
}

func newGenerator(seed uint64, size int64) *generator {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "s3ftpd load driver payload")
	return &generator{r: rand.NewChaCha8(key), left: size, h: sha256.New()}
}

func (g *generator) Read(b []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), g.left)]
	_, _ = g.r.Read(b)
	g.h.Write(b)
	g.left -= int64(len(b))
	return len(b), nil
}

// sum is the SHA-256 of what was read so far.
func (g *generator) sum() (s [sha256.Size]byte) {
	g.h.Sum(s[:0])
	return s
}

// sizeDist picks upload sizes: mostly small and medium files, a few of
// several MiB and a small share above the 5 MiB part size (multipart).
type sizeDist struct {
	multipart float64 // share of uploads above the part size
	maxSize   int64   // the largest multipart upload
}

const partSize = 5 << 20 // s3ftpd's default store.s3.part_size

func (d sizeDist) pick(r *rand.Rand) int64 {
	between := func(lo, hi int64) int64 { return lo + r.Int64N(hi-lo+1) }
	x := r.Float64()
	switch {
	case x < d.multipart:
		return between(partSize+1, max(d.maxSize, partSize+1))
	case x < 0.40:
		return between(0, 4<<10)
	case x < 0.75:
		return between(4<<10, 256<<10)
	case x < 0.95:
		return between(256<<10, 2<<20)
	default:
		return between(2<<20, 6<<20)
	}
}
