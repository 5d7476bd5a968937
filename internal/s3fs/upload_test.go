package s3fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

const mib = 1 << 20

// writeChunks writes r to w in chunks of uneven size (Write path, not
// ReadFrom).
func writeChunks(w io.Writer, r io.Reader) error {
	buf := make([]byte, 100_003)
	for i := 0; ; i++ {
		n, err := r.Read(buf[:1+(i*7919)%len(buf)])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestUploadSizes(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize})
	sizes := []int64{0, 1, 4096, MinPartSize - 1, MinPartSize, MinPartSize + 1, 100 * mib}
	for i, size := range sizes {
		for _, viaReadFrom := range []bool{false, true} {
			if size == 100*mib && !viaReadFrom {
				continue // one 100 MiB pass is enough
			}
			name := fmt.Sprintf("/f%d-%v", size, viaReadFrom)
			t.Run(name[1:], func(t *testing.T) {
				u, err := e.fs.Create(e.ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				src := newPattern(size, byte(i))
				if viaReadFrom {
					n, err := io.Copy(u, src)
					if err != nil || n != size {
						t.Fatalf("copy: %d, %v", n, err)
					}
				} else if err := writeChunks(u, src); err != nil {
					t.Fatal(err)
				}
				if err := u.Commit(e.ctx); err != nil {
					t.Fatal(err)
				}
				sum, n := e.readSum(name)
				if n != size || sum != patternSum(size, byte(i)) {
					t.Fatalf("read back %d bytes, sum mismatch=%v", n, sum != patternSum(size, byte(i)))
				}
				fi, err := e.fs.Stat(e.ctx, name)
				if err != nil || fi.Size() != size || fi.IsDir() {
					t.Fatalf("stat: %v %v", fi, err)
				}
			})
		}
	}
	if n := e.pendingUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// The ReadFrom path must not copy through an intermediate buffer, and an
// upload holds budget for the blocks it received, not a whole part (issue
// #15: 64 KiB + 1 byte used to reserve 8 MiB).
func TestSmallUploadHoldsOneBlock(t *testing.T) {
	e := newEnv(t, Options{})
	u, err := e.fs.Create(e.ctx, "/small.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if got := e.store.budget.InUse(); got != blockSize {
		t.Fatalf("4 KiB upload holds %d bytes of budget, want %d", got, blockSize)
	}
	if _, err := u.Write(make([]byte, blockSize)); err != nil {
		t.Fatal(err)
	}
	if got := e.store.budget.InUse(); got != 2*blockSize {
		t.Fatalf("upload past one block holds %d bytes of budget, want two blocks (%d)", got, 2*blockSize)
	}
	if err := u.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("small.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if ct := aws.ToString(out.ContentType); ct != "text/plain; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
}

func TestOverwrite(t *testing.T) {
	e := newEnv(t, Options{})
	e.save("/f", []byte("old content"))
	e.save("/f", []byte("new"))
	mustEqual(t, "after overwrite", e.read("/f", 0), []byte("new"))
}

func TestAbortKeepsOldObject(t *testing.T) {
	for _, size := range []int64{1000, 12 * mib} { // PutObject path and multipart path
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			e := newEnv(t, Options{PartSize: MinPartSize})
			e.save("/f", []byte("old"))
			u, err := e.fs.Create(e.ctx, "/f")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(u, newPattern(size, 1)); err != nil {
				t.Fatal(err)
			}
			if size > MinPartSize && e.pendingUploads() != 1 {
				t.Fatalf("expected a multipart upload in progress")
			}
			if err := u.Abort(e.ctx); err != nil {
				t.Fatal(err)
			}
			if err := u.Abort(e.ctx); err != nil {
				t.Fatalf("second abort: %v", err)
			}
			if _, err := u.Write([]byte("x")); err == nil {
				t.Fatal("write after abort succeeded")
			}
			if err := u.Commit(e.ctx); err == nil {
				t.Fatal("commit after abort succeeded")
			}
			mustEqual(t, "after abort", e.read("/f", 0), []byte("old"))
			if n := e.pendingUploads(); n != 0 {
				t.Fatalf("%d multipart uploads left after abort", n)
			}
		})
	}
}

func TestAbortAfterCommitIsNoop(t *testing.T) {
	e := newEnv(t, Options{})
	u, _ := e.fs.Create(e.ctx, "/f")
	u.Write([]byte("data"))
	if err := u.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := u.Abort(e.ctx); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "after abort", e.read("/f", 0), []byte("data"))
}

