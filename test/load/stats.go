package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"sort"
	"strconv"
	"sync"
	"syscall"
)

// stats are the counts of one run, shared by all sessions.
type stats struct {
	mu         sync.Mutex
	ops        map[string]int // by verb, successful
	errs       map[string]int // by kind: FTP reply code or a network class
	mismatches map[string]int // by kind
	sent, recv int64          // payload bytes acknowledged by 226 / verified
	multipart  int            // successful uploads above the part size
	logins     int
	checkedN   int      // files verified by the final check
	samples    []string // the first messages of errors, then of mismatches
	misSamples int      // of them mismatches
}

const keepSamples = 30

func newStats() *stats {
	return &stats{ops: map[string]int{}, errs: map[string]int{}, mismatches: map[string]int{}}
}

func (s *stats) ok(verb string, sent, recv int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[verb]++
	s.sent += sent
	s.recv += recv
	if verb == "STOR" && sent > partSize {
		s.multipart++
	}
}

func (s *stats) login() {
	s.mu.Lock()
	s.logins++
	s.mu.Unlock()
}

func (s *stats) checked() {
	s.mu.Lock()
	s.checkedN++
	s.mu.Unlock()
}

func (s *stats) fail(verb string, err error) {
	kind := errKind(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[verb+" "+kind]++
	s.sample(fmt.Sprintf("error %s %s: %v", verb, kind, err))
}

func (s *stats) mismatch(kind, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mismatches[kind]++
	// Mismatches are kept even once errors filled the samples.
	if s.misSamples < keepSamples {
		s.misSamples++
		s.samples = append(s.samples, "mismatch "+kind+": "+msg)
	}
}

func (s *stats) sample(msg string) {
	if len(s.samples)-s.misSamples < keepSamples {
		s.samples = append(s.samples, msg)
	}
}

// errKind is the FTP reply code of err, or a class of network error.
func errKind(err error) string {
	var te *textproto.Error
	var ne net.Error
	switch {
	case errors.As(err, &te):
		return strconv.Itoa(te.Code)
	case errors.Is(err, errTimeout):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "net-timeout"
	default:
		return "other"
	}
}

func (s *stats) totalErrors() (n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.errs {
		n += v
	}
	return n
}

func (s *stats) totalMismatches() (n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.mismatches {
		n += v
	}
	return n
}

func (s *stats) totalOps() (n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.ops {
		n += v
	}
	return n
}

// counts renders a map as "k=v k=v" in key order ("none" when empty).
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s=%d", k, m[k])
	}
	return out
}
