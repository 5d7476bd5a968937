package ftp_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// s3Direct is an s3fs server on a fresh bucket with the raw client for
// looking at the bucket; hook, if set, changes the store's client.
type s3Direct struct {
	srv    *ftptest.Server
	client *s3.Client
	bucket string
}

func startS3Direct(t *testing.T, hook func(*s3.Options)) *s3Direct {
	t.Helper()
	client, bucket := embeds3test.NewBucket(t)
	sc := client
	if hook != nil {
		sc = s3.New(client.Options(), hook)
	}
	store, err := s3fs.New(sc, s3fs.Options{Bucket: bucket, ResumeWindow: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	store.CheckConditional(context.Background())
	fsys := store.FS("/")
	return &s3Direct{srv: startWith(t, backend{"s3", func(*testing.T) ftp.FS { return fsys }}, nil), client: client, bucket: bucket}
}

// keys counts the bucket's partial markers and multipart uploads.
func (d *s3Direct) partials(t *testing.T) (markers, uploads int) {
	t.Helper()
	ctx := context.Background()
	out, err := d.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(d.bucket), Prefix: aws.String(".s3ftpd-partial/")})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := d.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(d.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Contents), len(ups.Uploads)
}

// vanish uploads data to name and disappears as a killed client does (both
// connections closed, the data one with a clean FIN), then waits until the
// server has ended that session: every byte was read and kept as a
// partial.
func vanish(t *testing.T, d *s3Direct, name string, data []byte) {
	t.Helper()
	before := d.srv.Sessions()
	r := dialRaw(t, d.srv.Addr, "")
	r.login()
	dc := r.startStor(name)
	if _, err := dc.Write(data); err != nil {
		t.Fatal(err)
	}
	// Vanish once the server has read every byte: on a loaded machine the
	// control EOF could otherwise end the transfer before it read any.
	deadline := time.Now().Add(10 * time.Second)
	for !uploadHasRead(d.srv.Server, int64(len(data))) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not read the upload's bytes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.conn.Close()
	dc.Close()
	deadline = time.Now().Add(10 * time.Second)
	for d.srv.Sessions() > before {
		if time.Now().After(deadline) {
			t.Fatal("the vanished client's session did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// uploadHasRead reports whether an upload in flight has read n bytes.
func uploadHasRead(srv *ftp.Server, n int64) bool {
	for _, si := range srv.Snapshot() {
		if x := si.Transfer; x != nil && x.Upload && x.Bytes >= n {
			return true
		}
	}
	return false
}

// After an interrupted overwrite SIZE, RETR and MLST describe the old
// file (curl reads SIZE before RETR and stops there); a resume at that
// size (curl -C - sends APPE, lftp put -c REST + STOR) is refused with
// 554 and changes nothing; a whole STOR works. A read-only user's SIZE
// deletes nothing, not even a stale partial.
func TestInterruptedOverwriteS3(t *testing.T) {
	d := startS3Direct(t, nil)
	c := login(t, d.srv.Addr)
	old, next := randomBytes(t, 5_000_000), randomBytes(t, 8_000_000)
	if err := c.Stor("f.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	vanish(t, d, "f.bin", next[:1_000_000])
	if m, _ := d.partials(t); m != 1 {
		t.Fatalf("%d partial markers after the interrupted overwrite, want 1", m)
	}
	if n, err := c.FileSize("f.bin"); err != nil || n != int64(len(old)) {
		t.Fatalf("SIZE = %d, %v; want the old file's %d", n, err, len(old))
	}
	if got := retrieve(t, c, "f.bin", 0); !bytes.Equal(got, old) {
		t.Fatalf("RETR: %d bytes, want the old %d", len(got), len(old))
	}
	if e, err := c.GetEntry("f.bin"); err != nil || e.Size != uint64(len(old)) {
		t.Fatalf("MLST: %+v, %v", e, err)
	}
	wantCode(t, c.Append("f.bin", bytes.NewReader(next[len(old):])), 554)
	wantCode(t, c.StorFrom("f.bin", bytes.NewReader(next[len(old):]), uint64(len(old))), 554)
	if got := retrieve(t, c, "f.bin", 0); !bytes.Equal(got, old) {
		t.Fatal("a refused resume changed the file")
	}
	if err := c.Stor("f.bin", bytes.NewReader(next)); err != nil {
		t.Fatal(err)
	}
	if got := retrieve(t, c, "f.bin", 0); !bytes.Equal(got, next) {
		t.Fatal("STOR after the refused resumes is not the new file")
	}

	// The partial is stale now; SIZE by a read-only user leaves it.
	ro := dial(t, d.srv.Addr)
	if err := ro.Login("reader", "r"); err != nil {
		t.Fatal(err)
	}
	if n, err := ro.FileSize("f.bin"); err != nil || n != int64(len(next)) {
		t.Fatalf("read-only SIZE = %d, %v", n, err)
	}
	if m, u := d.partials(t); m != 1 || u != 0 {
		t.Fatalf("after a read-only SIZE: %d markers, %d uploads; want the stale marker kept", m, u)
	}
	// A write that finds it discards it; APPE then appends to the file.
	if err := c.Append("f.bin", strings.NewReader("+tail")); err != nil {
		t.Fatal(err)
	}
	if got := retrieve(t, c, "f.bin", 0); !bytes.Equal(got, append(next, "+tail"...)) {
		t.Fatal("APPE after the whole upload")
	}
	if m, u := d.partials(t); m != 0 || u != 0 {
		t.Fatalf("left: %d markers, %d uploads", m, u)
	}
}

// An APPE whose file is replaced by another client's STOR while the data
// arrives fails with 450 and the other upload stays; so does a rename
// whose source is replaced between its copy and its delete.
func TestConcurrentChangeIs450S3(t *testing.T) {
	var renaming, replaced atomic.Bool
	var d *s3Direct
	d = startS3Direct(t, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("replaceSource",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
					middleware.InitializeOutput, middleware.Metadata, error) {
					if _, ok := in.Parameters.(*s3.DeleteObjectInput); ok && renaming.Load() && !replaced.Swap(true) {
						_, err := d.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(d.bucket),
							Key: aws.String("up.filepart"), Body: strings.NewReader("second")})
						if err != nil {
							return middleware.InitializeOutput{}, middleware.Metadata{}, err
						}
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	c, other := login(t, d.srv.Addr), login(t, d.srv.Addr)
	if err := c.Stor("log.txt", strings.NewReader("line 1\n")); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.Append("log.txt", pr) }()
	if _, err := pw.Write([]byte("line 2\n")); err != nil { // the APPE has begun
		t.Fatal(err)
	}
	if err := other.Stor("log.txt", strings.NewReader("replaced\n")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	wantCode(t, <-done, 450)
	if got := retrieve(t, c, "log.txt", 0); string(got) != "replaced\n" {
		t.Fatalf("after the refused APPE: %q", got)
	}

	if err := c.Stor("up.filepart", strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	renaming.Store(true)
	wantCode(t, c.Rename("up.filepart", "up"), 450)
	if !replaced.Load() {
		t.Fatal("the source was not replaced during the rename")
	}
	for name, want := range map[string]string{"up.filepart": "second", "up": "first"} {
		if got := retrieve(t, c, name, 0); string(got) != want {
			t.Fatalf("%s after the refused rename: %q, want %q", name, got, want)
		}
	}
}
