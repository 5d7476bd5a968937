package s3fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

func TestMain(m *testing.M) { embeds3test.Main(m) }

// env is one test's store on a fresh bucket of the shared embedded S3, or
// of the versitygw process when the test runs under TestVersityGWProcess.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  *Store
	fs     ftp.FS
	client *s3.Client // raw client for setup and assertions
	bucket string
	srv    *server
}

// newEnv builds a Store with NewClient (the production client) on a new
// bucket. opts.Bucket is filled in. At the end it checks that every byte of
// upload budget was returned.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	srv := serverFor(t)
	raw, bucket := srv.newBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	client, err := NewClient(ctx, ClientOptions{
		Endpoint: srv.endpoint, PathStyle: true, AccessKey: srv.access, SecretKey: srv.secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Bucket = bucket
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		CloseIdleConnections(client) // or the gateway waits for them at exit
		if n := s.budget.InUse(); n != 0 {
			t.Errorf("budget still holds %d bytes after the test", n)
		}
	})
	return &env{t: t, ctx: ctx, store: s, fs: s.FS("/"), client: raw, bucket: bucket, srv: srv}
}

// reopen is a second Store on e's bucket, as after a restart of the
// process: nothing of e.store's memory carries over.
func (e *env) reopen(opts Options) *Store {
	e.t.Helper()
	opts.Bucket = e.bucket
	if opts.Logger == nil {
		opts.Logger = e.store.log
	}
	s, err := New(e.store.client, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// put stores an object directly (bypassing s3fs).
func (e *env) put(key, body string) {
	e.t.Helper()
	_, err := e.client.PutObject(e.ctx, &s3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String(key), Body: strings.NewReader(body),
	})
	if err != nil {
		e.t.Fatalf("put %s: %v", key, err)
	}
}

// read returns a file's content through FS.Open.
func (e *env) read(name string, offset int64) []byte {
	e.t.Helper()
	r, err := e.fs.Open(e.ctx, name, offset)
	if err != nil {
		e.t.Fatalf("open %s@%d: %v", name, offset, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatalf("read %s: %v", name, err)
	}
	return b
}

// save writes body to name through Create/Write/Commit.
func (e *env) save(name string, body []byte) {
	e.t.Helper()
	u, err := e.fs.Create(e.ctx, name)
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	if _, err := u.Write(body); err != nil {
		e.t.Fatalf("write %s: %v", name, err)
	}
	if err := u.Commit(e.ctx); err != nil {
		e.t.Fatalf("commit %s: %v", name, err)
	}
}

// pendingUploads counts the bucket's unfinished multipart uploads.
func (e *env) pendingUploads() int {
	e.t.Helper()
	out, err := e.client.ListMultipartUploads(e.ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		e.t.Fatalf("list multipart uploads: %v", err)
	}
	return len(out.Uploads)
}

// list collects a directory listing as "name" or "name/" entries.
func (e *env) list(dir string) ([]string, error) {
	var names []string
	err := e.fs.List(e.ctx, dir, func(fi fs.FileInfo) error {
		n := fi.Name()
		if fi.IsDir() {
			n += "/"
		}
		names = append(names, n)
		return nil
	})
	return names, err
}

// pattern is a cheap deterministic byte stream: a base buffer whose odd
// length shifts the content of every part, so misplaced parts show up.
type pattern struct {
	base []byte
	off  int64
	size int64
}

func newPattern(size int64, seed byte) *pattern {
	base := make([]byte, 1<<20+7)
	x := uint32(seed) + 1
	for i := range base {
		x = x*1664525 + 1013904223
		base[i] = byte(x >> 24)
	}
	return &pattern{base: base, size: size}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.size-p.off)]
	n := 0
	for n < len(b) {
		i := int((p.off + int64(n)) % int64(len(p.base)))
		n += copy(b[n:], p.base[i:])
	}
	p.off += int64(n)
	return n, nil
}

// sum is the SHA-256 of a pattern of size bytes.
func patternSum(size int64, seed byte) [32]byte {
	h := sha256.New()
	io.Copy(h, newPattern(size, seed))
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// readSum is the SHA-256 of a file read through FS.Open.
func (e *env) readSum(name string) ([32]byte, int64) {
	e.t.Helper()
	r, err := e.fs.Open(e.ctx, name, 0)
	if err != nil {
		e.t.Fatalf("open %s: %v", name, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		e.t.Fatalf("read %s: %v", name, err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, n
}

func mustEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, trunc(got), trunc(want))
	}
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
