package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path"
	"sort"
	"time"
)

// sessionConfig is what every session shares.
type sessionConfig struct {
	addr, user, pass string
	opTimeout        time.Duration // bound of every FTP operation (login included)
	think            time.Duration // mean pause between operations
	maxFiles         int           // files a session keeps at most
	sizes            sizeDist
	stats            *stats
}

// file is the client's model of one name: what it must hold. A name whose
// last operation failed is uncertain (the server may have done it or not)
// and is not checked until an upload makes it certain again.
type file struct {
	content
	uncertain bool
}

// session is one client: it logs in from src and works only in its own
// directory, keeping a model of what must exist there.
type session struct {
	cfg   *sessionConfig
	id    int
	src   net.IP
	dir   string
	rnd   *rand.Rand
	files map[string]*file
	names int // names made so far (the next name's number)
	c     *client
	buf   []byte
}

func newSession(cfg *sessionConfig, id int, src net.IP) *session {
	return &session{cfg: cfg, id: id, src: src, dir: fmt.Sprintf("/load/s%04d", id),
		rnd: rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano()))), files: map[string]*file{},
		buf: make([]byte, 64<<10)}
}

// run works until the time until, then checks the whole model and quits.
// ctx bounds everything, the final check included.
func (s *session) run(ctx context.Context, until time.Time) {
	defer s.drop()
	made := false
	for time.Now().Before(until) && ctx.Err() == nil {
		if s.c == nil {
			if !s.connect(ctx) {
				s.pause(ctx, time.Second)
				continue
			}
			if !made {
				made = s.try("MKD", func() error { return s.c.MakeDir(s.dir) })
				if !made {
					continue
				}
			}
		}
		s.step(ctx)
		s.pause(ctx, time.Duration(s.rnd.Int64N(int64(2*s.cfg.think)+1)))
	}
	if made {
		s.checkAll(ctx)
	}
	if s.c != nil {
		s.c.quit(s.cfg.opTimeout)
		s.c = nil
	}
}

func (s *session) connect(ctx context.Context) bool {
	c, err := dialClient(ctx, s.cfg.addr, s.src, s.cfg.user, s.cfg.pass, s.cfg.opTimeout)
	if err != nil {
		s.cfg.stats.fail("LOGIN", err)
		return false
	}
	s.cfg.stats.login()
	s.c = c
	return true
}

// drop abandons the connection (after an error, whose reply may leave
// the session in an unknown state).
func (s *session) drop() {
	if s.c != nil {
		s.c.kill()
		s.c = nil
	}
}

func (s *session) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// try runs one operation under the operation deadline; on failure it counts
// the error and drops the connection.
func (s *session) try(verb string, f func() error) bool {
	err := s.c.do(context.Background(), s.cfg.opTimeout, f)
	if err != nil {
		s.cfg.stats.fail(verb, fmt.Errorf("session %d (%v): %w", s.id, s.src, err))
		s.drop()
		return false
	}
	return true
}

// step does one random operation.
func (s *session) step(ctx context.Context) {
	certain := s.certain()
	x := s.rnd.IntN(100)
	switch {
	case len(certain) == 0 || x < 30:
		s.stor(s.pickStorName())
	case x < 58:
		s.retr(certain[s.rnd.IntN(len(certain))])
	case x < 70:
		s.list()
	case x < 75:
		s.size(certain[s.rnd.IntN(len(certain))])
	case x < 88:
		s.rename(certain[s.rnd.IntN(len(certain))])
	default:
		s.dele(certain[s.rnd.IntN(len(certain))])
	}
}

