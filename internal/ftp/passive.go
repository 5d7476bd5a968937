package ftp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// PassiveProvider hands out passive data endpoints (PASV/EPSV). An
// endpoint accepts exactly one data connection, and only from the client
// IP it was reserved for: that is the defence against port theft, and it
// is what lets many sessions share one port (the key is client IP + port).
type PassiveProvider interface {
	Reserve(ctx context.Context, client netip.Addr) (PassiveListener, error)
}

// PassiveListener is one pending passive endpoint.
type PassiveListener interface {
	Port() int
	// Accept waits for the data connection from the reserved client IP.
	Accept(ctx context.Context) (net.Conn, error)
	// Close releases the reservation (and a connection not taken yet).
	Close() error
}

// EOFConfirmer is a data connection whose end of file need not be the
// client's: one relayed by another node (internal/cluster) also ends with
// a FIN when that node dies. Before an upload that ended this way is
// committed, ConfirmEOF must return nil; otherwise the transfer ends as
// interrupted (426) and nothing is stored (RFC 959 §3.4.1: in stream
// mode only the sender's close marks the end of the file).
type EOFConfirmer interface {
	ConfirmEOF() error
}

// PortPool is the single-node PassiveProvider: one listener per port of a
// range, opened on first use and shared by every session. A connection is
// handed to the session that reserved (its source IP, that port); one from
// any other address is closed and logged.
type PortPool struct {
	IP          netip.Addr // address to bind; invalid or unspecified: all
	First, Last int        // the port range, inclusive
	// Wrap, if set, wraps each listener (PROXY protocol: the data
	// connection's real source comes from the header, like the control's).
	Wrap func(net.Listener) net.Listener
	// TrustLB: load balancer addresses whose data connections (carrying
	// no PROXY header) go to the one session waiting on that port.
	TrustLB []netip.Prefix
	// Foreign, if set, is given each data connection that no session of
	// this process waits for, instead of refusing it: in a cluster the
	// connection may belong to another node's PASV (it relays it). It
	// owns c and runs in the connection's goroutine.
	Foreign func(port int, c net.Conn)
	// OnRefused, if set, is told of each data connection refused, with a
	// short reason (metrics).
	OnRefused func(reason string)
	Logger    *slog.Logger

	refused LogLimiter // one line per source per interval (a peer may retry fast)
	mu      sync.Mutex
	ports   map[int]*poolPort
	next    int
	closed  bool
	running sync.WaitGroup
}

type poolPort struct {
	ln      net.Listener
	waiting map[netip.Addr]*reservation
}

type reservation struct {
	pool   *PortPool
	port   int
	client netip.Addr
	conn   chan net.Conn // buffered 1
}

// Reserve picks a port on which client has nothing pending, round-robin
// over the range. ErrNoPassivePort when each port already waits for a
// connection from this client or cannot be bound.
func (p *PortPool) Reserve(_ context.Context, client netip.Addr) (PassiveListener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrNoPassivePort
	}
	if p.ports == nil {
		p.ports = map[int]*poolPort{}
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	client = client.Unmap()
	n := p.Last - p.First + 1
	for i := range n {
		port := p.First + (p.next+i)%n
		pp, err := p.open(port)
		if err != nil {
			continue
		}
		if _, busy := pp.waiting[client]; busy {
			continue
		}
		p.next = (p.next + i + 1) % n
		r := &reservation{pool: p, port: port, client: client, conn: make(chan net.Conn, 1)}
		pp.waiting[client] = r
		return r, nil
	}
	return nil, ErrNoPassivePort
}

// OpenAll opens every port of the range now rather than on first use. A
// cluster node needs it: a data connection may reach it on a port that
// only another node has offered so far. A port that cannot be bound is
// logged and tried again when a PASV would use it.
func (p *PortPool) OpenAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ports == nil {
		p.ports = map[int]*poolPort{}
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	for port := p.First; port <= p.Last; port++ {
		_, _ = p.open(port)
	}
}

