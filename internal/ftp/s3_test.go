package ftp_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// The protocol tests also run against the real storage path: s3fs on the
// embedded S3-compatible store (one per test binary, a bucket per test).
func TestMain(m *testing.M) { embeds3test.Main(m) }

var s3Backend = backend{"s3", func(t *testing.T) ftp.FS {
	client, bucket := embeds3test.NewBucket(t)
	store, err := s3fs.New(client, s3fs.Options{Bucket: bucket, Prefix: "tenant"})
	if err != nil {
		t.Fatal(err)
	}
	return store.FS("/home/alice")
}}

func TestProtocolS3(t *testing.T) {
	for name, f := range protocolTests() {
		t.Run(name, func(t *testing.T) { f(t, s3Backend) })
	}
}

// A 100 MiB upload goes through a multipart upload of several parts.
func TestLargeFileS3(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer skipped in -short mode")
	}
	srv := startWith(t, s3Backend, nil)
	c := login(t, srv.Addr)
	data := randomBytes(t, 100<<20)
	if err := c.Stor("big.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got := retrieve(t, c, "big.bin", 0)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("100 MiB round trip differs (%d bytes back)", len(got))
	}
	got = retrieve(t, c, "big.bin", 77<<20+3)
	if !bytes.Equal(got, data[77<<20+3:]) {
		t.Fatal("ranged download after REST differs")
	}
}
