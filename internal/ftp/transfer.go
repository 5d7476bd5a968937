package ftp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// transfer is one data-connection command in flight (RETR, STOR, LIST…).
// It owns everything the command uses: its context, the data endpoint the
// session had set up (PASV or PORT) and the connection made from it, and
// the storage handle (a reader or an Upload), which is opened with the
// transfer's context.
//
// There is one way to stop it, whoever asks (ABOR, the stall timer, the
// client vanishing, Server.Close): cancel its context. That closes the data
// connection and ends every storage wait begun with the context (upload
// buffer budget, a part slot, an S3 read); the transfer's goroutine then
// returns, and close releases the handle: a reader is closed, an upload
// that did not commit is aborted.
type transfer struct {
	s          *session
	verb, name string
	ctx        context.Context
	cancel     context.CancelCauseFunc
	pasv       PassiveListener
	active     netip.AddrPort
	data       net.Conn      // the data connection, once open (raw, under any TLS)
	tlsEOF     *eofSeen      // under PROT P on an EOFConfirmer: what the TLS layer read
	reader     io.ReadCloser // storage handle of a download
	upload     Upload        // storage handle of an upload
	done       chan struct{}
	bytes      atomic.Int64
	size       atomic.Int64 // bytes it will move when known (a download), else 0
	start      time.Time
	// command: a command without a data connection run like a transfer
	// (startCommand); it logs no transfer line and QUIT cancels it.
	command bool

	// The stall timer (see watch).
	moved   atomic.Int64 // when a byte last moved, as time since start
	stallMu sync.Mutex
	stall   *time.Timer
}

// hasDataEndpoint reports whether PASV/EPSV or PORT/EPRT came first.
func (s *session) hasDataEndpoint() bool {
	return s.pasv != nil || s.active.IsValid()
}

// startTransfer runs a data-connection command in its own goroutine. run
// opens storage and the data connection through x, sends 150 and 226
// itself; an error it returns becomes the final reply. The command loop
// meanwhile answers ABOR and STAT, and queues the rest.
func (s *session) startTransfer(verb, name string, run func(x *transfer) error) {
	if !s.hasDataEndpoint() {
		s.replyError(errNoDataConn, verb)
		return
	}
	x := s.newTransfer(verb, name)
	x.pasv, x.active = s.pasv, s.active
	s.pasv, s.active = nil, netip.AddrPort{}
	s.launch(x, run)
}

// startCommand runs a command that uses no data connection but may read
// much from storage (HASH of a large file) the way a transfer runs: in its
// own goroutine, so that the command loop answers ABOR meanwhile (RFC 959
// §4.1.3: 426, then 226) and QUIT, a vanished client and a drain cancel it
// too (see cancelCommand). run sends the reply of success itself.
func (s *session) startCommand(verb, name string, run func(x *transfer) error) {
	x := s.newTransfer(verb, name)
	x.command = true
	s.launch(x, run)
}

func (s *session) newTransfer(verb, name string) *transfer {
	ctx, cancel := context.WithCancelCause(s.ctx)
	return &transfer{s: s, verb: verb, name: name, ctx: ctx, cancel: cancel, done: make(chan struct{}), start: time.Now()}
}

func (s *session) launch(x *transfer, run func(x *transfer) error) {
	s.started = true
	s.mu.Lock()
	s.xfer = x
	// The control connection may be silent for as long as the transfer runs.
	_ = s.conn.SetReadDeadline(time.Time{})
	s.mu.Unlock()
	go x.run(run)
}

// cancelCommand cancels a running command started by startCommand (not a
// data transfer, which runs to its end: RFC 959 §4.1.1 QUIT) with cause,
// and reports whether there was one. It takes mu: drain calls it too.
func (s *session) cancelCommand(cause error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.xfer == nil || !s.xfer.command {
		return false
	}
	s.xfer.cancel(cause)
	return true
}

