package ftptest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Users is a test Authenticator: name → password, every user on one FS.
type Users struct {
	Passwords map[string]string
	ReadOnly  map[string]bool
	TLS       map[string]bool     // users that must use TLS
	Deny      map[string]ftp.Perm // what a user may not do
	FS        func(user string) ftp.FS
}

func (u Users) Login(_ context.Context, r ftp.LoginRequest) (*ftp.Account, error) {
	if pw, ok := u.Passwords[r.User]; !ok || pw != r.Password {
		return nil, ftp.ErrBadLogin
	}
	return &ftp.Account{Name: r.User, FS: u.FS(r.User), ReadOnly: u.ReadOnly[r.User], TLSRequired: u.TLS[r.User],
		Deny: u.Deny[r.User]}, nil
}

// Server is a running test server.
type Server struct {
	*ftp.Server
	Addr string // control address, 127.0.0.1:port
	Pool *ftp.PortPool
}

// StartServer serves FTP on a free loopback port with a passive pool of
// ports found free, and stops it at the end of the test. configure may
// change the server before it starts (it may be nil).
func StartServer(t testing.TB, auth ftp.Authenticator, configure func(*ftp.Server)) *Server {
	t.Helper()
	ln, err := ftp.Listen(context.Background(), "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := FreePortRange(t, 8)
	pool := &ftp.PortPool{IP: netip.MustParseAddr("127.0.0.1"), First: first, Last: first + 7}
	srv := &ftp.Server{
		Auth:           auth,
		Passive:        pool,
		AllowActive:    true,
		LoginFailDelay: time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		srv.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if configure != nil {
		configure(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, ftp.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		pool.Close()
	})
	return &Server{Server: srv, Addr: ln.Addr().String(), Pool: pool}
}

// FreePortRange finds n consecutive ports free on 127.0.0.1 (see
// PortRange) or fails the test.
func FreePortRange(t testing.TB, n int) int {
	t.Helper()
	first, err := PortRange(n)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// PortRange finds n consecutive ports free on 127.0.0.1 (best effort:
// they are closed again before use). They are taken below Linux's
// ephemeral range (32768–60999), so a port anyone gets from ":0" for
// another listener can never fall inside a range handed out before.
func PortRange(n int) (int, error) {
	const low, high = 20000, 32768
	for range 200 {
		first := low + rand.IntN(high-low-n)
		ok := true
		for p := first; p < first+n && ok; p++ {
			c, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(p)))
			if err != nil {
				ok = false
				continue
			}
			c.Close()
		}
		if ok {
			return first, nil
		}
	}
	return 0, errors.New("no free port range below the ephemeral ports")
}

func itoa(n int) string { return strconv.Itoa(n) }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
