package ftp

import (
	"net/netip"
	"slices"
	"time"
)

// Observer is told what the server does, for metrics. Its methods run on
// the sessions' goroutines: they must return at once and be safe for
// concurrent use. Server.Observer nil: nobody is told.
type Observer interface {
	SessionStarted()
	SessionEnded()
	// LoginDone reports a PASS that succeeded (ok) or was refused.
	LoginDone(ok bool)
	// CommandDone reports a command and the code of its (last) reply;
	// a data transfer is reported once more, by TransferDone.
	CommandDone(verb string, code int)
	TransferDone(TransferStat)
}

// TransferStat is one finished data-connection command.
type TransferStat struct {
	Verb     string // RETR, STOR, APPE, STOU, LIST, NLST, MLSD
	Upload   bool
	Path     string // in the user's view
	User     string
	Client   netip.Addr
	Binary   bool // TYPE I
	TLS      bool // the data connection was protected (PROT P)
	Bytes    int64
	Duration time.Duration
	Code     int // the final reply: 226, 426, 451, …
}

// Observers tells each of its observers in turn.
type Observers []Observer

func (os Observers) SessionStarted() {
	for _, o := range os {
		o.SessionStarted()
	}
}

func (os Observers) SessionEnded() {
	for _, o := range os {
		o.SessionEnded()
	}
}

func (os Observers) LoginDone(ok bool) {
	for _, o := range os {
		o.LoginDone(ok)
	}
}

func (os Observers) CommandDone(verb string, code int) {
	for _, o := range os {
		o.CommandDone(verb, code)
	}
}

func (os Observers) TransferDone(t TransferStat) {
	for _, o := range os {
		o.TransferDone(t)
	}
}

// SessionInfo is what Snapshot shows of one session.
type SessionInfo struct {
	ID       uint64
	Client   netip.Addr
	User     string // "" before login
	Since    time.Time
	TLS      bool   // the control connection is TLS
	Command  string // the verb running now, "" between commands
	Transfer *TransferInfo
}

// TransferInfo is a transfer in flight.
type TransferInfo struct {
	Verb, Path string
	Upload     bool
	Bytes      int64
	Size       int64 // what it will move when known (a download), else 0
	Since      time.Time
}

// Snapshot lists the open sessions, oldest first (for a status page).
func (s *Server) Snapshot() []SessionInfo {
	s.init()
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	out := make([]SessionInfo, 0, len(sessions))
	for _, sess := range sessions {
		if !sess.health {
			out = append(out, sess.info())
		}
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return a.Since.Compare(b.Since) })
	return out
}

// shown is the part of a session Snapshot reads; guarded by session.mu.
type shown struct {
	user    string
	since   time.Time
	tls     bool
	command string
}

func (s *session) info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := SessionInfo{ID: s.id, Client: s.client, User: s.shown.user, Since: s.shown.since, TLS: s.shown.tls, Command: s.shown.command}
	if x := s.xfer; x != nil {
		i.Transfer = &TransferInfo{Verb: x.verb, Path: x.name, Upload: isUpload(x.verb), Bytes: x.bytes.Load(), Size: x.size.Load(), Since: x.start}
	}
	return i
}

// show updates what Snapshot sees.
func (s *session) show(update func(*shown)) {
	s.mu.Lock()
	update(&s.shown)
	s.mu.Unlock()
}

// observe calls f with the observer, if there is one.
func (s *Server) observe(f func(Observer)) {
	if s.Observer != nil {
		f(s.Observer)
	}
}

// userName is the logged-in user's name ("" before login).
func (s *session) userName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown.user
}
