package ftp_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// A PROXY v2 header from an untrusted address is refused like a v1 line
// (421 and a log line), not read as commands whose QUIT ends the session.
func TestUntrustedProxyV2Refused(t *testing.T) {
	var logs syncBuffer
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	r := dialRaw(t, srv.Addr, "")
	hdr := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x0a\x00\x00\x01\x7f\x00\x00\x01\x04\xd2\x00\x15")
	if _, err := r.conn.Write(hdr); err != nil {
		t.Fatal(err)
	}
	r.expect(421)
	if !strings.Contains(logs.String(), "refused PROXY header from an untrusted address") {
		t.Fatalf("no log line for the refused v2 header:\n%s", logs.String())
	}
	// A client that starts with a bare CRLF is still served.
	r2 := dialRaw(t, srv.Addr, "")
	r2.send("")
	r2.expect(502)
	r2.login()
}

// Refused passive connections from one peer leave one log line per
// interval, not one each.
func TestRefusedDataConnectionsLogRateLimited(t *testing.T) {
	var logs syncBuffer
	srv := startWith(t, memBackend, func(s *ftp.Server) {
		s.Passive.(*ftp.PortPool).Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	r := dialRaw(t, srv.Addr, "127.0.0.1")
	r.login()
	addr := r.epsv()
	for range 50 {
		c := dataDial(t, addr, "127.0.0.9")
		closedSoon(c, 5*time.Second)
	}
	if n := strings.Count(logs.String(), "refused data connection"); n != 1 {
		t.Fatalf("%d log lines for 50 refused connections from one peer, want 1", n)
	}
}
