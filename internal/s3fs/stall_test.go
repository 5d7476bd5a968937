package s3fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// faultEnv is newEnv with the production client (NewClient) talking to the
// store through a fault-injection proxy, with the given stall timeout.
func faultEnv(t *testing.T, stall time.Duration, opts Options) (*env, *s3faults.Proxy) {
	t.Helper()
	e := newEnv(t, opts)
	p, err := s3faults.Start(e.srv.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	client, err := NewClient(e.ctx, ClientOptions{
		Endpoint: p.URL, PathStyle: true, AccessKey: e.srv.access, SecretKey: e.srv.secret, StallTimeout: stall,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { CloseIdleConnections(client) })
	opts.Bucket = e.bucket
	opts.Logger = e.store.log
	s, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.store, e.fs = s, s.FS("/")
	return e, p
}

// within runs f and fails the test if it does not return within limit
// (the store's stall timeout plus generous slack).
func within(t *testing.T, limit time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("%s still waiting after %v: the stall timeout did not end it", what, limit)
		return nil
	}
}

// A store that accepts requests and never answers them fails each kind
// of request within the stall timeout (plus slack), instead of hanging
// the caller; the stalled request is not retried three times.
func TestStallTimeoutEndsHungRequests(t *testing.T) {
	const stall = time.Second
	e, p := faultEnv(t, stall, Options{ResumeWindow: time.Hour, PartSize: MinPartSize})
	e.save("/small", []byte("hello"))
	big := make([]byte, 6<<20)
	rand.Read(big)
	e.save("/big", big)
	limit := stall + 15*time.Second

	cases := []struct {
		op   string
		kind s3faults.Kind
		run  func() error
	}{
		{"HeadObject", s3faults.StallHeaders, func() error { _, err := e.fs.Stat(e.ctx, "/small"); return err }},
		{"ListObjectsV2", s3faults.StallHeaders, func() error { _, err := e.list("/"); return err }},
		{"GetObject", s3faults.StallHeaders, func() error { _, err := e.fs.Open(e.ctx, "/small", 0); return err }},
		{"GetObject", s3faults.StallBody, func() error {
			r, err := e.fs.Open(e.ctx, "/big", 0)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(io.Discard, r)
			return err
		}},
		{"PutObject", s3faults.StallHeaders, func() error { return saveErr(e, "/new-small", []byte("x")) }},
		{"UploadPart", s3faults.StallBody, func() error { return saveErr(e, "/new-big", big) }},
	}
	for _, c := range cases {
		p.Set(s3faults.Rule{Op: c.op, Kind: c.kind, Times: 1})
		start := time.Now()
		err := within(t, limit, c.op+" under "+string(c.kind), c.run)
		if err == nil {
			t.Errorf("%s under %s: no error", c.op, c.kind)
		} else if !isStall(err) {
			t.Errorf("%s under %s: %v; want a stall error", c.op, c.kind, err)
		}
		if n := p.Injected(c.op, c.kind); n != 1 {
			t.Errorf("%s under %s: %d stalled requests (%v); want 1 (a stall is not retried)", c.op, c.kind, n, time.Since(start))
		}
		p.Set()
	}
}

// saveErr is e.save that returns the error instead of failing.
func saveErr(e *env, name string, body []byte) error {
	u, err := e.fs.Create(e.ctx, name)
	if err != nil {
		return err
	}
	if _, err := u.Write(body); err != nil {
		u.Abort(context.Background())
		return err
	}
	if err := u.Commit(e.ctx); err != nil {
		u.Abort(context.Background())
		return err
	}
	return nil
}

// The deadline is for no progress, not a total: transfers that keep moving
// bytes, slowly, for several times the stall timeout complete byte-exact
// in both directions.
func TestStallTimeoutSparesMovingTransfers(t *testing.T) {
	// A piece every 50 ms against a 3 s deadline: a loaded machine may
	// pause a transfer for a while, but not 60 pieces long (a 1 s deadline
	// against 70 ms failed under CI load).
	const stall, piece = 3 * time.Second, 50 * time.Millisecond
	e, p := faultEnv(t, stall, Options{PartSize: 8 << 20}) // one PutObject
	body := make([]byte, 8<<20)                            // 128 pieces of 64 KiB: ~6.4 s
	rand.Read(body)
	p.Set(s3faults.Rule{Op: "PutObject", Kind: s3faults.Trickle, Delay: piece})
	start := time.Now()
	if err := saveErr(e, "/slow", body); err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	if d := time.Since(start); d < 2*stall {
		t.Fatalf("upload took %v: the trickle did not slow it down, the test proves nothing", d)
	}
	p.Set(s3faults.Rule{Op: "GetObject", Kind: s3faults.Trickle, Delay: piece})
	start = time.Now()
	got := e.read("/slow", 0)
	if d := time.Since(start); d < 2*stall {
		t.Fatalf("download took %v: the trickle did not slow it down, the test proves nothing", d)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("slow download: %d bytes, not the %d uploaded", len(got), len(body))
	}
}

// A download whose connection is reset in the middle continues with a
// ranged GET of the same object (If-Match) and is byte-exact; resets that
// keep coming end it with an error after a few attempts, never with
// silently short data.
func TestDownloadContinuesAfterReset(t *testing.T) {
	e, p := faultEnv(t, 10*time.Second, Options{})
	body := make([]byte, 12<<20)
	rand.Read(body)
	e.save("/dl", body)
	for _, times := range []int{1, 2} {
		p.Set(s3faults.Rule{Op: "GetObject", Kind: s3faults.Reset, Times: times})
		before := p.Requests("GetObject")
		if got := e.read("/dl", 0); !bytes.Equal(got, body) {
			t.Fatalf("%d resets: %d bytes, not the %d stored", times, len(got), len(body))
		}
		if n := p.Requests("GetObject") - before; n != times+1 {
			t.Errorf("%d resets: %d GETs, want %d", times, n, times+1)
		}
	}
	// From an offset (REST): a range has no stored checksum to catch a
	// short body, so the count of bytes must.
	for _, kind := range []s3faults.Kind{s3faults.Reset, s3faults.Cut} {
		for _, times := range []int{1, 2, 3} {
			p.Set(s3faults.Rule{Op: "GetObject", Kind: kind, Times: times})
			for _, off := range []int64{0, 3<<20 + 17} {
				if got := e.read("/dl", off); !bytes.Equal(got, body[off:]) {
					t.Fatalf("%s ×%d from %d: %d bytes, not the %d stored", kind, times, off, len(got), int64(len(body))-off)
				}
			}
		}
	}
	p.Set(s3faults.Rule{Op: "GetObject", Kind: s3faults.Reset})
	r, err := e.fs.Open(e.ctx, "/dl", 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	r.Close()
	if err == nil {
		t.Fatalf("endless resets: %d bytes and no error", n)
	}
	// The object replaced between two GETs: no mix of two versions.
	p.Set(s3faults.Rule{Op: "GetObject", Kind: s3faults.Reset, Times: 1})
	r, err = e.fs.Open(e.ctx, "/dl", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	p.Set()
	other := make([]byte, 12<<20)
	rand.Read(other)
	e.save("/dl", other) // before the reader reaches the reset
	rest, err := io.ReadAll(r)
	r.Close()
	if err == nil {
		t.Fatalf("a download continued across a replacement of the object: %d bytes, equal to the old: %v, no error",
			len(first)+len(rest), bytes.Equal(append(first, rest...), body))
	}
}

// A caller that stops reading a download for longer than the stall timeout
// (an FTP client that pauses) is not a stalled store: the download goes on
// when it reads again.
func TestStallTimeoutIgnoresSlowReader(t *testing.T) {
	const stall = time.Second
	e, _ := faultEnv(t, stall, Options{})
	body := make([]byte, 12<<20)
	rand.Read(body)
	e.save("/dl", body)
	r, err := e.fs.Open(e.ctx, "/dl", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * stall)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading on after a pause: %v", err)
	}
	if !bytes.Equal(append(first, rest...), body) {
		t.Fatal("download after a pause differs")
	}
}
