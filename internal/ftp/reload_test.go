package ftp_test

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// SetLimits on a serving server: the next upload, login and greeting see
// the new limits; a session already in has its own.
func TestSetLimitsWhileServing(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.MaxFileSize = 10 })
	c := login(t, srv.Addr)
	if err := c.Stor("f", bytes.NewReader(make([]byte, 100))); err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("100 bytes over a limit of 10: %v, want 552", err)
	}
	l := srv.CurrentLimits()
	l.MaxFileSize, l.MaxSessionsPerUser, l.Welcome = 1000, 1, "Example Corp.\nAuthorised use only."
	srv.SetLimits(l)
	if err := c.Stor("f", bytes.NewReader(make([]byte, 100))); err != nil {
		t.Fatalf("100 bytes after raising the limit to 1000: %v", err)
	}
	// alice is logged in once: a limit of 1 refuses her second session.
	second := dial(t, srv.Addr)
	if err := second.Login("alice", "secret"); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("second session after max_sessions_per_user 1: %v, want 421", err)
	}
	conn, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	var got []string
	for range 5 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("greeting: %v after %q", err, got)
		}
		got = append(got, strings.TrimRight(line, "\r\n"))
		if strings.HasPrefix(line, "220 ") {
			break
		}
	}
	if want := []string{"220-Example Corp.", "220 Authorised use only."}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("greeting %q, want %q (RFC 959 §4.2 multi-line)", got, want)
	}
}
