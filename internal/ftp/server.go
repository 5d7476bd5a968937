// Package ftp is s3ftpd's FTP protocol core: the server, the session state
// machine, commands, replies and data connections (RFC 959, 2389, 2428,
// 3659). It uses only the standard library and defines the small interfaces
// it needs (FS, Authenticator, PassiveProvider); storage, authentication and
// clustering live elsewhere and implement them.
package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ftp: server closed")

// Server serves FTP control connections. Set its fields before the first
// call to Serve and leave them alone afterwards; SetLimits changes the
// limits while it serves (reload.go).
type Server struct {
	Auth    Authenticator   // required
	Passive PassiveProvider // nil: PASV/EPSV answer 425
	Logger  *slog.Logger    // nil: slog.Default()

	// AllowActive enables PORT/EPRT. An active data connection only ever
	// goes to the control connection's client IP (RFC 2577 bounce defence).
	AllowActive bool
	// PassiveIP picks the IPv4 address advertised in a PASV reply for a
	// client that reached us at local. Nil: local itself.
	PassiveIP func(client, local netip.Addr) (netip.Addr, error)

	IdleTimeout time.Duration // idle control connection; default 5m
	// LoginTimeout is the most time from connect to a successful login,
	// whatever the client sends meanwhile; default 60s.
	LoginTimeout time.Duration
	DataTimeout  time.Duration // waiting for a data connection; default 30s
	StallTimeout time.Duration // no byte moved on a data connection; default 2m
	// MinRate (bytes/s) makes the stall rule a minimum rate: a transfer
	// that moved fewer than MinRate×StallTimeout bytes in the last
	// StallTimeout is aborted (426). 0: only "no byte for StallTimeout".
	// A bandwidth limit below 2×MinRate lowers it to half that limit.
	MinRate int64
	// DownloadBuffers bounds the memory of download copy buffers
	// (DownloadBufferSize each, one per RETR) in the process; default
	// 256 MiB. DownloadIPShare and DownloadUserShare are the percentages
	// of it that one client IP (/64) and one user may hold (default 25;
	// 100: no cap; never less than one buffer). A RETR waits at most
	// BufferWait (default 30s) for a buffer, then gets 451.
	DownloadBuffers                    int64
	DownloadIPShare, DownloadUserShare int
	BufferWait                         time.Duration
	LoginFailDelay                     time.Duration // pause before a 530; default 1s
	MaxLoginFailure                    int           // failed logins before the session is closed; default 3
	// DrainQuiet is how long a session must have been between commands,
	// with nothing set up for a next one (USER, PASV/PORT, REST, RNFR),
	// before Shutdown closes it with 421; default 2s. A client in the middle
	// of a login-PASV-STOR sequence is let finish it.
	DrainQuiet time.Duration

	Welcome string // 220 greeting text; default "s3ftpd ready."

	// TLSConfig enables FTPS (RFC 4217): AUTH TLS on Serve, implicit TLS on
	// ServeTLS. Nil: no TLS. Its certificate, versions and ciphers are used
	// as given; session tickets must stay enabled (data connections resume
	// the control connection's session).
	TLSConfig  *tls.Config
	TLSControl TLSPolicy // required: USER/PASS only after AUTH TLS
	TLSData    TLSPolicy // required: PROT P before any data connection
	// TLSRequireReuse: a PROT P data connection must resume the control
	// connection's TLS session (vsftpd's require_ssl_reuse).
	TLSRequireReuse bool

	// MaxSessions counts control connections at once, from the moment they
	// are accepted (a PROXY header or TLS handshake still to come counts);
	// 0: no limit.
	MaxSessions int
	// MaxSessionsPerIP counts control connections per real client IP (an
	// IPv6 client per /64); 0: no limit.
	MaxSessionsPerIP int
	// MaxPendingPerIP bounds the TLS handshakes of implicit FTPS running
	// at once for one client IP (/64); default 8.
	MaxPendingPerIP int
	// HandshakeTimeout bounds a control connection's TLS handshake
	// (implicit FTPS, AUTH TLS) and the wait for a trusted LB's PROXY
	// header; default 10s.
	HandshakeTimeout time.Duration
	// LoginFailuresPerIP failed logins from one IP (/64) within a minute make
	// that IP's further attempts wait out the minute (421); 0: no limit.
	LoginFailuresPerIP int
	// LoginFailuresGlobal failed logins within a minute in the process make
	// clients that failed in that minute wait it out (421) before their
	// password is checked; clients with no failure are still checked. 0: no
	// limit.
	LoginFailuresGlobal int
	// MaxPasswordChecks bounds the password checks (bcrypt) running at
	// once, and as many again for clients with no failed login (login.go);
	// default GOMAXPROCS/2, at least 1. A PASS waits LoginCheckWait (default 5s)
	// for a turn, then gets 421.
	MaxPasswordChecks int
	LoginCheckWait    time.Duration
	// Shared counts MaxSessionsPerIP and LoginFailuresPerIP across
	// processes (a cluster); nil: this process alone.
	Shared SharedCounts
	// Observer is told of sessions, logins, commands and transfers
	// (metrics); nil: nobody.
	Observer Observer
	// Defaults of the per-account limits (Account overrides them): the
	// largest file an upload may make, logged-in sessions per user, and
	// bandwidth. Zero: no limit.
	MaxFileSize        int64
	MaxSessionsPerUser int
	Bandwidth          Bandwidth
	// MaxHashBytes is the most bytes one HASH, XCRC, XMD5, XSHA1 or XSHA256
	// reads from storage and hashes (504 beyond it; a checksum the store
	// keeps answers at any size); 0: no limit.
	MaxHashBytes int64

	once     sync.Once
	cmds     map[string]command
	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[net.Conn]struct{} // accepted, until their goroutine ends (trackConn)
	sessions map[*session]struct{} // admitted
	wg       sync.WaitGroup        // one per entry of conns
	slots    int                   // connections counted against MaxSessions (slot)
	perIP    map[netip.Addr]int    // by clientKey
	pending  map[netip.Addr]int    // TLS handshakes running, by clientKey
	fails    loginThrottle
	userSess userSessions
	buckets  userBuckets
	refused  LogLimiter    // lines about refused connections
	checks   chan struct{} // password check turns (login.go)
	// freshChecks: the turns kept for clients with no failed login.
	freshChecks chan struct{}
	checking    map[netip.Addr]int // password checks waiting or running, by clientKey
	// globalFails counts failed logins in the process's current minute.
	globalFails struct {
		start time.Time
		count int
	}
	closing atomic.Bool
	nextID  atomic.Uint64
	// live holds the limits in force (reload.go).
	live atomic.Pointer[Limits]
	// bufs are the RETR copy buffers (DownloadBufferSize), counted in
	// downloads.
	bufs      copyBufs
	downloads *Budget
}

