package proxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/proxy"
)

// oneConn is a listener that hands out the connections put into it.
type oneConn struct{ c chan net.Conn }

func (l oneConn) Accept() (net.Conn, error) {
	c, ok := <-l.c
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l oneConn) Close() error   { return nil }
func (l oneConn) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21} }

// lbConn is one end of a net.Pipe that says it is a TCP connection from
// a load balancer at 127.0.0.2.
type lbConn struct{ net.Conn }

func (lbConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000} }
func (lbConn) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21} }

// FuzzProxy sends the bytes a trusted load balancer would (a PROXY v1 or
// v2 header or none, then FTP bytes) through the wrapped listener, with
// headers required or optional, and checks: Handshake ends; a connection
// it accepts has real IP addresses on both ends, is a client (Proxied) or
// a health check but not both, and carries a header when headers are
// required; and what the session then reads is exactly the input after
// the header — never a byte of the header, never a byte lost.
func FuzzProxy(f *testing.F) {
	v2 := func(cmd proxyproto.ProtocolVersionAndCommand, tp proxyproto.AddressFamilyAndProtocol, src, dst net.Addr) []byte {
		h := &proxyproto.Header{Version: 2, Command: cmd, TransportProtocol: tp, SourceAddr: src, DestinationAddr: dst}
		b, err := h.Format()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	src4 := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 51000}
	dst4 := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 21}
	src6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 51000}
	dst6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 21}
	for _, req := range []bool{false, true} {
		for _, s := range [][]byte{
			[]byte("PROXY TCP4 203.0.113.7 192.0.2.1 51000 21\r\nUSER alice\r\n"),
			[]byte("PROXY TCP6 2001:db8::7 2001:db8::1 51000 21\r\nUSER alice\r\n"),
			[]byte("PROXY UNKNOWN\r\nNOOP\r\n"),
			[]byte("PROXY TCP4 1.2.3.4\r\n"),
			[]byte("PROXY TCP4 999.0.0.1 1.2.3.4 1 2\r\n"),
			[]byte("USER alice\r\n"),
			[]byte("\r\n\r\n\x00\r\nQUIT\n"),
			append(v2(proxyproto.PROXY, proxyproto.TCPv4, src4, dst4), "USER alice\r\n"...),
			append(v2(proxyproto.PROXY, proxyproto.TCPv6, src6, dst6), "NOOP\r\n"...),
			append(v2(proxyproto.LOCAL, proxyproto.UNSPEC, nil, nil), "QUIT\r\n"...),
			v2(proxyproto.PROXY, proxyproto.TCPv4, src4, dst4)[:20],
		} {
			f.Add(req, s)
		}
	}
	f.Fuzz(func(t *testing.T, required bool, data []byte) {
		if len(data) > 1<<12 {
			return
		}
		ch := make(chan net.Conn, 1)
		l := proxy.Wrap(oneConn{ch}, proxy.Options{
			Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Required: required,
			HeaderTimeout: 200 * time.Millisecond, Logger: quiet,
		})
		server, client := net.Pipe()
		defer server.Close()
		go func() {
			client.Write(data)
			client.Close()
		}()
		ch <- lbConn{server}
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		pc := c.(*proxy.Conn)
		if err := pc.Handshake(); err != nil {
			return // refused: the session never starts
		}
		for _, a := range []net.Addr{c.RemoteAddr(), c.LocalAddr()} {
			if !ftp.AddrIP(a).IsValid() {
				t.Fatalf("address %v has no IP", a)
			}
		}
		h := pc.ProxyHeader()
		if pc.Proxied() && pc.HealthCheck() {
			t.Fatal("both a client and a health check")
		}
		if required && h == nil {
			t.Fatal("accepted without a header while headers are required")
		}
		rest, err := io.ReadAll(c)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			// An error after the header is the session's to see; what
			// arrived must still be a tail of the input.
			t.Logf("read after the header: %v", err)
		}
		if !bytes.HasSuffix(data, rest) {
			t.Fatalf("after the header the session read %q, not a tail of %q", rest, data)
		}
		if h == nil && !bytes.Equal(rest, data) {
			t.Fatalf("no header, yet the session read %q of %q", rest, data)
		}
		if h != nil && len(rest) == len(data) && len(data) > 0 {
			t.Fatalf("a header was read, yet the session read all of %q", data)
		}
	})
}
