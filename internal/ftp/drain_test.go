package ftp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// stuckListener hands out connections whose writes can be made to block,
// as writes to a peer with a full TCP window do: until the write deadline
// passes or the connection is closed.
type stuckListener struct {
	net.Listener
	conns chan *stuckConn
}

func (l *stuckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stuckConn{Conn: c, closed: make(chan struct{})}
	l.conns <- sc
	return sc, nil
}

type stuckConn struct {
	net.Conn
	mu     sync.Mutex
	stuck  bool
	wdl    time.Time
	closed chan struct{}
}

func (c *stuckConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *stuckConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *stuckConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	stuck, wdl := c.stuck, c.wdl
	c.mu.Unlock()
	if !stuck {
		return c.Conn.Write(p)
	}
	var timeout <-chan time.Time
	if !wdl.IsZero() {
		timeout = time.After(time.Until(wdl))
	}
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

func (c *stuckConn) block() {
	c.mu.Lock()
	c.stuck = true
	c.mu.Unlock()
}

func (c *stuckConn) Close() error {
	c.mu.Lock()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// A drain does not wait on a peer that stopped reading: other sessions
// get their 421, the server's bookkeeping stays responsive, and Shutdown
// returns when its context ends.
func TestShutdownWithStuckPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := &stuckListener{Listener: ln, conns: make(chan *stuckConn, 4)}
	fsys := ftptest.NewMemFS()
	srv := &ftp.Server{
		Auth:           ftptest.Users{Passwords: map[string]string{"alice": "secret"}, FS: func(string) ftp.FS { return fsys }},
		IdleTimeout:    time.Minute, // also the control write deadline
		DrainQuiet:     100 * time.Millisecond,
		LoginFailDelay: time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sl) }()

	stuck := dialRaw(t, ln.Addr().String(), "")
	sc := <-sl.conns
	stuck.login()
	other := dialRaw(t, ln.Addr().String(), "")
	<-sl.conns
	other.login()
	sc.block()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	other.expect(421)
	counted := make(chan int, 1)
	go func() { counted <- srv.Sessions() }()
	select {
	case <-counted:
	case <-time.After(10 * time.Second):
		t.Fatal("Server.Sessions blocked while a peer does not read")
	}
	select {
	case err := <-shut:
		if err == nil {
			t.Fatal("Shutdown returned nil; the stuck session cannot have ended cleanly")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after its context ended")
	}
	if err := <-served; err != ftp.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
}

// drainClient uploads name in steps, pausing for pause at step pauseAt
// (0 after USER, 1 after PASS, 2 after EPSV, 3 while sending the data), so
// that a drain finds it between commands; then it waits for the 421 that
// ends the drained session.
func drainClient(addr, name string, data []byte, pauseAt int, pause time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	step := func(code int, line string, at int) (string, error) {
		if line != "" {
			if err := tp.PrintfLine("%s", line); err != nil {
				return "", err
			}
		}
		_, msg, err := tp.ReadResponse(code)
		if err == nil && at == pauseAt {
			time.Sleep(pause)
		}
		return msg, err
	}
	if _, err := step(220, "", -1); err != nil {
		return err
	}
	if _, err := step(331, "USER alice", 0); err != nil {
		return fmt.Errorf("USER: %w", err)
	}
	if _, err := step(230, "PASS secret", 1); err != nil {
		return fmt.Errorf("PASS: %w", err)
	}
	msg, err := step(229, "EPSV", 2)
	if err != nil {
		return fmt.Errorf("EPSV: %w", err)
	}
	port := msg[strings.Index(msg, "(|||")+4 : strings.LastIndex(msg, "|)")]
	if err := tp.PrintfLine("STOR %s", name); err != nil {
		return err
	}
	dc, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), 5*time.Second)
	if err != nil {
		return err
	}
	if _, err := step(150, "", -1); err != nil {
		dc.Close()
		return fmt.Errorf("STOR: %w", err)
	}
	half := len(data) / 2
	dc.Write(data[:half])
	if pauseAt == 3 {
		time.Sleep(pause)
	}
	dc.Write(data[half:])
	dc.Close()
	if _, err := step(226, "", -1); err != nil {
		return fmt.Errorf("STOR end: %w", err)
	}
	if _, err := step(421, "", -1); err != nil {
		return fmt.Errorf("after the upload: %w", err)
	}
	return nil
}

// Shutdown 0.3 s after 8 clients started lets every one of them finish
// its login-EPSV-STOR sequence, even those that were between commands;
// each session gets its 421 once it is between commands and quiet.
func TestShutdownLetsSequencesFinish(t *testing.T) {
	fsys := ftptest.NewMemFS()
	srv := startWith(t, backend{"mem", func(*testing.T) ftp.FS { return fsys }}, nil)
	const clients = 8
	errs := make(chan error, clients)
	sums := make([][]byte, clients)
	for i := range clients {
		sums[i] = randomBytes(t, 64<<10+i)
		go func() {
			errs <- drainClient(srv.Addr, fmt.Sprintf("f%d", i), sums[i], i%4, 600*time.Millisecond)
		}()
	}
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	for i := range clients {
		if err := <-errs; err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i := range clients {
		r, err := fsys.Open(context.Background(), fmt.Sprintf("/f%d", i), 0)
		if err != nil {
			t.Fatalf("f%d: %v", i, err)
		}
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, sums[i]) {
			t.Fatalf("f%d: %d bytes, want %d", i, len(got), len(sums[i]))
		}
	}
}

// Shutdown while connections keep arriving: every connection is either
// served and drained or refused, and Shutdown returns (run with -race: the
// WaitGroup of connections must not be added to while Shutdown waits).
func TestShutdownWhileConnecting(t *testing.T) {
	for round := range 20 {
		srv := startWith(t, memBackend, func(s *ftp.Server) { s.DrainQuiet = time.Millisecond })
		stop := make(chan struct{})
		dialed := make(chan struct{})
		go func() {
			defer close(dialed)
			for range 200 {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", srv.Addr, time.Second)
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("round %d: Shutdown: %v", round, err)
		}
		cancel()
		close(stop)
		<-dialed
	}
}