func (s *Server) init() {
	s.once.Do(func() {
		s.cmds = commandTable()
		s.lns = map[net.Listener]struct{}{}
		s.conns = map[net.Conn]struct{}{}
		s.sessions = map[*session]struct{}{}
		s.perIP = map[netip.Addr]int{}
		s.pending = map[netip.Addr]int{}
		s.checking = map[netip.Addr]int{}
		s.fails = loginThrottle{window: time.Minute, seen: map[netip.Addr]*failWindow{}}
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		s.downloads = s.downloadBudget()
		if s.IdleTimeout <= 0 {
			s.IdleTimeout = 5 * time.Minute
		}
		if s.LoginTimeout <= 0 {
			s.LoginTimeout = time.Minute
		}
		if s.DataTimeout <= 0 {
			s.DataTimeout = 30 * time.Second
		}
		if s.StallTimeout <= 0 {
			s.StallTimeout = 2 * time.Minute
		}
		if s.LoginFailDelay < 0 {
			s.LoginFailDelay = 0
		} else if s.LoginFailDelay == 0 {
			s.LoginFailDelay = time.Second
		}
		if s.HandshakeTimeout <= 0 {
			s.HandshakeTimeout = 10 * time.Second
		}
		if s.MaxPendingPerIP <= 0 {
			s.MaxPendingPerIP = 8
		}
		if s.MaxPasswordChecks <= 0 {
			// Half the CPUs at most: the other half stays for transfers
			// and for everything else a flood of wrong passwords would
			// starve.
			s.MaxPasswordChecks = max(1, runtime.GOMAXPROCS(0)/2)
		}
		s.checks = make(chan struct{}, s.MaxPasswordChecks)
		s.freshChecks = make(chan struct{}, s.MaxPasswordChecks)
		if s.LoginCheckWait <= 0 {
			s.LoginCheckWait = 5 * time.Second
		}
		if s.DrainQuiet <= 0 {
			s.DrainQuiet = 2 * time.Second
		}
		if s.MaxLoginFailure <= 0 {
			s.MaxLoginFailure = 3
		}
		if s.Welcome == "" {
			s.Welcome = defaultWelcome
		}
		s.live.Store(s.startLimits())
	})
}

// Listen opens a TCP listener whose connections have TCP keepalive probes
// after idle, so that a load balancer's idle timer (AWS NLB: 350 s) does not
// cut a control connection that stays silent during a long transfer.
func Listen(ctx context.Context, addr string, idle time.Duration) (net.Listener, error) {
	if idle <= 0 {
		idle = 60 * time.Second
	}
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: idle, Interval: 15 * time.Second, Count: 4,
	}}
	return lc.Listen(ctx, "tcp", addr)
}

// ListenAndServe listens on addr with TCP keepalive and serves.
func (s *Server) ListenAndServe(addr string) error {
	l, err := Listen(context.Background(), addr, 0)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts control connections on l until Shutdown or Close. The
// listener may be wrapped (PROXY protocol): the connection's RemoteAddr is
// taken as the real client address everywhere.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS serves implicit FTPS (the "port 990" style): every connection
// starts with a TLS handshake, and data connections default to PROT P.
// TLSConfig must be set.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.TLSConfig == nil {
		return errors.New("ftp: ServeTLS needs Server.TLSConfig")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	s.init()
	if s.Auth == nil {
		return errors.New("ftp: Server.Auth is nil")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.lns[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, l)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Anything else (EMFILE, ECONNABORTED, a refused PROXY header)
			// concerns one connection or a passing shortage: back off, go on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.Logger.Warn("accept failed; retrying", "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.startSession(c, implicitTLS)
	}
}

