package ftp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// The protocol tests also run against the real storage path: s3fs on the
// embedded S3-compatible store (one per test binary, a bucket per test).
func TestMain(m *testing.M) { embeds3test.Main(m) }

var s3Backend = backend{"s3", func(t *testing.T) ftp.FS {
	client, bucket := embeds3test.NewBucket(t)
	// As configured by default: interrupted uploads are kept as partials.
	store, err := s3fs.New(client, s3fs.Options{Bucket: bucket, Prefix: "tenant", ResumeWindow: 24 * time.Hour})
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

func TestExtensionsS3(t *testing.T) { testExtensions(t, s3Backend) }

// A client that vanishes halfway through a 10 MiB upload of a new name
// leaves a partial; SIZE reports it, REST + STOR sends only the rest, and
// the object is byte-exact. Until then RETR finds no file. (For an
// interrupted overwrite see TestInterruptedOverwriteS3.)
func TestResumeInterruptedUploadS3(t *testing.T) {
	srv := startWith(t, s3Backend, nil)
	c := login(t, srv.Addr)
	data := randomBytes(t, 10<<20)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	d := r.startStor("doc.bin")
	if _, err := d.Write(data[:6<<20+12345]); err != nil {
		t.Fatal(err)
	}
	d.(*net.TCPConn).SetLinger(0)
	r.conn.(*net.TCPConn).SetLinger(0)
	d.Close() // killed: both connections reset
	r.conn.Close()

	var size int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := c.FileSize("doc.bin")
		if err == nil {
			size = n
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no resumable partial reported by SIZE (last %d, %v)", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if size <= 0 || size > 6<<20+12345 {
		t.Fatalf("partial size %d, sent %d", size, 6<<20+12345)
	}
	if _, err := c.Retr("doc.bin"); err == nil {
		t.Fatal("during the partial, RETR serves a file")
	}
	if err := c.StorFrom("doc.bin", bytes.NewReader(data[size:]), uint64(size)); err != nil {
		t.Fatalf("REST %d + STOR: %v", size, err)
	}
	if got := retrieve(t, c, "doc.bin", 0); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("resumed upload differs: %d bytes, want %d", len(got), len(data))
	}
	if n, err := c.FileSize("doc.bin"); err != nil || n != int64(len(data)) {
		t.Fatalf("SIZE after resume = %d, %v", n, err)
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

// An upload aborted in the middle of a multipart upload (ABOR, or the
// client vanishing) leaves the old object and no multipart upload behind.
func TestAbortMultipartS3(t *testing.T) {
	client, bucket := embeds3test.NewBucket(t)
	store, err := s3fs.New(client, s3fs.Options{Bucket: bucket, PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	fsys := store.FS("/")
	srv := startWith(t, backend{"s3", func(*testing.T) ftp.FS { return fsys }}, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.stor("keep", []byte("original"))

	for _, vanish := range []bool{false, true} {
		d := r.startStor("keep")
		if _, err := d.Write(randomBytes(t, 12<<20)); err != nil { // two parts sent
			t.Fatal(err)
		}
		if vanish {
			r.conn.Close()
			time.Sleep(20 * time.Millisecond)
			d.Close()
			r = dialRaw(t, srv.Addr, "")
			r.login()
		} else {
			r.conn.Write([]byte("ABOR\r\n"))
			r.expect(426)
			r.expect(226)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ups, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("vanish=%v: %d multipart uploads left behind", vanish, len(ups.Uploads))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if msg := r.cmd(213, "SIZE keep"); msg != "8" {
			t.Fatalf("vanish=%v: SIZE = %s; want the old 8 bytes", vanish, msg)
		}
	}
}