// Cancelling the transfer context fails Write; the caller's Abort (with the
// same, cancelled context) still removes the multipart upload.
func TestCancelMidUpload(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize})
	ctx, cancel := context.WithCancel(e.ctx)
	u, err := e.fs.Create(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(u, newPattern(11*mib, 2)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.Copy(u, newPattern(6*mib, 2)); err == nil {
		t.Fatal("write after cancel succeeded")
	}
	if err := u.Commit(ctx); err == nil {
		t.Fatal("commit after cancel succeeded")
	}
	if err := u.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Stat(e.ctx, "/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat after cancelled upload: %v", err)
	}
	if n := e.pendingUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// A file must not hide a directory of the same name.
func TestCreateOverDirectory(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.fs.Mkdir(e.ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	u, err := e.fs.Create(e.ctx, "/d")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("x"))
	if err := u.Commit(e.ctx); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("commit over a directory: %v, want ErrExist", err)
	}
	if fi, err := e.fs.Stat(e.ctx, "/d"); err != nil || !fi.IsDir() {
		t.Fatalf("directory gone: %v %v", fi, err)
	}
}

// Many concurrent uploads through a budget of a little over two parts all
// complete (no deadlock), the budget is never exceeded and comes back to
// zero.
func TestBudgetBackpressure(t *testing.T) {
	const budgetSize = 2*MinPartSize + 2*blockSize
	e := newEnv(t, Options{PartSize: MinPartSize, BufferBudget: budgetSize, Concurrency: 2})
	ctx, cancel := context.WithTimeout(e.ctx, 90*time.Second)
	defer cancel()

	var peak int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			peak = max(peak, e.store.budget.InUse())
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	sizes := []int64{23 * mib, 17 * mib, 11 * mib, 64 << 10, 3 * mib, 12 * mib, 1, 9 * mib}
	var wg sync.WaitGroup
	errs := make([]error, len(sizes))
	for i, size := range sizes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("/p%d", i)
			u, err := e.fs.Create(ctx, name)
			if err == nil {
				if i%2 == 0 {
					_, err = io.Copy(u, newPattern(size, byte(i)))
				} else {
					err = writeChunks(u, newPattern(size, byte(i)))
				}
			}
			if err == nil {
				err = u.Commit(ctx)
			}
			if err != nil {
				u.Abort(ctx)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	close(stop)
	watch.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if sum, n := e.readSum(fmt.Sprintf("/p%d", i)); n != sizes[i] || sum != patternSum(sizes[i], byte(i)) {
			t.Fatalf("upload %d: read back %d bytes / wrong content", i, n)
		}
	}
	if peak > budgetSize {
		t.Fatalf("budget peak %d exceeds %d", peak, budgetSize)
	}
	if peak < MinPartSize {
		t.Fatalf("budget peak %d: the test did not exercise the budget", peak)
	}
	t.Logf("budget peak %d of %d", peak, budgetSize)
	if got := e.store.budget.InUse(); got != 0 {
		t.Fatalf("budget in use after all uploads: %d", got)
	}
}