// handshaker is a connection with work to finish before its session
// starts, such as reading a PROXY protocol header. It runs in the
// connection's own goroutine, so a slow peer cannot hold up Accept.
type handshaker interface{ Handshake() error }

// healthChecker is a connection that is a load balancer's health check
// (PROXY v2 LOCAL): answered like any, but not counted against limits.
type healthChecker interface{ HealthCheck() bool }

func (s *Server) startSession(c net.Conn, implicitTLS bool) {
	if !s.trackConn(c, true) {
		c.Close()
		return
	}
	go func() {
		defer s.trackConn(c, false)
		var sl slot
		defer s.uncount(&sl, true)
		sess := s.connect(c, implicitTLS, &sl)
		if sess == nil {
			return
		}
		if !s.register(sess) {
			sess.refuse(421, "Service not available, server shutting down.")
			return
		}
		defer s.unregister(sess)
		if !s.admitShared(sess) {
			sess.refuse(421, "Too many connections from your address; try again later.")
			return
		}
		defer s.releaseShared(sess)
		sess.serve()
	}()
}

// connect takes c from Accept to the greeting: it counts c in the session
// limits before reading anything from it, reads its PROXY header, counts
// it under its real client and runs the implicit TLS handshake. Nil: c was
// refused or failed and is closed.
func (s *Server) connect(c net.Conn, implicitTLS bool, sl *slot) *session {
	h, viaLB := c.(handshaker)
	var key netip.Addr
	if !viaLB {
		key = clientKey(AddrIP(c.RemoteAddr())) // a PROXY conn's RemoteAddr would read the header
	}
	if code, text, ok := s.admitConn(sl, key); !ok {
		s.refusedLog("refused connection", c, viaLB, code, text)
		s.refuseConn(c, implicitTLS, code, text)
		return nil
	}
	if viaLB {
		_ = c.SetDeadline(time.Now().Add(s.HandshakeTimeout))
		err := h.Handshake()
		_ = c.SetDeadline(time.Time{})
		if err != nil {
			c.Close()
			return nil
		}
	}
	keepUrgentInline(c)
	sess := newSession(s, c)
	if hc, ok := c.(healthChecker); ok && hc.HealthCheck() {
		sess.health = true
		s.uncount(sl, false) // a LB's health check counts globally only
	} else if viaLB {
		if code, text, ok := s.admitIP(sl, clientKey(sess.client)); !ok {
			s.refusedLog("refused connection", c, false, code, text)
			s.refuseConn(c, implicitTLS, code, text)
			return nil
		}
	}
	if implicitTLS {
		// A health check (no client key) is not capped per IP.
		if !sess.health && !s.beginPending(sl) {
			s.refusedLog("refused connection: too many TLS handshakes pending", c, false, 0, "")
			c.Close()
			return nil
		}
		ok := sess.startTLS()
		s.endPending(sl)
		if !ok {
			return nil
		}
		sess.pbsz, sess.protP = true, true // implicit FTPS protects data by default
	}
	return sess
}

// trackConn adds or removes an accepted connection, as net/http's
// Server.trackConn does. Once the server is closing it adds nothing (and
// reports false), so wg.Add never races Shutdown's wg.Wait.
func (s *Server) trackConn(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		s.wg.Done()
		return true
	}
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// register adds an admitted session to those Shutdown drains; false when
// the server is closing.
func (s *Server) register(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
}

// Shutdown stops accepting connections and lets every session finish what
// it is doing: a session is closed with 421 once it is between commands and
// has been quiet for DrainQuiet (a client in the middle of a login-PASV-STOR
// sequence finishes it first), and transfers in flight run to their end.
// Shutdown returns once every connection has ended, or when ctx is done:
// then the remaining sessions are closed at once and ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop((*session).drain)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes every listener and every connection at once.
func (s *Server) Close() error {
	conns := s.stop((*session).kill)
	for _, c := range conns {
		c.Close() // connections still in their PROXY handshake
	}
	return nil
}

// stop closes the listeners, refuses new connections and applies end to
// each session. The locks are held only to take a snapshot: end runs
// without them, so nothing a session does can hold up admit and release.
func (s *Server) stop(end func(*session)) []net.Conn {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	lns := slices.Collect(maps.Keys(s.lns))
	sessions := slices.Collect(maps.Keys(s.sessions))
	conns := slices.Collect(maps.Keys(s.conns))
	s.mu.Unlock()
	for _, l := range lns {
		l.Close()
	}
	for _, sess := range sessions {
		end(sess)
	}
	return conns
}

// Sessions is the number of open control connections.
func (s *Server) Sessions() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
