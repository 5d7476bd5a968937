package ftp_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// startTinyBudget serves s3fs on the embedded store with an upload buffer
// budget of exactly one 5 MiB part: one upload that sent a byte less than
// a part holds all of it.
func startTinyBudget(t *testing.T, configure func(*ftp.Server)) *ftptest.Server {
	t.Helper()
	client, bucket := embeds3test.NewBucket(t)
	store, err := s3fs.New(client, s3fs.Options{Bucket: bucket, PartSize: 5 << 20, BufferBudget: 5 << 20,
		Concurrency: 1, ResumeWindow: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fsys := store.FS("/")
	return startWith(t, backend{"s3", func(*testing.T) ftp.FS { return fsys }}, configure)
}

// transferred is the byte count a STAT during a transfer reports.
func (r *raw) transferred() int64 {
	r.t.Helper()
	msg := r.cmd(213, "STAT")
	f := strings.Fields(msg)
	for i, w := range f {
		if strings.HasPrefix(w, "bytes") && i > 0 {
			n, _ := strconv.ParseInt(f[i-1], 10, 64)
			return n
		}
	}
	r.t.Fatalf("STAT during a transfer: %q", msg)
	return 0
}

// holdSize fills the tiny budget's part but for 200 KiB (more than the
// trickle of TestStallWhileBudgetExhaustedS3 sends): the upload holds all
// but three blocks, which the budget keeps for it to finish its part
// (budget.go's safety check), and sends nothing to S3.
const holdSize = 5<<20 - 200<<10

// holdBudget starts an upload that takes the whole budget and keeps it:
// it waits until the server has read holdSize bytes (budget grows with the
// bytes received) and returns the data connection.
func holdBudget(t *testing.T, addr string) (*raw, net.Conn) {
	t.Helper()
	a := dialRaw(t, addr, "")
	a.login()
	d := a.startStor("holder.bin")
	if _, err := d.Write(randomBytes(t, holdSize)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.transferred() < holdSize {
		if time.Now().After(deadline) {
			t.Fatal("the holder's bytes never reached the upload")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a, d
}

// startBlocked starts an upload that must wait for budget.
func startBlocked(t *testing.T, addr string) (*raw, net.Conn) {
	t.Helper()
	b := dialRaw(t, addr, "")
	b.login()
	d := b.startStor("blocked.bin")
	if _, err := d.Write(randomBytes(t, 128<<10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := b.transferred(); n != 0 {
		t.Fatalf("the second upload read %d bytes; the budget should be exhausted", n)
	}
	return b, d
}

// ABOR reaches a transfer that waits for upload buffer budget (RFC 959
// §4.1.3: 426 for the transfer, then 226 for ABOR), and the session goes on.
func TestAborWhileBudgetExhaustedS3(t *testing.T) {
	srv := startTinyBudget(t, nil)
	a, ad := holdBudget(t, srv.Addr)
	b, _ := startBlocked(t, srv.Addr)

	start := time.Now()
	b.send("ABOR")
	b.expect(426) // expect waits at most 10 s
	b.expect(226)
	t.Logf("ABOR answered after %v", time.Since(start).Round(time.Millisecond))
	b.cmd(200, "NOOP")
	b.cmd(550, "SIZE blocked.bin")

	// The holder is unaffected.
	ad.Write(randomBytes(t, 1<<20))
	ad.Close()
	a.expect(226)
	if n := a.cmd(213, "SIZE holder.bin"); n != strconv.Itoa(holdSize+1<<20) {
		t.Fatalf("SIZE holder.bin = %s", n)
	}
}

// The stall timer ends a transfer that moves no byte because it waits for
// budget, while the budget's holder keeps moving bytes.
func TestStallWhileBudgetExhaustedS3(t *testing.T) {
	srv := startTinyBudget(t, func(s *ftp.Server) { s.StallTimeout = time.Second })
	a, ad := holdBudget(t, srv.Addr)
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() { // the holder trickles: it never stalls
		defer close(trickled)
		for range 150 {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := ad.Write(make([]byte, 1024)); err != nil {
				return
			}
		}
	}()
	b, _ := startBlocked(t, srv.Addr)
	start := time.Now()
	b.expect(426) // within 10 s
	t.Logf("stalled transfer ended %v after it was seen blocked", time.Since(start).Round(time.Millisecond))
	b.cmd(200, "NOOP")
	close(stop)
	<-trickled
	ad.Close()
	a.expect(226)
}

// ABOR reaches a download whose S3 read hangs (the store stopped answering).
func TestAborDuringHungStoreReadS3(t *testing.T) {
	fsys, frz := frozenS3(t, s3fs.Options{})
	srv := startWith(t, backend{"s3", func(*testing.T) ftp.FS { return fsys }}, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.stor("big.bin", randomBytes(t, 32<<20))

	addr := r.epsv()
	r.send("RETR big.bin")
	d := dataDial(t, addr, "")
	r.expect(150)
	buf := make([]byte, 1<<20)
	if _, err := d.Read(buf); err != nil {
		t.Fatal(err)
	}
	frz.freeze(true)
	drainData(t, d, 500*time.Millisecond, 20*time.Second) // what was in flight
	r.send("ABOR")
	r.expect(426)
	r.expect(226)
	frz.freeze(false)
	r.cmd(213, "SIZE big.bin")
}

// ABOR reaches an upload whose store stops answering just as the upload
// outgrows its first part (CreateMultipartUpload hangs).
func TestAborWhileMultipartStartHangsS3(t *testing.T) {
	fsys, frz := frozenS3(t, s3fs.Options{PartSize: 5 << 20})
	srv := startWith(t, backend{"s3", func(*testing.T) ftp.FS { return fsys }}, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.stor("keep.bin", []byte("old"))
	d := r.startStor("keep.bin")
	if _, err := d.Write(randomBytes(t, 1<<20)); err != nil {
		t.Fatal(err)
	}
	frz.freeze(true)
	defer frz.freeze(false)
	go d.Write(randomBytes(t, 6<<20)) // fills the first part: the multipart upload starts
	deadline := time.Now().Add(10 * time.Second)
	for r.transferred() < 5<<20 {
		if time.Now().After(deadline) {
			t.Fatal("the upload never filled its first part")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // into CreateMultipartUpload
	start := time.Now()
	r.send("ABOR")
	r.expect(426)
	r.expect(226)
	t.Logf("ABOR answered after %v", time.Since(start).Round(time.Millisecond))
	frz.freeze(false)
	if msg := r.cmd(213, "SIZE keep.bin"); msg != "3" {
		t.Fatalf("SIZE keep.bin = %s; want the old 3 bytes", msg)
	}
	// The multipart upload the store creates late, once it answers again,
	// is aborted.
	time.Sleep(time.Second)
	client := embeds3test.Client(t)
	deadline = time.Now().Add(20 * time.Second)
	for {
		ups, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(frz.bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ups.Uploads) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d multipart uploads left behind", len(ups.Uploads))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The stall timer ends a download whose S3 read hangs.
func TestStallDuringHungStoreReadS3(t *testing.T) {
	fsys, frz := frozenS3(t, s3fs.Options{})
	srv := startWith(t, backend{"s3", func(*testing.T) ftp.FS { return fsys }}, func(s *ftp.Server) {
		s.StallTimeout = time.Second
	})
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.stor("big.bin", randomBytes(t, 32<<20))
	addr := r.epsv()
	r.send("RETR big.bin")
	d := dataDial(t, addr, "")
	r.expect(150)
	frz.freeze(true)
	defer frz.freeze(false)
	go io.Copy(io.Discard, d) // the client reads all it gets
	start := time.Now()
	r.expect(426) // within 10 s
	t.Logf("426 after %v", time.Since(start).Round(time.Millisecond))
	r.cmd(200, "NOOP")
}

// A client that vanishes (control and data closed) while its upload waits
// for budget is torn down, and its waiting upload leaves nothing behind.
func TestVanishWhileBudgetExhaustedS3(t *testing.T) {
	srv := startTinyBudget(t, nil)
	a, ad := holdBudget(t, srv.Addr)
	b, bd := startBlocked(t, srv.Addr)
	before := srv.Sessions()
	b.conn.Close()
	bd.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Sessions() >= before {
		if time.Now().After(deadline) {
			t.Fatalf("the vanished session is still open (%d sessions)", srv.Sessions())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ad.Close()
	a.expect(226)
	a.cmd(550, "SIZE blocked.bin")
}
