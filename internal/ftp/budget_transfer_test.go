package ftp_test

import (
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// The stall rule is a minimum rate (issue #15): an upload that sends a
// little all the time (never "no byte for StallTimeout") but less than
// MinRate is aborted (426); what it held of the upload buffer budget is
// given back, and the bytes it sent are kept as a resumable partial.
func TestMinRateEndsTrickleS3(t *testing.T) {
	srv, store := startIdentityS3(t, s3fs.Options{}, func(s *ftp.Server) {
		s.StallTimeout = time.Second
		s.MinRate = 10 << 10
	})
	r := dialRaw(t, srv.Addr, "127.0.0.51")
	r.cmd(331, "USER mallory")
	r.cmd(230, "PASS m")
	d := startStorFrom(r, "slow.bin", "127.0.0.51")
	if _, err := d.Write(make([]byte, 64<<10+1)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // 1 KB/s: a byte every 100 ms or so, never silent for long
		defer close(done)
		for range 600 {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := d.Write(make([]byte, 100)); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	r.expect(426) // within 10 s
	deadline := time.Now().Add(10 * time.Second)
	for store.BufferInUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the aborted upload still holds %d bytes of budget", store.BufferInUse())
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, err := strconv.ParseInt(r.cmd(213, "SIZE slow.bin"), 10, 64)
	if err != nil || n <= 64<<10 {
		t.Fatalf("partial kept %d bytes (%v); more were received", n, err)
	}
}

// Without a minimum rate the old rule stands: a byte now and then keeps a
// transfer alive (the check above fails with MinRate 0).
func TestNoMinRateKeepsTrickle(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.StallTimeout = 500 * time.Millisecond })
	r := dialRaw(t, srv.Addr, "")
	r.login()
	d := r.startStor("slow.bin")
	for range 15 { // 1.5 s: three stall timeouts
		if _, err := d.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.Close()
	r.expect(226)
}

// Download buffers come from a budget capped per client IP: a client
// whose address holds its share gets 451 after BufferWait, with a WARN
// line naming it, while another address still downloads.
func TestDownloadBudgetPerIP(t *testing.T) {
	logs := &syncBuffer{}
	srv := startWith(t, memBackend, func(s *ftp.Server) {
		s.Logger = logs.logger()
		s.DownloadBuffers = 2 * ftp.DownloadBufferSize
		s.DownloadIPShare = 50 // one buffer per address
		s.DownloadUserShare = 100
		s.BufferWait = 300 * time.Millisecond
	})
	up := dialRaw(t, srv.Addr, "")
	up.login()
	up.stor("big.bin", randomBytes(t, 32<<20)) // more than loopback socket buffers hold

	a := dialRaw(t, srv.Addr, "127.0.0.61")
	a.login()
	addr := a.epsv()
	a.send("RETR big.bin")
	ad := dataDial(t, addr, "127.0.0.61") // never read: the download holds its buffer
	a.expect(150)

	a2 := dialRaw(t, srv.Addr, "127.0.0.61")
	a2.login()
	a2.epsv()
	a2.send("RETR big.bin")
	a2.expect(451)
	waitLog(t, logs, "refused: no buffer memory free", "client=127.0.0.61", "code=451")

	b := dialRaw(t, srv.Addr, "127.0.0.62")
	b.login()
	addr = b.epsv()
	b.send("RETR big.bin")
	bd := dataDial(t, addr, "127.0.0.62")
	b.expect(150)
	if n, err := io.Copy(io.Discard, bd); err != nil || n != 32<<20 {
		t.Fatalf("the other address read %d bytes: %v", n, err)
	}
	b.expect(226)

	if _, err := io.Copy(io.Discard, ad); err != nil {
		t.Fatal(err)
	}
	a.expect(226)
	// Its buffer back, the address downloads again.
	addr = a2.epsv()
	a2.send("RETR big.bin")
	a2d := dataDial(t, addr, "127.0.0.61")
	a2.expect(150)
	if n, err := io.Copy(io.Discard, a2d); err != nil || n != 32<<20 {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	a2.expect(226)
}
