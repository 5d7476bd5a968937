package ftp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// A client that never logs in is closed at the login deadline however
// often it sends NOOP; before login NOOP does not reset the idle timer.
func TestLoginDeadline(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*ftp.Server)
	}{
		{"login timeout", func(s *ftp.Server) { s.LoginTimeout = 300 * time.Millisecond }},
		{"idle timeout", func(s *ftp.Server) { s.IdleTimeout = 300 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startWith(t, memBackend, tc.configure)
			r := dialRaw(t, srv.Addr, "")
			for range 200 { // 10 s at most
				r.send("NOOP")
				_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				code, _, err := r.tp.ReadResponse(0)
				if err != nil && code == 0 {
					t.Fatalf("read: %v", err)
				}
				if code == 421 {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatal("a client sending only NOOP kept its session past the deadline")
		})
	}
}

// gatedUsers holds every password check until released, counting how
// many run at once.
type gatedUsers struct {
	ftptest.Users
	gate chan struct{}
	mu   sync.Mutex
	now  int
	max  int
}

func (g *gatedUsers) Login(ctx context.Context, r ftp.LoginRequest) (*ftp.Account, error) {
	g.mu.Lock()
	g.now++
	g.max = max(g.max, g.now)
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.now--; g.mu.Unlock() }()
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Users.Login(ctx, r)
}

// Password checks run at most MaxPasswordChecks at once, plus as many for
// fresh clients (no failed login, no other check under way from their
// address); a PASS that gets no turn within
// LoginCheckWait is answered 421 instead of waiting.
func TestPasswordChecksBounded(t *testing.T) {
	fsys := ftptest.NewMemFS()
	g := &gatedUsers{gate: make(chan struct{}), Users: ftptest.Users{Passwords: map[string]string{"alice": "secret"},
		FS: func(string) ftp.FS { return fsys }}}
	srv := ftptest.StartServer(t, g, func(s *ftp.Server) {
		s.MaxPasswordChecks = 1
		s.LoginCheckWait = 300 * time.Millisecond
	})
	waitChecks := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for g.active() != n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if g.active() != n {
			t.Fatalf("%d password checks running, want %d", g.active(), n)
		}
	}
	// 127.0.0.3 fails once: from now on it is no fresh client.
	suspect := dialRaw(t, srv.Addr, "127.0.0.3")
	suspect.cmd(331, "USER alice")
	suspect.send("PASS wrong")
	g.gate <- struct{}{}
	suspect.expect(530)

	a := dialRaw(t, srv.Addr, "127.0.0.1")
	a.cmd(331, "USER alice")
	a.send("PASS secret") // the shared turn
	waitChecks(1)
	a2 := dialRaw(t, srv.Addr, "127.0.0.1")
	a2.cmd(331, "USER alice")
	a2.cmd(421, "PASS secret") // its address has a check under way: not fresh
	suspect.cmd(331, "USER alice")
	suspect.cmd(421, "PASS secret") // no turn for it in time
	b := dialRaw(t, srv.Addr, "127.0.0.2")
	b.cmd(331, "USER alice")
	b.send("PASS secret") // a fresh client: the kept turn
	waitChecks(2)
	c := dialRaw(t, srv.Addr, "127.0.0.4")
	c.cmd(331, "USER alice")
	c.cmd(421, "PASS secret") // every turn taken
	g.gate <- struct{}{}
	g.gate <- struct{}{}
	a.expect(230)
	b.expect(230)
	if g.max != 2 {
		t.Fatalf("%d password checks ran at once, want 2", g.max)
	}
}

func (g *gatedUsers) active() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

// Once the process saw LoginFailuresGlobal failures this minute, clients
// that failed are refused before their password is checked (even a right
// one); a client with no failure still logs in.
func TestGlobalLoginFailureRate(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.LoginFailuresGlobal = 2 })
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		r := dialRaw(t, srv.Addr, ip)
		r.cmd(331, "USER alice")
		r.cmd(530, "PASS wrong")
	}
	again := dialRaw(t, srv.Addr, "127.0.0.1")
	again.cmd(331, "USER alice")
	again.cmd(421, "PASS secret")
	dialRaw(t, srv.Addr, "127.0.0.3").login()
}
