package ftp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/proxy"
)

// serveOn serves srv on one more loopback listener (wrapped by wrap, if
// set; implicit TLS with implicitTLS) and returns its address. The test's
// Shutdown closes it.
func serveOn(t *testing.T, srv *ftp.Server, implicitTLS bool, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	ln, err := ftp.Listen(context.Background(), "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	go func() {
		if implicitTLS {
			srv.ServeTLS(ln)
		} else {
			srv.Serve(ln)
		}
	}()
	return addr
}

// trustLoopbackLB wraps a listener as s3ftpd does behind a LB at
// 127.0.0.1 that must send PROXY headers.
func trustLoopbackLB(l net.Listener) net.Listener {
	return proxy.Wrap(l, proxy.Options{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Required: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// closedSoon reports whether the server closes c (EOF or reset) before
// wait: a refused connection is closed at once, one in a handshake waits.
func closedSoon(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.ReadAll(c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Connections that never start their TLS handshake count against the
// session limits from the moment they are accepted: a third from one IP
// is closed at once (no 30 s handshake wait), a fifth overall too, while
// a real client from another IP still logs in.
func TestImplicitTLSAdmittedBeforeHandshake(t *testing.T) {
	srv, _ := tlsServer(t, func(s *ftp.Server) {
		s.MaxSessions, s.MaxSessionsPerIP = 4, 2
		s.HandshakeTimeout = time.Minute // the limits, not the timeout, must refuse
	})
	addr := serveOn(t, srv, true, nil)
	dataDial(t, addr, "127.0.0.1")
	dataDial(t, addr, "127.0.0.1")
	time.Sleep(50 * time.Millisecond) // let both be accepted and counted
	if !closedSoon(dataDial(t, addr, "127.0.0.1"), 10*time.Second) {
		t.Fatal("a third pending handshake from one IP was not refused")
	}
	c := dial(t, addr, client.DialWithTLS(clientTLS(false)), client.DialWithDialer(net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}))
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatalf("real client from another IP: %v", err)
	}
	dataDial(t, addr, "127.0.0.3") // the fourth slot
	time.Sleep(50 * time.Millisecond)
	if !closedSoon(dataDial(t, addr, "127.0.0.4"), 10*time.Second) {
		t.Fatal("a fifth connection got past max_sessions 4")
	}
}

// With no per-IP session limit, the TLS handshakes pending from one IP
// are still capped, and a silent handshake ends after HandshakeTimeout.
func TestPendingHandshakesCappedAndTimed(t *testing.T) {
	srv, _ := tlsServer(t, func(s *ftp.Server) {
		s.MaxPendingPerIP = 2
		s.HandshakeTimeout = time.Minute
	})
	addr := serveOn(t, srv, true, nil)
	dataDial(t, addr, "127.0.0.1")
	dataDial(t, addr, "127.0.0.1")
	time.Sleep(50 * time.Millisecond)
	if !closedSoon(dataDial(t, addr, "127.0.0.1"), 10*time.Second) {
		t.Fatal("a third pending handshake from one IP was not refused")
	}
	short, _ := tlsServer(t, func(s *ftp.Server) { s.HandshakeTimeout = 200 * time.Millisecond })
	addr = serveOn(t, short, true, nil)
	if !closedSoon(dataDial(t, addr, "127.0.0.1"), 10*time.Second) {
		t.Fatal("a silent TLS handshake outlived HandshakeTimeout")
	}
}

// Behind a LB, a connection counts globally before its PROXY header is
// read (the LB's address is no client), and per real client after it.
func TestProxyConnectionsCountedBeforeHeader(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.MaxSessions, s.MaxSessionsPerIP = 3, 1 })
	addr := serveOn(t, srv.Server, false, trustLoopbackLB)
	viaLB := func(src string) *raw {
		r := connectRaw(t, addr, "127.0.0.1")
		fmt.Fprintf(r.conn, "PROXY TCP4 %s 127.0.0.1 4000 21\r\n", src)
		return r
	}
	viaLB("127.0.0.7").expect(220)
	viaLB("127.0.0.7").expect(421) // per real client, not per LB
	viaLB("127.0.0.8").expect(220)
	dataDial(t, addr, "127.0.0.1") // the LB opened a connection, no header yet
	for deadline := time.Now().Add(10 * time.Second); srv.Slots() < 3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // until the server has accepted it
	}
	viaLB("127.0.0.9").expect(421) // max_sessions 3 counts it
}

// IPv6 clients count per /64 for sessions per IP (the PROXY header
// states the addresses; the connections are loopback) and in the shared
// counts, which get the /64's first address.
func TestIPv6CountedPerSlash64(t *testing.T) {
	shared := &memShared{sessions: map[netip.Addr]int{}}
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.MaxSessionsPerIP = 1; s.Shared = shared })
	addr := serveOn(t, srv.Server, false, trustLoopbackLB)
	viaLB := func(src string) *raw {
		r := connectRaw(t, addr, "127.0.0.1")
		fmt.Fprintf(r.conn, "PROXY TCP6 %s ::1 4000 21\r\n", src)
		return r
	}
	viaLB("2001:db8:1:2::1").expect(220)
	viaLB("2001:db8:1:2:ffff::9").expect(421) // same /64
	viaLB("2001:db8:1:3::1").expect(220)      // another /64
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for ip := range shared.sessions {
		if p, _ := ip.Prefix(64); p.Addr() != ip {
			t.Errorf("shared count keyed by %s, not by its /64", ip)
		}
	}
}

// memShared is SharedCounts within this process (the cluster's is in
// Redis): it records the keys it is given.
type memShared struct {
	mu       sync.Mutex
	sessions map[netip.Addr]int
	users    map[string]int
}

func (m *memShared) AddUserSession(_ context.Context, user string, delta int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.users == nil {
		m.users = map[string]int{}
	}
	m.users[user] += delta
	return m.users[user], nil
}

// Two servers sharing their counts (two nodes of a cluster): a user's
// session limit holds across both, and a session that ends frees its turn
// on either.
func TestUserSessionsAcrossServers(t *testing.T) {
	shared := &memShared{sessions: map[netip.Addr]int{}}
	limit := func(s *ftp.Server) { s.MaxSessionsPerUser = 1; s.Shared = shared }
	a, b := startWith(t, memBackend, limit), startWith(t, memBackend, limit)
	first := login(t, a.Addr)
	c := dial(t, b.Addr)
	if err := c.Login("alice", "secret"); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("second session of alice, on the other server: %v, want 421", err)
	}
	if err := first.Quit(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dial(t, b.Addr)
		err := c.Login("alice", "secret")
		if err == nil {
			c.Quit()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the first session ended, the other server still refuses: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *memShared) AddSession(_ context.Context, ip netip.Addr, delta int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[ip] += delta
	return m.sessions[ip], nil
}

func (m *memShared) LoginFailures(context.Context, netip.Addr, bool) (int, error) { return 0, nil }
