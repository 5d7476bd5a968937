package ftp

// Slots is the number of connections counted against MaxSessions, those
// still waiting for a PROXY header included (for tests).
func (s *Server) Slots() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots
}