func (x *transfer) run(body func(*transfer) error) {
	err := x.close(body(x))
	if err != nil {
		x.s.replyError(err, x.verb)
	}
	d := time.Since(x.start)
	code := 226
	if err != nil {
		code, _ = replyFor(err)
	}
	if x.command {
		x.s.srv.observe(func(o Observer) { o.CommandDone(x.verb, code) })
		x.s.endTransfer()
		close(x.done)
		return
	}
	x.logLine(d, code, err)
	x.s.srv.observe(func(o Observer) {
		o.CommandDone(x.verb, code)
		o.TransferDone(TransferStat{Verb: x.verb, Upload: isUpload(x.verb), Path: x.name, User: x.s.userName(),
			Client: x.s.client, Binary: x.s.binary, TLS: x.s.protP, Bytes: x.bytes.Load(), Duration: d, Code: code})
	})
	x.s.endTransfer()
	close(x.done)
}

// logLine is the INFO line of a finished transfer (the session logger
// carries the real client IP and the user).
func (x *transfer) logLine(d time.Duration, code int, err error) {
	n := x.bytes.Load()
	dir := "download"
	switch {
	case isUpload(x.verb):
		dir = "upload"
	case x.verb != "RETR":
		dir = "listing"
	}
	typ := "ascii"
	if x.s.binary {
		typ = "binary"
	}
	rate := 0.0
	if d > 0 {
		rate = float64(n) / d.Seconds()
	}
	x.s.log.Info("transfer", "verb", x.verb, "direction", dir, "path", x.name, "bytes", n,
		"duration", d.Seconds(), "bytes_per_second", int64(rate), "tls_data", x.s.protP, "type", typ,
		"ok", err == nil, "code", code)
}

func isUpload(verb string) bool { return verb == "STOR" || verb == "APPE" || verb == "STOU" }

// close releases what the transfer holds, however it ended, and returns
// the error that ends it: the reason it was cancelled (ABOR, a stall), if
// it was, rather than what that did to a read or a write. An upload that
// failed is aborted on a context of its own: ctx may be cancelled, and S3
// must still be told.
func (x *transfer) close(err error) error {
	x.stopWatch()
	if err != nil {
		if cause := context.Cause(x.ctx); cause != nil {
			err = cause
		}
	}
	x.cancel(nil)
	if x.data != nil {
		x.data.Close() // before the final reply (RFC 959 §4.1.3 for ABOR)
	}
	if x.upload != nil && err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(x.ctx), time.Minute)
		if aerr := x.upload.Abort(actx); aerr != nil {
			x.s.log.Warn("upload abort failed", "path", x.name, "err", aerr)
		}
		cancel()
	}
	if x.reader != nil {
		x.reader.Close()
	}
	if x.pasv != nil {
		x.pasv.Close()
	}
	return err
}

// endTransfer clears the transfer and wakes the command loop, which sets
// its idle or drain deadline again (armRead).
func (s *session) endTransfer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.xfer = nil
	s.busy = false
	s.quiet = time.Now()
	_ = s.conn.SetReadDeadline(time.Now())
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
		x.cancel(errAborted)
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
// start it then). The connection is closed when the transfer's context
// ends, which interrupts a blocked read or write; from now on the stall
// timer runs.
func (x *transfer) openData(opening string) (net.Conn, error) {
	s := x.s
	if !s.protP && s.dataTLSRequired() {
		return nil, errDataTLS
	}
	actx, cancel := context.WithTimeout(x.ctx, s.srv.DataTimeout)
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
	case x.ctx.Err() != nil:
		return nil, x.ctx.Err()
	case actx.Err() != nil:
		return nil, errDataTimeout
	default:
		s.log.Info("data connection failed", "err", err)
		return nil, errDataConn
	}
	raw := conn
	x.data = raw
	context.AfterFunc(x.ctx, func() { raw.Close() })
	s.reply(150, opening)
	x.watch(s.srv.StallTimeout, s.minRate(x))
	if _, ok := raw.(EOFConfirmer); ok && s.protP {
		x.tlsEOF = &eofSeen{Conn: raw}
		conn = x.tlsEOF
	}
	if conn, err = s.protectData(x.ctx, conn); err != nil {
		return nil, err
	}
	return &countConn{Conn: s.paced(x, conn), x: x}, nil
}

