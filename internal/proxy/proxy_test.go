package proxy_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/proxy"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startFTP runs a server whose control listener and passive ports are
// wrapped like s3ftpd's: TCP → PROXY.
func startFTP(t *testing.T, o proxy.Options) (ctrl string, pool *ftp.PortPool) {
	t.Helper()
	o.Logger = quiet
	o.HeaderTimeout = 500 * time.Millisecond
	fsys := ftptest.NewMemFS()
	ln, err := ftp.Listen(context.Background(), "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := ftptest.FreePortRange(t, 1)
	wrap := func(l net.Listener) net.Listener { return proxy.Wrap(l, o) }
	pool = &ftp.PortPool{IP: netip.MustParseAddr("127.0.0.1"), First: first, Last: first, Wrap: wrap, Logger: quiet}
	srv := &ftp.Server{
		Auth:    ftptest.Users{Passwords: map[string]string{"u": "p"}, FS: func(string) ftp.FS { return fsys }},
		Passive: pool, Logger: quiet, LoginFailDelay: time.Millisecond, DataTimeout: 2 * time.Second,
	}
	go srv.Serve(wrap(ln))
	t.Cleanup(func() { srv.Close(); pool.Close() })
	return ln.Addr().String(), pool
}

// dialVia connects from the "LB" address lb and sends a PROXY v2 header
// claiming the client src (nil: no header).
func dialVia(t *testing.T, addr, lb string, src *net.TCPAddr, cmd proxyproto.ProtocolVersionAndCommand) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(lb)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if src != nil {
		dst, _ := net.ResolveTCPAddr("tcp", addr)
		h := &proxyproto.Header{Version: 2, Command: cmd, TransportProtocol: proxyproto.TCPv4, SourceAddr: src, DestinationAddr: dst}
		if _, err := h.WriteTo(c); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

type session struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (s *session) expect(prefix string) string {
	s.t.Helper()
	s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	all := ""
	for {
		line, err := s.r.ReadString('\n')
		all += line
		if err != nil {
			s.t.Fatalf("want %q: %v", prefix, err)
		}
		if len(line) < 4 || line[3] != ' ' || line[0] < '0' || line[0] > '9' {
			continue // inside a multi-line reply
		}
		if !strings.HasPrefix(line, prefix) {
			s.t.Fatalf("want %q, got %q", prefix, line)
		}
		return all
	}
}

func (s *session) cmd(line, want string) string {
	s.t.Helper()
	s.c.Write([]byte(line + "\r\n"))
	return s.expect(want)
}

// loginSeen logs in on c and checks that STAT shows the client as ip.
func loginSeen(t *testing.T, c net.Conn, ip string) *session {
	t.Helper()
	s := &session{t, c, bufio.NewReader(c)}
	s.expect("220")
	s.cmd("USER u", "331")
	s.cmd("PASS p", "230")
	s.c.Write([]byte("STAT\r\n"))
	if got := s.expect("211"); !strings.Contains(got, "Connected from "+ip) {
		t.Fatalf("the session does not see the real client IP %s:\n%s", ip, got)
	}
	return s
}

func closed(t *testing.T, c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil
}

func TestRealClientIPThroughProxyHeaders(t *testing.T) {
	ctrl, _ := startFTP(t, proxy.Options{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.100/32")}, Required: true})
	client := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	c := dialVia(t, ctrl, "127.0.0.100", client, proxyproto.PROXY)
	s := loginSeen(t, c, "192.0.2.7")
	msg := s.cmd("EPSV", "229")
	port := msg[strings.Index(msg, "(|||")+4 : strings.LastIndex(msg, "|)")]
	data := "127.0.0.1:" + port

	// A data connection through the LB without a header is refused
	// (required), and so is one whose header names another client.
	if d := dialVia(t, data, "127.0.0.100", nil, proxyproto.PROXY); !closed(t, d) {
		t.Fatal("data connection without a PROXY header was accepted")
	}
	other := &net.TCPAddr{IP: net.ParseIP("192.0.2.8"), Port: 40001}
	if d := dialVia(t, data, "127.0.0.100", other, proxyproto.PROXY); !closed(t, d) {
		t.Fatal("data connection for another client IP was accepted")
	}
	// From an untrusted address, headers are refused outright.
	if d := dialVia(t, data, "127.0.0.101", client, proxyproto.PROXY); !closed(t, d) {
		t.Fatal("a PROXY header from an untrusted address was accepted")
	}
	// The real client's data connection works.
	s.c.Write([]byte("STOR f\r\n"))
	d := dialVia(t, data, "127.0.0.100", &net.TCPAddr{IP: client.IP, Port: 40002}, proxyproto.PROXY)
	s.expect("150")
	d.Write([]byte("hello"))
	d.Close()
	s.expect("226")
	s.cmd("SIZE f", "213 5")
}

func TestLocalCommandIsAHealthCheck(t *testing.T) {
	ctrl, _ := startFTP(t, proxy.Options{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Required: true})
	c := dialVia(t, ctrl, "127.0.0.100", &net.TCPAddr{IP: net.ParseIP("127.0.0.100"), Port: 1}, proxyproto.LOCAL)
	(&session{t, c, bufio.NewReader(c)}).expect("220")
}

func TestUntrustedRefusedWhenRequired(t *testing.T) {
	ctrl, _ := startFTP(t, proxy.Options{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.100/32")}, Required: true})
	if c := dialVia(t, ctrl, "127.0.0.1", nil, proxyproto.PROXY); !closed(t, c) {
		t.Fatal("a direct connection was served although PROXY is required")
	}
	// Trusted but no header: refused after the header timeout.
	if c := dialVia(t, ctrl, "127.0.0.100", nil, proxyproto.PROXY); !closed(t, c) {
		t.Fatal("a trusted connection without header was served although required")
	}
}

func TestOptionalHeader(t *testing.T) {
	ctrl, _ := startFTP(t, proxy.Options{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.100/32")}})
	// Direct clients from anywhere are served; a header from an untrusted
	// address is refused as a spoofing attempt.
	c := dialVia(t, ctrl, "127.0.0.1", nil, proxyproto.PROXY)
	(&session{t, c, bufio.NewReader(c)}).expect("220")
	c2 := dialVia(t, ctrl, "127.0.0.1", nil, proxyproto.PROXY)
	c2.Write([]byte("PROXY TCP4 198.51.100.1 127.0.0.1 1 2\r\n"))
	s2 := &session{t, c2, bufio.NewReader(c2)}
	s2.expect("220")
	s2.expect("421")
	// The trusted LB without a header is served after a short wait.
	c3 := dialVia(t, ctrl, "127.0.0.100", nil, proxyproto.PROXY)
	(&session{t, c3, bufio.NewReader(c3)}).expect("220")
}

func TestProxyV1Header(t *testing.T) {
	ctrl, _ := startFTP(t, proxy.Options{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.100/32")}, Required: true})
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.100")}}
	c, err := d.Dial("tcp", ctrl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("PROXY TCP4 198.51.100.9 127.0.0.1 40000 21\r\n"))
	loginSeen(t, c, "198.51.100.9")
}
