package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// corruptFS serves every file with its first byte flipped.
type corruptFS struct{ *ftptest.MemFS }

func (c corruptFS) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	rc, err := c.MemFS.Open(ctx, name, offset)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&flipFirst{r: rc}, rc}, nil
}

type flipFirst struct {
	r    io.Reader
	done bool
}

func (f *flipFirst) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if n > 0 && !f.done {
		b[0] ^= 1
		f.done = true
	}
	return n, err
}

// TestChecksCatchCorruption: the session's checks fail on a server that
// serves other bytes than were stored, and on a file that vanished.
func TestChecksCatchCorruption(t *testing.T) {
	mem := ftptest.NewMemFS()
	srv := ftptest.StartServer(t, ftptest.Users{Passwords: map[string]string{"u": "p"},
		FS: func(string) ftp.FS { return corruptFS{mem} }}, nil)
	st := newStats()
	cfg := &sessionConfig{addr: srv.Addr, user: "u", pass: "p", opTimeout: time.Minute, maxFiles: 2,
		sizes: sizeDist{multipart: 1, maxSize: partSize + 100}, stats: st}
	s := newSession(cfg, 7, net.IPv4(127, 0, 0, 1))
	defer s.drop()
	if !s.connect(context.Background()) || !s.try("MKD", func() error { return s.c.MakeDir("/load") }) ||
		!s.try("MKD", func() error { return s.c.MakeDir(s.dir) }) { // MKD makes no parents (as mkdir)
		t.Fatalf("setup: %s", counts(st.errs))
	}
	s.stor("a")
	s.stor("b")
	if st.totalErrors() != 0 || len(s.certain()) != 2 {
		t.Fatalf("uploads: errors %s, model %v", counts(st.errs), s.certain())
	}
	s.retr("a")
	if st.mismatches["RETR"] != 1 {
		t.Fatalf("a flipped byte: mismatches %s, want RETR=1", counts(st.mismatches))
	}
	if err := mem.Remove(context.Background(), s.path("b")); err != nil {
		t.Fatal(err)
	}
	s.list()
	if st.mismatches["LIST"] != 1 {
		t.Fatalf("a vanished file: mismatches %s, want LIST=1", counts(st.mismatches))
	}
	if st.totalErrors() != 0 {
		t.Fatalf("errors %s", counts(st.errs))
	}
}

// TestVerdictCatchesGoroutineLeak: goroutines beyond what the remaining
// descriptors explain fail the run; those the store sockets and new
// passive listeners explain do not.
func TestVerdictCatchesGoroutineLeak(t *testing.T) {
	base := procSample{goroutines: 28, kinds: fdKinds{listeners: 6, store: 4}}
	after := procSample{goroutines: 28 + 2*22 + 17, kinds: fdKinds{listeners: 23, store: 26}}
	res := &result{stats: newStats(), baseline: base, passivePorts: 20, rounds: []round{{settled: after}}}
	res.stats.ops["STOR"], res.stats.ops["RETR"], res.stats.checkedN = 1, 1, 1
	if err := res.verdict(defaultOptions()); err != nil {
		t.Fatalf("explained goroutines: %v", err)
	}
	leak := after
	leak.goroutines += goroutineSlack + 32 // one per session of a small run
	res.rounds = []round{{settled: after, lingered: &leak}}
	if err := res.verdict(defaultOptions()); err == nil || !strings.Contains(err.Error(), "goroutines not back") {
		t.Fatalf("a leak of 32 goroutines passed: %v", err)
	}
}
