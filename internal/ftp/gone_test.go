package ftp_test

import (
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// A client that vanishes while its command waits for a store that stopped
// answering is torn down at once: its per-IP slot is free again.
func TestClientGoneDuringHungCommandS3(t *testing.T) {
	fsys, frz := frozenS3(t, s3fs.Options{})
	srv := startWith(t, backend{"s3", func(*testing.T) ftp.FS { return fsys }}, func(s *ftp.Server) {
		s.MaxSessionsPerIP = 1
	})
	r := dialRaw(t, srv.Addr, "127.0.0.5")
	r.login()
	frz.freeze(true)
	defer frz.freeze(false)
	r.send("SIZE hangs.bin")
	time.Sleep(200 * time.Millisecond)
	r.conn.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c := connectRaw(t, srv.Addr, "127.0.0.5")
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		code, _, err := c.tp.ReadResponse(0)
		c.conn.Close()
		if err == nil && code == 220 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the vanished client's slot was not freed: got %d %v (sessions %d)", code, err, srv.Sessions())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
