package embeds3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/backend/meta"
)

// These tests start stores one after the other (one per process at a
// time) and must not run in parallel.

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startStore runs a store and registers its Close.
func startStore(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := Start(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client returns a client for s whose connections are closed at cleanup
// (the gateway waits for open keep-alive connections when it stops).
func client(t *testing.T, s *Store) *s3.Client {
	c, tr := s.client()
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

func putObject(t *testing.T, c *s3.Client, bucket, key, body, contentType string) {
	t.Helper()
	_, err := c.PutObject(testCtx(t), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(body), ContentType: aws.String(contentType),
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func getObject(t *testing.T, c *s3.Client, bucket, key string) (string, string) {
	t.Helper()
	out, err := c.GetObject(testCtx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), aws.ToString(out.ContentType)
}

func TestStartDefaults(t *testing.T) {
	dir := t.TempDir()
	out := captureStdout(t)
	s := startStore(t, Options{Dir: dir})
	if got := out(); got != "" {
		t.Errorf("Start printed to stdout: %q", got)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(s.Endpoint()) {
		t.Errorf("endpoint %q", s.Endpoint())
	}
	if s.Bucket() != DefaultBucket || len(s.AccessKey()) != accessKeyLen || len(s.SecretKey()) != secretKeyLen {
		t.Errorf("bucket %q, key lengths %d/%d", s.Bucket(), len(s.AccessKey()), len(s.SecretKey()))
	}
	c := client(t, s)
	if _, err := c.HeadBucket(testCtx(t), &s3.HeadBucketInput{Bucket: aws.String(s.Bucket())}); err != nil {
		t.Fatalf("bucket not ready after Start: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "buckets", DefaultBucket)); err != nil {
		t.Errorf("layout: %v", err)
	}
	// A second store in the same process is refused before it touches
	// anything.
	if _, err := Start(testCtx(t), Options{Dir: t.TempDir(), Logger: quietLogger()}); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Start: %v", err)
	}
	// Wrong credentials are refused.
	bad, tr := (&Store{endpoint: s.endpoint, accessKey: "WRONG", secretKey: "wrong"}).client()
	defer tr.CloseIdleConnections()
	if _, err := bad.HeadBucket(testCtx(t), &s3.HeadBucketInput{Bucket: aws.String(s.Bucket())}); err == nil {
		t.Fatal("wrong credentials accepted")
	}
}

// Objects survive a restart on the same directory; at start the store
// removes temp files, restores interrupted completions and aborts the
// multipart uploads of the previous run.
func TestRestartKeepsDataAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, AccessKey: "AKTEST", SecretKey: "secret-test", Bucket: "data", Logger: quietLogger()}
	s, err := Start(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, tr := s.client()
	putObject(t, c, "data", "dir/obj.txt", "persisted", "text/plain")
	mp, err := c.CreateMultipartUpload(testCtx(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("data"), Key: aws.String("pending")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(testCtx(t), &s3.UploadPartInput{
		Bucket: aws.String("data"), Key: aws.String("pending"), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("part"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Simulate a crash: a temp file of an interrupted PutObject and an
	// upload claimed by an interrupted CompleteMultipartUpload.
	tmp := filepath.Join(dir, "buckets", "data", ".sgwtmp")
	orphan := filepath.Join(tmp, strings.Repeat("ab", 32)+".123456")
	if err := os.WriteFile(orphan, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	uploadDirs, _ := filepath.Glob(filepath.Join(tmp, "multipart", "*", aws.ToString(mp.UploadId)))
	if len(uploadDirs) != 1 {
		t.Fatalf("upload directory not found: %v", uploadDirs)
	}
	if err := os.Rename(uploadDirs[0], uploadDirs[0]+".token-1.inprogress"); err != nil {
		t.Fatal(err)
	}

	s = startStore(t, opts)
	c = client(t, s)
	body, ct := getObject(t, c, "data", "dir/obj.txt")
	if body != "persisted" || ct != "text/plain" {
		t.Fatalf("after restart: %q %q", body, ct)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan temp file still there: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "multipart", "*", "*"))
	if len(left) != 0 {
		t.Errorf("multipart leftovers: %v", left)
	}
	ups, err := c.ListMultipartUploads(testCtx(t), &s3.ListMultipartUploadsInput{Bucket: aws.String("data")})
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("stale uploads not aborted: %v %v", ups, err)
	}
	// Uploads of this run are left alone.
	if _, err := c.CreateMultipartUpload(testCtx(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("data"), Key: aws.String("new")}); err != nil {
		t.Fatal(err)
	}
}

// Without xattrs, metadata lives in Dir/meta, and a store that wrote there
// keeps using it.
func TestSideCarMetadata(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, AccessKey: "AKTEST", SecretKey: "secret-test", forceSideCar: true, Logger: quietLogger()}
	s, err := Start(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, tr := s.client()
	putObject(t, c, DefaultBucket, "a/b.html", "<p>", "text/html")
	tr.CloseIdleConnections()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !nonEmptyDir(filepath.Join(dir, "meta")) {
		t.Fatal("sidecar directory empty")
	}
	opts.forceSideCar = false // detected from the existing sidecar
	s = startStore(t, opts)
	body, ct := getObject(t, client(t, s), DefaultBucket, "a/b.html")
	if body != "<p>" || ct != "text/html" {
		t.Fatalf("after restart with sidecar: %q %q", body, ct)
	}
}

func TestXattrProbe(t *testing.T) {
	dir := t.TempDir()
	lay, err := prepareLayout(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	// ext4, xfs, btrfs and tmpfs (Linux ≥ 6.6) have user xattrs.
	t.Logf("metadata on %s: %s (probe: %v)", dir, lay.kind(), probeXattr(dir, 1))
	if lay.kind() == "xattr" && nonEmptyDir(filepath.Join(dir, "meta")) {
		t.Fatal("xattr layout created a sidecar")
	}
}

// A filesystem whose xattrs cannot hold the part offsets of a 10 000-part
// object (ext4: one 4 KiB block a file) gets a part limit; one that can
// (tmpfs) does not. The limit is checked on a real file: the attributes of
// an object completed from that many parts (s3fs's schedule squeezed into
// them, as partsize.go does) fit, those of three times as many do not.
// Runs on every filesystem at hand (t.TempDir's, and /dev/shm's tmpfs).
func TestLayoutPartLimit(t *testing.T) {
	dirs := []string{t.TempDir()}
	if shm, err := os.MkdirTemp("/dev/shm", "embeds3-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		dirs = append(dirs, shm)
	}
	for _, dir := range dirs {
		if probeXattr(dir, 1) != nil {
			t.Logf("%s: no user xattrs", dir)
			continue
		}
		big := probeXattr(dir, bigXattr) == nil
		lay, err := prepareLayout(filepath.Join(dir, "d"), false)
		if err != nil {
			t.Fatal(err)
		}
		if lay.kind() != "xattr" || (lay.maxParts == 0) != big {
			t.Fatalf("%s (xattrs of %d bytes: %v): layout %s, max parts %d", dir, bigXattr, big, lay.kind(), lay.maxParts)
		}
		t.Logf("%s: xattrs of %d bytes: %v; max parts %d", dir, bigXattr, big, lay.maxParts)
		if big {
			continue
		}
		if err := storeObjectAttrs(lay.root, int(lay.maxParts), lay.maxParts); err != nil {
			t.Errorf("%d parts: %v", lay.maxParts, err)
		}
		if err := storeObjectAttrs(lay.root, 3*int(lay.maxParts), lay.maxParts); err == nil {
			t.Errorf("%d parts fit too: the limit %d is far too low", 3*lay.maxParts, lay.maxParts)
		}
	}
}

// storeObjectAttrs writes on a new file in dir what versitygw keeps on an
// object completed from n parts of s3fs's schedule for a store of
// maxParts parts, with an ETag, Content-Type, checksum and user metadata
// of the sizes s3ftpd's objects carry.
func storeObjectAttrs(dir string, n int, maxParts int32) error {
	f, err := os.CreateTemp(dir, "obj-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	flat := 2048 * int(maxParts) / 10000
	per := max(1, 125*int(maxParts)/10000)
	offsets, size, total := make([]int64, n), int64(5<<20), int64(0)
	for i := range offsets {
		if i >= flat && (i-flat)%per == 0 && size < 64<<20 {
			size *= 2
		}
		total += min(size, 64<<20)
		if i == n-1 {
			total -= 12345 // the last part is shorter
		}
		offsets[i] = total
	}
	mp, err := backend.MarshalMpUploadMetadata(backend.MpUploadMetadata{
		UploadID: "6f1f0c2e-8f0a-4e55-9c1b-2a6d1b7e9f30", Parts: offsets}, false)
	if err != nil {
		return err
	}
	x := meta.XattrMeta{}
	for _, a := range []struct {
		name string
		val  []byte
	}{
		{"etag", []byte(`"0f343b0931126a20f133d67c2b018a3b-` + strconv.Itoa(n) + `"`)},
		{"content-type", []byte("application/octet-stream")},
		{"checksum", []byte(`{"type":"FULL_OBJECT","crc32":"AAAAAA=="}`)},
		{"X-Amz-Meta-S3ftpd-Mtime", []byte("20261202183945.123")},
		{"X-Amz-Meta-S3ftpd-Version", []byte("1764700785123456789-1234")},
		{"mp-metadata", mp},
	} {
		if err := x.StoreAttribute(f, "", "", a.name, a.val); err != nil {
			return fmt.Errorf("%s (%d bytes): %w", a.name, len(a.val), err)
		}
	}
	return nil
}

// A busy port is a start-up error, not a hang, and leaves the process free
// to start another store.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t0 := time.Now()
	_, err = Start(testCtx(t), Options{Dir: t.TempDir(), Listen: ln.Addr().String(), Logger: quietLogger()})
	if err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
	if time.Since(t0) > 10*time.Second {
		t.Fatalf("failure took %v", time.Since(t0))
	}
	t.Logf("busy port: %v", err)
	startStore(t, Options{Dir: t.TempDir()})
}

func TestDirRequired(t *testing.T) {
	if _, err := Start(testCtx(t), Options{}); err == nil {
		t.Fatal("Start without Dir succeeded")
	}
}

// captureStdout redirects os.Stdout until the returned function is called,
// which returns what was written.
func captureStdout(t *testing.T) func() string {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stdout
	os.Stdout = w
	t.Cleanup(func() { os.Stdout = orig })
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	return func() string {
		os.Stdout = orig
		w.Close()
		return <-done
	}
}

// With KeepUploads the multipart uploads of the previous run survive the
// restart (s3fs resumes or expires them).
func TestRestartKeepUploads(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, AccessKey: "AKTEST", SecretKey: "secret-test", Bucket: "data", KeepUploads: true, Logger: quietLogger()}
	s, err := Start(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, tr := s.client()
	mp, err := c.CreateMultipartUpload(testCtx(t), &s3.CreateMultipartUploadInput{Bucket: aws.String("data"), Key: aws.String("pending")})
	if err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = startStore(t, opts)
	ups, err := client(t, s).ListMultipartUploads(testCtx(t), &s3.ListMultipartUploadsInput{Bucket: aws.String("data")})
	if err != nil || len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != aws.ToString(mp.UploadId) {
		t.Fatalf("uploads after restart: %v %v, want the one of the previous run", ups, err)
	}
}

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	first, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if second, err := lockDir(dir); err == nil || !strings.Contains(err.Error(), "in use by another") {
		second.Close()
		t.Fatalf("a second lock on %s: %v; want refused", dir, err)
	}
	first.Close()
	again, err := lockDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
}
