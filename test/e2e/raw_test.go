package e2e

import (
	"net"
	"strings"
	"testing"
	"time"
)

// rawConn is a minimal control connection for exact protocol steps.
type rawConn struct {
	t   *testing.T
	c   net.Conn
	buf []byte
}

func (r *rawConn) send(line string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(line + "\r\n")); err != nil {
		r.t.Fatal(err)
	}
}

// expect reads to the end of one reply and checks its start.
func (r *rawConn) expect(prefix string) string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if i := strings.Index(string(r.buf), "\r\n"); i >= 0 {
			line := string(r.buf[:i])
			r.buf = r.buf[i+2:]
			if len(line) < 4 || line[3] != ' ' {
				continue
			}
			if !strings.HasPrefix(line, prefix) {
				r.t.Fatalf("want %q, got %q", prefix, line)
			}
			return line
		}
		tmp := make([]byte, 1024)
		n, err := r.c.Read(tmp)
		if err != nil {
			r.t.Fatalf("want %q: %v", prefix, err)
		}
		r.buf = append(r.buf, tmp[:n]...)
	}
}

func (r *rawConn) cmd(line, want string) string {
	r.t.Helper()
	r.send(line)
	return r.expect(want)
}
