package ftp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

func TestSessionLimits(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) {
		s.MaxSessions = 3
		s.MaxSessionsPerIP = 2
	})
	a := dialRaw(t, srv.Addr, "127.0.0.1")
	dialRaw(t, srv.Addr, "127.0.0.1")
	// A third from the same IP is refused before the greeting.
	connectRaw(t, srv.Addr, "127.0.0.1").expect(421)
	// Another IP still gets in, up to max_sessions.
	dialRaw(t, srv.Addr, "127.0.0.2")
	connectRaw(t, srv.Addr, "127.0.0.3").expect(421)
	// When a session ends, its slot is free again.
	a.cmd(221, "QUIT")
	deadline := time.Now().Add(5 * time.Second)
	for srv.Sessions() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	dialRaw(t, srv.Addr, "127.0.0.1").login()
}

func TestLoginThrottlePerIP(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.LoginFailuresPerIP = 2 })
	for range 2 {
		r := dialRaw(t, srv.Addr, "127.0.0.1")
		r.cmd(331, "USER alice")
		r.cmd(530, "PASS wrong")
	}
	r := dialRaw(t, srv.Addr, "127.0.0.1")
	r.cmd(331, "USER alice")
	r.cmd(421, "PASS secret") // even the right password waits out the window
	other := dialRaw(t, srv.Addr, "127.0.0.2")
	other.login() // other addresses are not affected
}

func TestSpoofedProxyHeaderRefused(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "")
	r.cmd(421, "PROXY TCP4 10.9.9.9 127.0.0.1 1234 21")
}

func TestTrustedLBDataConnection(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) {
		s.Passive.(*ftp.PortPool).TrustLB = []netip.Prefix{netip.MustParsePrefix("127.0.0.50/32")}
		s.Passive.(*ftp.PortPool).Last = s.Passive.(*ftp.PortPool).First // one port
	})
	r := dialRaw(t, srv.Addr, "127.0.0.1")
	r.login()
	addr := r.epsv()
	r.send("STOR vialb")
	d := dataDial(t, addr, "127.0.0.50") // arrives from the LB, not the client
	r.expect(150)
	d.Write([]byte("lb"))
	d.Close()
	r.expect(226)

	// Two sessions waiting on the port: a connection from the LB is
	// ambiguous and refused; both sessions time out with 425.
	r2 := dialRaw(t, srv.Addr, "127.0.0.2")
	r2.login()
	addr = r.epsv()
	r2.epsv()
	thief := dataDial(t, addr, "127.0.0.50")
	thief.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := thief.Read(make([]byte, 1)); err == nil {
		t.Fatalf("ambiguous LB connection was accepted (%d bytes)", n)
	}
}
