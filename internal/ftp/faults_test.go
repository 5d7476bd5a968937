package ftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// faultyS3 is an FTP server on s3fs whose S3 requests pass a
// fault-injection proxy in front of the embedded store. The S3 client is
// the production one (s3fs.NewClient: SDK retries, stall deadline); raw
// talks to the store directly, for setup and checks.
type faultyS3 struct {
	srv    *ftptest.Server
	proxy  *s3faults.Proxy
	raw    *s3.Client
	bucket string
	logs   *syncBuffer // the FTP server's log
}

// Store faults in these tests: the stall deadline is short so that
// stalled requests end quickly.
const testStall = 2 * time.Second

func startFaultyS3(t *testing.T, o s3fs.Options) *faultyS3 {
	t.Helper()
	raw, bucket := embeds3test.NewBucket(t)
	p, err := s3faults.Start(embeds3test.Store().Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	st := embeds3test.Store()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := s3fs.NewClient(ctx, s3fs.ClientOptions{
		Endpoint: p.URL, PathStyle: true, AccessKey: st.AccessKey(), SecretKey: st.SecretKey(), StallTimeout: testStall,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3fs.CloseIdleConnections(c) })
	o.Bucket = bucket
	logs := &syncBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	store, err := s3fs.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	// What the store honours of conditional requests is probed once, at
	// the first need; do it now, so that faults hit the commands' requests.
	store.CheckConditional(ctx)
	fsys := store.FS("/")
	users := ftptest.Users{Passwords: map[string]string{"alice": "secret"}, FS: func(string) ftp.FS { return fsys }}
	srv := ftptest.StartServer(t, users, func(s *ftp.Server) { s.Logger = o.Logger })
	return &faultyS3{srv: srv, proxy: p, raw: raw, bucket: bucket, logs: logs}
}

// syncBuffer is a bytes.Buffer for a logger used from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// put stores an object directly.
func (f *faultyS3) put(t *testing.T, key string, body []byte) {
	t.Helper()
	_, err := f.raw.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(f.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// get reads an object directly; nil when it does not exist.
func (f *faultyS3) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := f.raw.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchKey") || strings.Contains(err.Error(), "404") {
			return nil
		}
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leftovers returns the bucket's unfinished multipart uploads that no
// partial marker accounts for (leaks), and how many partials there are.
func (f *faultyS3) leftovers(t *testing.T) (leaked []string, partials int) {
	t.Helper()
	ctx := context.Background()
	kept := map[string]bool{}
	// Markers only (Delimiter "/"): the upload records under up/ are the
	// janitor's bookkeeping, written and deleted in the background.
	lo, err := f.raw.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(f.bucket),
		Prefix: aws.String(".s3ftpd-partial/"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range lo.Contents {
		h, err := f.raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		partials++
		if id := h.Metadata["s3ftpd-upload-id"]; id != "" {
			kept[id] = true
		}
	}
	mu, err := f.raw.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range mu.Uploads {
		if !kept[aws.ToString(u.UploadId)] {
			leaked = append(leaked, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
		}
	}
	return leaked, partials
}

// replyCode is the FTP reply code of a client error (0: none).
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// bounded runs f, failing the test if it takes longer than limit.
func bounded(t *testing.T, limit time.Duration, what string, f func() error) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err, time.Since(start)
	case <-time.After(limit):
		t.Fatalf("%s: no reply after %v", what, limit)
		return nil, 0
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// retr downloads name completely.
func retr(c *client.ServerConn, name string) ([]byte, error) {
	r, err := c.Retr(name)
	if err != nil {
		return nil, err
	}
	b, rerr := io.ReadAll(r)
	if cerr := r.Close(); cerr != nil {
		return b, cerr
	}
	return b, rerr
}
