package ftp_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// An upload beyond the largest file size gets 552 and keeps nothing;
// a user's sessions beyond its limit get 421.
func TestFileSizeAndUserSessionLimits(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) {
		s.MaxFileSize = 10000
		s.MaxSessionsPerUser = 2
	})
	c := login(t, srv.Addr)
	if err := c.Stor("ok.bin", bytes.NewReader(make([]byte, 10000))); err != nil {
		t.Fatalf("10000 bytes: %v", err)
	}
	err := c.Stor("big.bin", bytes.NewReader(make([]byte, 10001)))
	if err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("10001 bytes: %v, want 552", err)
	}
	if _, err := c.FileSize("big.bin"); err == nil {
		t.Error("the refused upload left a file")
	}
	login(t, srv.Addr) // the second session of alice
	third := dial(t, srv.Addr)
	if err := third.Login("alice", "secret"); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("third session of one user: %v, want 421", err)
	}
	other := dial(t, srv.Addr)
	if err := other.Login("reader", "r"); err != nil {
		t.Fatalf("another user: %v", err)
	}
}

// Downloads are paced to the configured rate: never faster (the token
// bucket's guarantee, checked strictly), and not far slower (a loose
// bound: the machine may be busy).
func TestDownloadBandwidth(t *testing.T) {
	const perSec = 256 << 10
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.Bandwidth = ftp.Bandwidth{DownPerSession: perSec} })
	c := login(t, srv.Addr)
	data := make([]byte, 2*perSec)
	if err := c.Stor("f", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := c.Retr("f")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, r)
	r.Close()
	rate := float64(n) / time.Since(start).Seconds()
	t.Logf("download at %.0f B/s with a limit of %d B/s (%.2f)", rate, perSec, rate/perSec)
	// The bucket starts full with a burst of a tenth of a second.
	if n != int64(len(data)) || rate > perSec*1.15 {
		t.Fatalf("%d bytes at %.0f B/s: faster than the limit of %d", n, rate, perSec)
	}
	if rate < perSec*0.3 {
		t.Errorf("%.0f B/s: far slower than the limit of %d", rate, perSec)
	}
}