// certain lists the names the model is sure of, sorted (for determinism
// of the random choice given the seed).
func (s *session) certain() []string {
	out := make([]string, 0, len(s.files))
	for name, f := range s.files {
		if !f.uncertain {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// pickStorName is a new name while the session has room, else an
// existing one (an overwrite).
func (s *session) pickStorName() string {
	if len(s.files) < s.cfg.maxFiles && (len(s.files) == 0 || s.rnd.IntN(2) == 0) {
		return s.newName()
	}
	all := make([]string, 0, len(s.files))
	for name := range s.files {
		all = append(all, name)
	}
	sort.Strings(all)
	return all[s.rnd.IntN(len(all))]
}

func (s *session) newName() string {
	s.names++
	return fmt.Sprintf("f%05d.bin", s.names)
}

func (s *session) path(name string) string { return path.Join(s.dir, name) }

func (s *session) stor(name string) {
	seed, size := s.rnd.Uint64(), s.cfg.sizes.pick(s.rnd)
	g := newGenerator(seed, size)
	if !s.try("STOR", func() error { return s.c.Stor(s.path(name), g) }) {
		s.markUncertain(name)
		return
	}
	s.files[name] = &file{content: content{seed: seed, size: size, sum: g.sum()}}
	s.cfg.stats.ok("STOR", size, 0)
}

func (s *session) markUncertain(name string) {
	if f, ok := s.files[name]; ok {
		f.uncertain = true
		return
	}
	s.files[name] = &file{uncertain: true}
}

// retr downloads name and compares size and SHA-256 with the model.
func (s *session) retr(name string) {
	want := s.files[name]
	var n int64
	var sum [sha256.Size]byte
	ok := s.try("RETR", func() error {
		r, err := s.c.Retr(s.path(name))
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err = io.CopyBuffer(h, r, s.buf)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		h.Sum(sum[:0])
		return err
	})
	if !ok {
		return
	}
	if n != want.size || sum != want.sum {
		s.cfg.stats.mismatch("RETR", fmt.Sprintf("session %d %s: got %d bytes sha256 %x, stored %d bytes sha256 %x",
			s.id, s.path(name), n, sum[:8], want.size, want.sum[:8]))
		want.uncertain = true
		return
	}
	s.cfg.stats.ok("RETR", 0, n)
}

// list compares the directory listing with the model: every certain name
// present with its size, nothing the model does not know.
func (s *session) list() {
	var got map[string]int64
	ok := s.try("LIST", func() error {
		entries, err := s.c.List(s.dir)
		if err != nil {
			return err
		}
		got = map[string]int64{}
		for _, e := range entries {
			if e.Name != "." && e.Name != ".." {
				got[e.Name] = int64(e.Size)
			}
		}
		return nil
	})
	if !ok {
		return
	}
	for name, f := range s.files {
		size, present := got[name]
		switch {
		case f.uncertain:
		case !present:
			s.cfg.stats.mismatch("LIST", fmt.Sprintf("session %d: %s missing", s.id, s.path(name)))
		case size != f.size:
			s.cfg.stats.mismatch("LIST", fmt.Sprintf("session %d: %s listed with %d bytes, stored %d", s.id, s.path(name), size, f.size))
		}
	}
	for name := range got {
		if _, known := s.files[name]; !known {
			s.cfg.stats.mismatch("LIST", fmt.Sprintf("session %d: %s listed, never stored or gone", s.id, s.path(name)))
		}
	}
	s.cfg.stats.ok("LIST", 0, 0)
}

func (s *session) size(name string) {
	var n int64
	if !s.try("SIZE", func() (err error) { n, err = s.c.FileSize(s.path(name)); return err }) {
		return
	}
	if want := s.files[name].size; n != want {
		s.cfg.stats.mismatch("SIZE", fmt.Sprintf("session %d: SIZE %s = %d, stored %d", s.id, s.path(name), n, want))
		return
	}
	s.cfg.stats.ok("SIZE", 0, 0)
}

// rename moves name to a new name (RNFR + RNTO).
func (s *session) rename(name string) {
	to := s.newName()
	f := s.files[name]
	if !s.try("RNFR/RNTO", func() error { return s.c.Rename(s.path(name), s.path(to)) }) {
		f.uncertain = true
		s.files[to] = &file{content: f.content, uncertain: true}
		return
	}
	delete(s.files, name)
	s.files[to] = f
	s.cfg.stats.ok("RNFR/RNTO", 0, 0)
}

func (s *session) dele(name string) {
	if !s.try("DELE", func() error { return s.c.Delete(s.path(name)) }) {
		s.markUncertain(name)
		return
	}
	delete(s.files, name)
	s.cfg.stats.ok("DELE", 0, 0)
}

// checkAll verifies the whole model at the end: the listing, then every
// certain file's bytes.
func (s *session) checkAll(ctx context.Context) {
	for range 3 {
		if s.c != nil || ctx.Err() != nil || s.connect(ctx) {
			break
		}
		s.pause(ctx, time.Second)
	}
	if s.c == nil {
		return
	}
	s.list()
	for _, name := range s.certain() {
		if s.c == nil || ctx.Err() != nil {
			s.cfg.stats.fail("CHECK", fmt.Errorf("session %d: final check of %s not done: %w", s.id, name, errTimeout))
			continue
		}
		s.retr(name)
		s.cfg.stats.checked()
	}
}
