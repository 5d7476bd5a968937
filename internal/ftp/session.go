package ftp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp/wire"
)

// session is one control connection. Its state is owned by the command
// goroutine (serve); a transfer runs in a goroutine of its own so that ABOR
// and STAT can be answered while it moves data (RFC 959 §4.1.3).
type session struct {
	srv    *Server
	id     uint64
	conn   net.Conn         // the accepted connection: deadlines and Close
	ctrl   net.Conn         // the control stream on it (TLS after AUTH TLS)
	in     *wire.CtrlReader // reads ctrl; watches it while a command runs
	r      *bufio.Reader
	lines  *wire.LineReader
	client netip.Addr // real client IP (PROXY-derived behind a LB)
	local  netip.Addr // the address the client dialled (PROXY destination, else ours)
	health bool       // a load balancer's health check (PROXY LOCAL)
	// sharedCounted: the session is in Server.Shared's per-IP count.
	sharedCounted bool
	// sharedUser: the session is in Server.Shared's count of this user.
	sharedUser  string
	userCounted bool // in Server.userSess (logged in)
	log         *slog.Logger
	ctx         context.Context
	cancel      context.CancelFunc

	wmu   sync.Mutex // serialises control writes
	wfail bool

	// mu guards the fields below, shared with Shutdown and the transfer
	// goroutine. Nothing is written to the network while it is held.
	mu       sync.Mutex
	busy     bool      // a command or a transfer is running
	draining bool      // Shutdown was called: close once quiet
	quiet    time.Time // since when no command or transfer has run
	start    time.Time // accepted: the login deadline counts from here
	xfer     *transfer
	shown    shown        // for Server.Snapshot
	lastCode atomic.Int32 // of the last reply sent

	// Command goroutine state.
	started    bool      // the command started a transfer
	dirs       knownDirs // directories seen to exist (dirs.go)
	user       string
	acct       *Account
	failures   int
	cwd        string
	renameFrom string
	rest       int64
	binary     bool
	epsvAll    bool
	utf8       bool
	mlstFacts  []string
	hashAlgo   string // OPTS HASH
	pasv       PassiveListener
	active     netip.AddrPort
	tlsControl bool        // the control connection is TLS (AUTH TLS or implicit)
	pbsz       bool        // PBSZ 0 was given
	protP      bool        // PROT P: data connections use TLS
	tlsConf    *tls.Config // sessionTLS
}

func newSession(srv *Server, c net.Conn) *session {
	id := srv.nextID.Add(1)
	client := AddrIP(c.RemoteAddr())
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		srv:       srv,
		id:        id,
		conn:      c,
		client:    client,
		local:     AddrIP(c.LocalAddr()),
		log:       srv.Logger.With("session", id, "client", client.String()),
		ctx:       ctx,
		cancel:    cancel,
		quiet:     time.Now(),
		start:     time.Now(),
		cwd:       "/",
		mlstFacts: allFacts,
		hashAlgo:  HashSHA256,
	}
	s.setControl(c)
	return s
}

// setControl makes c the control stream (the accepted connection, or TLS
// on it).
func (s *session) setControl(c net.Conn) {
	s.wmu.Lock()
	s.ctrl = c
	s.wmu.Unlock()
	s.in = wire.NewCtrlReader(c, s.gone)
	s.r = bufio.NewReaderSize(s.in, 512)
	s.lines = wire.NewLineReader(s.r)
}

// AddrIP is the IP of a TCP address, IPv4-mapped IPv6 unmapped (zero if
// it has none). Listener wrappers use it too.
func AddrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// refuse answers a connection we will not serve and closes it.
func (s *session) refuse(code int, text string) {
	s.reply(code, text)
	s.conn.Close()
	s.cancel()
}

func (s *session) serve() {
	s.show(func(v *shown) { v.since, v.tls = time.Now(), s.tlsControl })
	s.srv.observe(Observer.SessionStarted)
	defer s.srv.observe(Observer.SessionEnded)
	defer s.end()
	if !s.health {
		s.log.Info("connect", "local", s.local.String(), "tls", s.tlsControl)
	}
	s.reply(220, s.srv.limits().Welcome)
	for first := true; ; first = false {
		line, err := s.readCommand()
		var ne net.Error
		switch {
		case errors.Is(err, wire.ErrLineTooLong):
			s.reply(500, "Command line too long.")
			continue
		case errors.As(err, &ne) && ne.Timeout():
			if s.timedOut() {
				return
			}
			continue
		case err != nil:
			s.readFailed(err)
			return
		}
		if first && line == "" && s.proxyV2Follows() {
			s.refuseProxy(2)
			return
		}
		verb, arg := splitCommand(line)
		if s.transferring() {
			switch verb {
			case "ABOR":
				s.abortTransfer()
				continue
			case "STAT":
				if arg == "" {
					s.transferStatus()
					continue
				}
			case "QUIT":
				// A HASH in progress is abandoned (426), then QUIT is
				// answered; a data transfer finishes first (RFC 959 §4.1.1).
				s.cancelCommand(errAborted)
			}
			// Anything else waits for the transfer's final reply, in order.
			s.in.Watch()
			s.waitTransfer()
			s.in.Unwatch()
		}
		s.begin(verb)
		quit := s.dispatch(verb, arg)
		// Before login, NOOP is no sign of life: it would keep a slot that
		// never logs in from ever idling out.
		s.finish(verb != "NOOP" || s.acct != nil)
		if !s.started { // a transfer reports its command when it ends
			if _, known := s.srv.cmds[verb]; !known {
				verb = "UNKNOWN" // metrics have no label per made-up verb
			}
			s.srv.observe(func(o Observer) { o.CommandDone(verb, int(s.lastCode.Load())) })
		}
		s.started = false
		if quit {
			return
		}
	}
}

