package ftp

// Limits are the settings of a Server that SetLimits changes while it
// serves (s3ftpd reloads them on SIGHUP). The Server fields of the same
// names are their values at the start. A change applies to what is decided
// after it: a new connection, a login, a transfer that starts; sessions
// already logged in and transfers running keep what they got.
type Limits struct {
	MaxSessions         int
	MaxSessionsPerIP    int
	MaxSessionsPerUser  int
	LoginFailuresPerIP  int
	LoginFailuresGlobal int
	MaxFileSize         int64
	MaxHashBytes        int64
	Bandwidth           Bandwidth
	// Welcome is the 220 greeting; "": the default.
	Welcome string
}

const defaultWelcome = "s3ftpd ready."

// SetLimits replaces the server's limits; safe while it serves.
func (s *Server) SetLimits(l Limits) {
	s.init()
	if l.Welcome == "" {
		l.Welcome = defaultWelcome
	}
	s.live.Store(&l)
}

// CurrentLimits returns the limits in force.
func (s *Server) CurrentLimits() Limits { return *s.limits() }

// limits are the limits in force (the fields, until SetLimits).
func (s *Server) limits() *Limits {
	if l := s.live.Load(); l != nil {
		return l
	}
	s.init()
	return s.live.Load()
}

// startLimits are the limits of the Server's fields (init).
func (s *Server) startLimits() *Limits {
	return &Limits{MaxSessions: s.MaxSessions, MaxSessionsPerIP: s.MaxSessionsPerIP,
		MaxSessionsPerUser: s.MaxSessionsPerUser, LoginFailuresPerIP: s.LoginFailuresPerIP,
		LoginFailuresGlobal: s.LoginFailuresGlobal, MaxFileSize: s.MaxFileSize, MaxHashBytes: s.MaxHashBytes, Bandwidth: s.Bandwidth,
		Welcome: s.Welcome}
}