// A Write blocked on an exhausted budget returns when Abort is called from
// another goroutine.
func TestAbortUnblocksWrite(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, BufferBudget: MinPartSize})
	hog, _ := e.fs.Create(e.ctx, "/hog")
	if _, err := hog.Write(make([]byte, 2*blockSize)); err != nil { // reserves the whole budget
		t.Fatal(err)
	}
	u, _ := e.fs.Create(e.ctx, "/blocked")
	done := make(chan error, 1)
	go func() { _, err := u.Write([]byte("x")); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("write did not block on the exhausted budget: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := u.Abort(e.ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("blocked write succeeded after abort")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("abort did not unblock the write")
	}
	if err := hog.Abort(e.ctx); err != nil {
		t.Fatal(err)
	}
}

// Our integrity check: the CRC32 we send with an unsigned payload is
// verified by the server (a wrong one is refused), for single and part
// uploads.
func TestServerVerifiesChecksum(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.store.client
	body := []byte("hello, world")
	_, err := c.PutObject(e.ctx, &s3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("k"), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ChecksumCRC32: aws.String("AAAAAA=="),
	}, unsignedPayload)
	if err == nil {
		t.Fatal("PutObject with a wrong CRC32 succeeded")
	}
	mp, err := c.CreateMultipartUpload(e.ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(e.bucket), Key: aws.String("m"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(e.ctx, &s3.UploadPartInput{
		Bucket: aws.String(e.bucket), Key: aws.String("m"), UploadId: mp.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ChecksumCRC32: aws.String("AAAAAA=="),
	}, unsignedPayload)
	if err == nil {
		t.Fatal("UploadPart with a wrong CRC32 succeeded")
	}
	if err := e.store.abortMultipart(e.ctx, "m", aws.ToString(mp.UploadId)); err != nil {
		t.Fatal(err)
	}
}

// Beyond the largest object the schedule allows, Write fails with
// ErrTooLarge and nothing is left behind.
func TestUploadTooLarge(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize})
	e.store.maxObject = 6 * mib
	u, err := e.fs.Create(e.ctx, "/big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(u, newPattern(7*mib, 3)); !errors.Is(err, ftp.ErrTooLarge) {
		t.Fatalf("copy: %v, want ErrTooLarge", err)
	}
	if err := u.Abort(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.pendingUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// A store that keeps only 3 parts an object (Options.MaxParts, as the
// embedded store on ext4 sets it) gets parts of 10, 20 and 40 MiB: 65 MiB
// are stored in 3 parts and read back whole; 71 MiB are ErrTooLarge.
func TestUploadWithinFewerParts(t *testing.T) {
	e := newEnv(t, Options{MaxParts: 3})
	if e.store.maxObject != 70*mib {
		t.Fatalf("largest upload %d MiB, want 70", e.store.maxObject/mib)
	}
	u, err := e.fs.Create(e.ctx, "/fits")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(u, newPattern(65*mib, 5)); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(newPattern(65*mib, 5))
	if got := e.read("/fits", 0); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, differ", len(got))
	}
	head, err := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket),
		Key: aws.String("fits"), PartNumber: aws.Int32(1)})
	if err != nil || aws.ToInt32(head.PartsCount) != 3 {
		t.Fatalf("parts: %v (%v)", head.PartsCount, err)
	}
	u, _ = e.fs.Create(e.ctx, "/too-big")
	if _, err := io.Copy(u, newPattern(71*mib, 6)); !errors.Is(err, ftp.ErrTooLarge) {
		t.Fatalf("copy: %v, want ErrTooLarge", err)
	}
	if err := u.Abort(e.ctx); err != nil {
		t.Fatal(err)
	}
}

// A Commit whose context is cancelled fails and stores nothing.
func TestCommitCancelled(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize})
	u, _ := e.fs.Create(e.ctx, "/f")
	if _, err := io.Copy(u, newPattern(7*mib, 4)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if err := u.Commit(ctx); err == nil {
		t.Fatal("cancelled commit succeeded")
	}
	if err := u.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Stat(e.ctx, "/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat: %v", err)
	}
	if n := e.pendingUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}