// begin marks the session busy: a drain leaves it alone until it is done.
func (s *session) begin(verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = true
	s.shown.command = verb
}

// finish ends a command; a transfer it started keeps the session busy.
// active: the command counts as activity for the idle timer.
func (s *session) finish(active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shown.command = ""
	if s.xfer == nil {
		s.busy = false
		if active {
			s.quiet = time.Now()
		}
	}
}

// readCommand reads one command line within the deadline armRead sets.
func (s *session) readCommand() (string, error) {
	s.armRead()
	return s.lines.Read(wire.MaxLine)
}

// armRead sets the control read deadline for the wait ahead: none while a
// transfer runs (a control connection is silent during a long transfer),
// the end of the quiet moment while draining, else the idle timeout. It
// runs under mu, as do drain and endTransfer, which move the deadline to
// wake the command loop: neither can be overwritten by a stale value.
func (s *session) armRead() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Time
	switch {
	case s.xfer != nil:
	case s.draining && s.between():
		d = s.quiet.Add(s.srv.DrainQuiet)
	default:
		d = s.quiet.Add(s.srv.IdleTimeout)
	}
	if login := s.start.Add(s.srv.LoginTimeout); s.acct == nil && !d.IsZero() && login.Before(d) {
		d = login
	}
	_ = s.conn.SetReadDeadline(d)
}

// between reports whether the client is between command sequences: no
// half-received command line and nothing set up that a following command
// would use (a login begun with USER, PASV/PORT, REST, RNFR). Command
// goroutine only.
func (s *session) between() bool {
	return !s.lines.Partial() && (s.user == "" || s.acct != nil) &&
		s.pasv == nil && !s.active.IsValid() && s.rest == 0 && s.renameFrom == ""
}

// timedOut decides what a read deadline that passed means, and reports
// whether the session ends: draining and quiet for DrainQuiet (421, RFC
// 959 §5.4), idle for IdleTimeout (421), or neither — a wake-up from drain
// or from a transfer's end, after which the loop reads on.
func (s *session) timedOut() bool {
	s.mu.Lock()
	xfer, draining, idle := s.xfer != nil, s.draining, time.Since(s.quiet)
	s.mu.Unlock()
	switch {
	case xfer:
		return false
	case draining && s.between() && idle >= s.srv.DrainQuiet:
		s.log.Info("closing session: server shutting down")
		s.reply(421, "Server shutting down; closing control connection.")
		return true
	case s.acct == nil && time.Since(s.start) >= s.srv.LoginTimeout:
		// A hard deadline from connect to login: whatever it sends, a
		// client that does not log in gives its slot back.
		s.log.Info("login timeout", "after", time.Since(s.start).Round(time.Millisecond).String())
		s.reply(421, "Login timeout: closing control connection.")
		return true
	case idle >= s.srv.IdleTimeout:
		s.log.Info("idle timeout")
		s.reply(421, "Timeout: closing control connection.")
		return true
	}
	return false
}

// drain is called by Server.Shutdown. It writes nothing (a peer that does
// not read must not hold up Shutdown): it marks the session and wakes its
// command loop if that waits for the client; the loop closes the session
// with 421 once it is between commands and quiet (timedOut).
func (s *session) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	if !s.busy {
		_ = s.conn.SetReadDeadline(time.Now())
	}
	if s.xfer != nil && s.xfer.command {
		// A HASH is only reading: it is abandoned (450, try again
		// elsewhere) rather than let hold up the drain.
		s.xfer.cancel(errShuttingDown)
	}
}

// kill closes the session at once (Server.Close, drain timeout).
func (s *session) kill() {
	s.cancel()
	s.conn.Close()
}

// gone is called when the background read finds the control connection
// closed while a command runs: the client vanished (or the command closed
// it). Cancelling the session's context ends the storage call the command
// waits for, and the descriptor is freed now.
func (s *session) gone(err error) {
	if !errors.Is(err, net.ErrClosed) {
		s.log.Info("client closed the control connection during a command", "err", err)
	}
	s.kill()
}