// confirmEOF checks, for a data connection that may end without the
// client (EOFConfirmer: one relayed by another node), that the end of an
// upload was the client's. Under PROT P an end that came as a TLS
// close_notify alert is the client's already (only the client holds the
// keys; RFC 8446 §6.1); only a bare TCP end needs the confirmation.
func (x *transfer) confirmEOF() error {
	c, ok := x.data.(EOFConfirmer)
	if !ok {
		return nil
	}
	if x.tlsEOF != nil && !x.tlsEOF.ended.Load() {
		return nil
	}
	if err := c.ConfirmEOF(); err != nil {
		x.s.log.Warn("relayed data connection ended without the client's end of file; upload not committed", "path", x.name, "err", err)
		return fmt.Errorf("%w: %w", errDataLost, err)
	}
	return nil
}

// eofSeen is the TCP connection under a TLS data connection, noting
// whether the TLS layer read its end: crypto/tls returns io.EOF both for a
// close_notify and for a TCP end at a record boundary, and only the
// latter can come from a relaying node that died.
type eofSeen struct {
	net.Conn
	ended atomic.Bool
}

func (c *eofSeen) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.ended.Store(true)
	}
	return n, err
}

// Raw is the connection under it (peerClosed looks through).
func (c *eofSeen) Raw() net.Conn { return c.Conn }

// watch starts the stall timer: a transfer is cancelled (errStalled),
// whatever it waits for — a client that stopped sending or reading, or
// storage that stopped answering or giving out buffer memory — when no
// byte moved for timeout, or, with a minimum rate (minRate > 0), when
// fewer than minRate×timeout bytes moved in the last timeout. It looks a
// few times per timeout (stallChecks), so it fires up to a quarter of
// timeout late. The rate rule is what makes a client that sends one byte
// every 30 s give back what it holds (issue #15).
func (x *transfer) watch(timeout time.Duration, minRate int64) {
	need := int64(1)
	if minRate > 0 {
		need = max(1, int64(float64(minRate)*timeout.Seconds()))
	}
	x.touch()
	x.stallMu.Lock()
	defer x.stallMu.Unlock()
	samples := []int64{x.bytes.Load()} // bytes moved at each check, oldest first
	tick := max(timeout/stallChecks, time.Millisecond)
	var check func()
	check = func() {
		x.stallMu.Lock()
		defer x.stallMu.Unlock()
		if x.stall == nil {
			return
		}
		idle := time.Since(x.start) - time.Duration(x.moved.Load())
		n := x.bytes.Load()
		samples = append(samples, n)
		if len(samples) > stallChecks+1 {
			samples = samples[1:]
		}
		switch {
		case idle >= timeout:
			x.s.log.Info("transfer stalled", "verb", x.verb, "path", x.name, "timeout", timeout)
			x.cancel(errStalled)
			return
		case minRate > 0 && len(samples) == stallChecks+1 && n-samples[0] < need:
			x.s.log.Info("transfer too slow", "verb", x.verb, "path", x.name, "window", timeout,
				"bytes_in_window", n-samples[0], "min_rate", minRate)
			x.cancel(errStalled)
			return
		}
		x.stall.Reset(tick)
	}
	x.stall = time.AfterFunc(tick, check)
}

// stallChecks is how often per timeout the stall timer looks.
const stallChecks = 4

// stopWatch stops the stall timer: the data has all moved (an upload's
// commit is bounded by the store's own deadlines), or the transfer ended.
func (x *transfer) stopWatch() {
	x.stallMu.Lock()
	defer x.stallMu.Unlock()
	if x.stall != nil {
		x.stall.Stop()
		x.stall = nil
	}
}

func (x *transfer) touch() { x.moved.Store(int64(time.Since(x.start))) }

// countConn counts the bytes that move on a data connection and tells the
// stall timer.
type countConn struct {
	net.Conn
	x *transfer
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.x.bytes.Add(int64(n))
		c.x.touch()
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errDataLost, err)
	}
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.x.bytes.Add(int64(n))
		c.x.touch()
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", errDataLost, err)
	}
	return n, err
}
