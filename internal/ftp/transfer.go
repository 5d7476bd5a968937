package ftp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// transfer is one data-connection command in flight (RETR, STOR, LIST…).
// It owns the data endpoint the session had set up (PASV or PORT).
type transfer struct {
	verb, name string
	pasv       PassiveListener
	active     netip.AddrPort
	cancel     context.CancelFunc
	done       chan struct{}
	bytes      atomic.Int64
	aborted    atomic.Bool
	start      time.Time
}

// hasDataEndpoint reports whether PASV/EPSV or PORT/EPRT came first.
func (s *session) hasDataEndpoint() bool {
	return s.pasv != nil || s.active.IsValid()
}

// startTransfer runs a data-connection command in its own goroutine. run
// sends 150 and 226 itself; an error it returns becomes the final reply.
// The command loop meanwhile answers ABOR and STAT, and queues the rest.
func (s *session) startTransfer(verb, name string, run func(ctx context.Context, x *transfer) error) {
	if !s.hasDataEndpoint() {
		s.replyError(errNoDataConn, verb)
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	x := &transfer{verb: verb, name: name, pasv: s.pasv, active: s.active, cancel: cancel, done: make(chan struct{}), start: time.Now()}
	s.pasv, s.active = nil, netip.AddrPort{}
	s.mu.Lock()
	s.xfer = x
	s.mu.Unlock()
	// The control connection may be silent for as long as the transfer runs.
	_ = s.conn.SetReadDeadline(time.Time{})
	go func() {
		err := run(ctx, x)
		if x.pasv != nil {
			x.pasv.Close()
		}
		if err != nil && x.aborted.Load() {
			err = errAborted
		}
		if err != nil {
			s.replyError(err, verb)
		}
		s.log.Info("transfer", "verb", verb, "path", name, "bytes", x.bytes.Load(),
			"duration", time.Since(x.start).Round(time.Millisecond), "ok", err == nil)
		cancel()
		s.endTransfer()
		close(x.done)
	}()
}

// endTransfer clears the transfer; a drain that came meanwhile closes the
// session now, else the idle timer starts again.
func (s *session) endTransfer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.xfer = nil
	s.busy = false
	if s.draining {
		s.reply(421, "Server shutting down; closing control connection.")
		s.conn.Close()
		return
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(s.srv.IdleTimeout))
}

func (s *session) current() *transfer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.xfer
}

func (s *session) transferring() bool { return s.current() != nil }

func (s *session) waitTransfer() {
	if x := s.current(); x != nil {
		<-x.done
	}
}

// abortTransfer implements ABOR during a transfer (RFC 959 §4.1.3): the
// transfer ends with 426, then ABOR itself gets 226.
func (s *session) abortTransfer() {
	if x := s.current(); x != nil {
		x.aborted.Store(true)
		x.cancel()
		<-x.done
	}
	s.reply(226, "ABOR successful.")
}

// cmdABOR with no transfer running (RFC 959: 225 data connection open, no
// transfer; we answer 225 as vsftpd does).
func (s *session) cmdABOR(string) {
	s.closePassive()
	s.reply(225, "No transfer to abort.")
}

func (s *session) transferStatus() {
	x := s.current()
	if x == nil {
		s.reply(211, "No transfer in progress.")
		return
	}
	s.reply(213, fmt.Sprintf("Status: %s %s, %d bytes transferred.", x.verb, x.name, x.bytes.Load()))
}

func (s *session) closePassive() {
	if s.pasv != nil {
		s.pasv.Close()
		s.pasv = nil
	}
}

// openData gets the transfer's data connection: it waits for the client's
// passive connection (from its own IP only; PassiveProvider checks that),
// or dials the active address. Then it sends the 150 opening reply and,
// under PROT P, runs the TLS handshake (after the 150: some clients only
// start it then). The connection is closed when ctx ends, so ABOR
// interrupts a blocked read or write; a stalled one times out.
func (s *session) openData(ctx context.Context, x *transfer, opening string) (net.Conn, error) {
	if !s.protP && s.dataTLSRequired() {
		return nil, errDataTLS
	}
	actx, cancel := context.WithTimeout(ctx, s.srv.DataTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if x.pasv != nil {
		conn, err = x.pasv.Accept(actx)
	} else {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: s.local.AsSlice()}}
		conn, err = d.DialContext(actx, "tcp", x.active.String())
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case actx.Err() != nil:
		return nil, errDataTimeout
	default:
		s.log.Info("data connection failed", "err", err)
		return nil, errDataConn
	}
	raw := conn
	context.AfterFunc(ctx, func() { raw.Close() })
	s.reply(150, opening)
	if conn, err = s.protectData(ctx, conn); err != nil {
		return nil, err
	}
	return &stallConn{Conn: conn, timeout: s.srv.StallTimeout, x: x}, nil
}

// stallConn ends a transfer in which no byte moves for timeout, and
// counts the bytes that do. Deadlines are pushed forward at most every
// timeout/8, not on each call.
type stallConn struct {
	net.Conn
	timeout time.Duration
	x       *transfer
	last    time.Time
}

func (c *stallConn) refresh() {
	if now := time.Now(); now.Sub(c.last) > c.timeout/8 {
		_ = c.Conn.SetDeadline(now.Add(c.timeout))
		c.last = now
	}
}

func (c *stallConn) Read(p []byte) (int, error) {
	c.refresh()
	n, err := c.Conn.Read(p)
	c.x.bytes.Add(int64(n))
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errDataLost, err)
	}
	return n, err
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.refresh()
	n, err := c.Conn.Write(p)
	c.x.bytes.Add(int64(n))
	if err != nil {
		err = fmt.Errorf("%w: %w", errDataLost, err)
	}
	return n, err
}