func (s *session) end() {
	s.cancel()
	s.waitTransfer()
	s.closePassive()
	lingerClose(s.conn)
	if s.userCounted {
		s.srv.userSess.drop(s.acct.Name)
		s.srv.releaseSharedUser(s)
	}
	if !s.health {
		s.log.Info("disconnect", "tls", s.tlsControl, "duration", time.Since(s.shown.since).Round(time.Millisecond))
	}
}

func (s *session) readFailed(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		s.log.Debug("control read failed", "err", err)
	}
}

// splitCommand parses "VERB arg" (RFC 959 §5.3): the verb is
// case-insensitive, the argument is everything after the first space.
func splitCommand(line string) (verb, arg string) {
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), arg
}

// proxyV2Sig is the PROXY protocol v2 signature (haproxy's proxy-protocol
// spec §2.2). Its first two bytes end an empty command line; the rest is
// what follows them.
const proxyV2Sig = "\r\n\r\n\x00\r\nQUIT\n"

// proxyV2Follows reports whether the bytes after a first, empty line are
// the rest of a PROXY v2 signature. It only looks at what the first read
// brought (a header comes in one segment); it never waits for more, so a
// client that sends a bare CRLF is not held up. The NUL byte can start no
// command, so three bytes are enough.
func (s *session) proxyV2Follows() bool {
	rest := proxyV2Sig[2:]
	b, _ := s.r.Peek(min(s.r.Buffered(), len(rest)))
	return len(b) >= 3 && rest[:len(b)] == string(b)
}

// refuseProxy ends a session that sent a PROXY header (v1 as a command
// line, v2 as its binary signature) though it did not come from an
// address in proxy_protocol.trusted: a spoofing attempt. Without this, v2's
// bytes would be read as commands and its embedded QUIT end the session
// quietly.
func (s *session) refuseProxy(version int) {
	s.srv.refused.Warn(s.log, s.client.String(), "refused PROXY header from an untrusted address", "version", version)
	s.reply(421, "PROXY header not accepted from your address.")
	s.conn.Close()
}

func (s *session) dispatch(verb, arg string) (quit bool) {
	c, ok := s.srv.cmds[verb]
	if verb == "PROXY" {
		s.refuseProxy(1)
		return true
	}
	if !ok {
		s.reply(502, "Command not implemented.")
		return false
	}
	if verb == "PASS" {
		s.log.Debug("command", "verb", verb) // never the password
	} else {
		s.log.Debug("command", "verb", verb, "arg", arg)
	}
	switch {
	case c.login && s.acct == nil:
		s.reply(530, "Please login with USER and PASS.")
	case c.arg && arg == "":
		s.reply(501, "Syntax error in parameters or arguments.")
	case c.write && s.acct.ReadOnly:
		s.reply(550, "Permission denied: read-only account.")
		s.audit(verb, arg, "")
	case c.name && !validName(arg):
		s.replyError(errBadName, verb)
	case s.acct != nil && !s.permitted(verb, arg):
	default:
		from := s.renameFrom
		if verb != "RNFR" {
			// RNTO must follow RNFR directly (RFC 959 §4.1.3).
			defer func() { s.renameFrom = "" }()
		}
		if !c.conn {
			s.in.Watch()
			defer s.in.Unwatch()
		}
		quit = c.run(s, arg)
		if c.write && !s.started && verb != "RNFR" {
			s.audit(verb, arg, from) // a transfer has its own line
		}
		return quit
	}
	return false
}

// audit writes the INFO line of a change to storage (or a refused one):
// who, from where (the session logger carries the real client IP and the
// user), what, and the reply it got.
func (s *session) audit(verb, arg, from string) {
	attrs := []any{"verb", verb, "code", s.lastCode.Load()}
	switch verb {
	case "MFMT": // MFMT time path
		attrs = append(attrs, "arg", arg)
	case "RNTO":
		attrs = append(attrs, "from", from, "path", s.abs(arg))
	default:
		attrs = append(attrs, "path", s.abs(arg))
	}
	s.log.Info("audit", attrs...)
}

// lingerClose closes a control connection gracefully: a half close (after
// TLS's close_notify), then a short, bounded read of what the client still
// sends (a late LF after a CR-ended QUIT, pipelined commands) until it
// closes too. Closing with unread bytes makes the kernel send a reset,
// which can cost the client the last reply (net/http closes the same
// way). A connection already closed (kill) returns at once.
func lingerClose(c net.Conn) {
	if t, ok := c.(*tls.Conn); ok {
		_ = t.CloseWrite()
	}
	if tc, ok := tcpUnder(c).(*net.TCPConn); ok && tc.CloseWrite() == nil {
		_ = tc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(tc, 64<<10))
	}
	c.Close()
}

// tcpUnder is the connection under c's wrappers (TLS, PROXY protocol).
func tcpUnder(c net.Conn) net.Conn {
	for {
		switch w := c.(type) {
		case *tls.Conn:
			c = w.NetConn()
		case interface{ Raw() net.Conn }:
			c = w.Raw()
		default:
			return c
		}
	}
}
