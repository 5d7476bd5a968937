// Package proxy wraps listeners with PROXY protocol v1/v2 handling
// (github.com/pires/go-proxyproto), trusting headers only from configured
// load balancer CIDRs. The order of layers is TCP → PROXY → TLS.
package proxy

import (
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Options say whose PROXY headers to believe.
type Options struct {
	// Trusted load balancer CIDRs. Empty: Wrap returns the listener as is.
	Trusted []netip.Prefix
	// Required: trusted peers must send a header, and connections from
	// anyone else are refused.
	Required bool
	// HeaderTimeout bounds the wait for a required header (default 5s).
	HeaderTimeout time.Duration
	Logger        *slog.Logger
}

// optionalWait is how long a trusted peer may take before its header when
// headers are optional. FTP servers speak first, so a client without a
// header would otherwise wait this long for its greeting; LBs send the
// header at once.
const optionalWait = 300 * time.Millisecond

// Wrap returns l with PROXY protocol handling, or l itself when nobody is
// trusted. Headers are only read from trusted peers; from anyone else the
// bytes are not interpreted as a header (an FTP session then refuses a
// "PROXY" line as a spoofing attempt).
func Wrap(l net.Listener, o Options) net.Listener {
	if len(o.Trusted) == 0 {
		return l
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &listener{Listener: l, o: o}
}

type listener struct {
	net.Listener
	o       Options
	refused ftp.LogLimiter // refused-connection lines, per source
}

func (l *listener) trusted(ip netip.Addr) bool {
	for _, p := range l.o.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Accept returns connections wrapped for header reading. It never reads
// itself, so a slow peer cannot hold up the accept loop: the header is
// read by Conn.Handshake in the connection's own goroutine.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := ftp.AddrIP(c.RemoteAddr())
		if !l.trusted(src) {
			if l.o.Required {
				l.refused.Warn(l.o.Logger, src.String(), "refused connection: not from a trusted load balancer (proxy_protocol.required)", "from", src.String())
				c.Close()
				continue
			}
			return c, nil
		}
		policy, wait := proxyproto.USE, optionalWait
		if l.o.Required {
			policy, wait = proxyproto.REQUIRE, l.o.HeaderTimeout
		}
		pc := proxyproto.NewConn(c, proxyproto.WithPolicy(policy), proxyproto.SetReadHeaderTimeout(wait))
		return &Conn{Conn: pc, peer: src, log: l.o.Logger, refused: &l.refused}, nil
	}
}

// Conn is a connection from a trusted load balancer. Its RemoteAddr and
// LocalAddr are the header's source (the real client) and destination
// (the address the client dialled).
type Conn struct {
	*proxyproto.Conn
	peer    netip.Addr
	log     *slog.Logger
	refused *ftp.LogLimiter
}

// Handshake reads the PROXY header (a zero-length read runs the header
// detection and returns its error).
func (c *Conn) Handshake() error {
	if _, err := c.Conn.Read(nil); err != nil {
		c.refused.Warn(c.log, c.peer.String(), "refused connection: bad or missing PROXY header", "lb", c.peer.String(), "err", err)
		return err
	}
	return nil
}

// Peer is the load balancer's address (RemoteAddr is the header's source,
// and reads the header to know it).
func (c *Conn) Peer() netip.Addr { return c.peer }

// Proxied reports whether RemoteAddr came from a header (a client the LB
// accepted), not from the LB's own address.
func (c *Conn) Proxied() bool {
	h := c.ProxyHeader()
	return h != nil && !h.Command.IsLocal()
}

// HealthCheck reports a PROXY v2 LOCAL command: the LB checking health,
// not a client.
func (c *Conn) HealthCheck() bool {
	h := c.ProxyHeader()
	return h != nil && h.Command.IsLocal()
}