// open returns the port's listener, opening it on first use. p.mu is held.
func (p *PortPool) open(port int) (*poolPort, error) {
	if pp, ok := p.ports[port]; ok {
		return pp, nil
	}
	host := ""
	if p.IP.IsValid() && !p.IP.IsUnspecified() {
		host = p.IP.String()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		p.Logger.Warn("passive port unavailable", "port", port, "err", err)
		return nil, err
	}
	if p.Wrap != nil {
		ln = p.Wrap(ln)
	}
	pp := &poolPort{ln: ln, waiting: map[netip.Addr]*reservation{}}
	p.ports[port] = pp
	p.running.Add(1)
	go p.acceptLoop(port, pp)
	return pp, nil
}

func (p *PortPool) acceptLoop(port int, pp *poolPort) {
	defer p.running.Done()
	for {
		c, err := pp.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.Logger.Debug("passive accept failed", "port", port, "err", err)
			continue
		}
		p.running.Add(1)
		go func() {
			defer p.running.Done()
			if h, ok := c.(handshaker); ok {
				if err := h.Handshake(); err != nil {
					c.Close()
					return
				}
			}
			p.deliver(port, pp, c)
		}()
	}
}

// deliver hands c to the session waiting for its source IP on this port.
// Without a match, a connection from a trusted load balancer (no PROXY
// header on the data path) goes to the one session waiting on the port;
// with two or more waiting it is ambiguous and refused.
func (p *PortPool) deliver(port int, pp *poolPort, c net.Conn) {
	src := AddrIP(c.RemoteAddr())
	p.mu.Lock()
	r := pp.waiting[src]
	viaLB := false
	if r == nil && len(pp.waiting) == 1 && p.trustedLB(src) {
		for _, only := range pp.waiting {
			r, viaLB = only, true
		}
	}
	if r != nil {
		delete(pp.waiting, r.client)
		r.conn <- c
	}
	waiting := len(pp.waiting)
	p.mu.Unlock()
	switch {
	case r == nil && p.Foreign != nil:
		p.Foreign(port, c)
	case viaLB:
		p.Logger.Info("data connection from a trusted load balancer given to the only session waiting",
			"port", port, "lb", src.String(), "client", r.client.String())
	case r == nil:
		p.refused.Warn(p.Logger, src.String(), "refused data connection: no PASV pending for that address on this port",
			"port", port, "from", src.String(), "waiting", waiting)
		p.Refused("no_pasv")
		c.Close()
	}
}

// Deliver hands c, a data connection from client that reached another
// process (a cluster node relayed it), to the session of this process
// waiting for client on port, exactly as if it had arrived here. False:
// nobody waits; c is left to the caller.
func (p *PortPool) Deliver(port int, client netip.Addr, c net.Conn) bool {
	client = client.Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.ports[port]
	if pp == nil || pp.waiting[client] == nil {
		return false
	}
	r := pp.waiting[client]
	delete(pp.waiting, client)
	r.conn <- c
	return true
}

// Refused counts a refused data connection (OnRefused), here or in a
// Foreign handler.
func (p *PortPool) Refused(reason string) {
	if p.OnRefused != nil {
		p.OnRefused(reason)
	}
}

func (p *PortPool) trustedLB(ip netip.Addr) bool {
	for _, pre := range p.TrustLB {
		if pre.Contains(ip) {
			return true
		}
	}
	return false
}

func (r *reservation) Port() int { return r.port }

func (r *reservation) Accept(ctx context.Context) (net.Conn, error) {
	select {
	case c := <-r.conn:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *reservation) Close() error {
	p := r.pool
	p.mu.Lock()
	if pp := p.ports[r.port]; pp != nil && pp.waiting[r.client] == r {
		delete(pp.waiting, r.client)
	}
	p.mu.Unlock()
	select {
	case c := <-r.conn: // arrived but never taken
		c.Close()
	default:
	}
	return nil
}

// Close closes every listener of the pool.
func (p *PortPool) Close() error {
	p.mu.Lock()
	p.closed = true
	for _, pp := range p.ports {
		pp.ln.Close()
	}
	p.mu.Unlock()
	p.running.Wait()
	return nil
}
