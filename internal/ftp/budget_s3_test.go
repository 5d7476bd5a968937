package ftp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// identityAuth logs users in on the store with their name and real
// client address, as cmd/s3ftpd does: the upload buffer budget counts
// them per IP and per user.
type identityAuth struct {
	store     *s3fs.Store
	passwords map[string]string
}

func (a identityAuth) Login(_ context.Context, r ftp.LoginRequest) (*ftp.Account, error) {
	if pw, ok := a.passwords[r.User]; !ok || pw != r.Password {
		return nil, ftp.ErrBadLogin
	}
	fsys := a.store.UserFS(s3fs.User{Home: "/" + r.User, Name: r.User, Client: r.Client})
	return &ftp.Account{Name: r.User, FS: fsys}, nil
}

// startIdentityS3 serves s3fs on the embedded store with opts, users
// mallory/m and alice/secret.
func startIdentityS3(t *testing.T, opts s3fs.Options, configure func(*ftp.Server)) (*ftptest.Server, *s3fs.Store) {
	t.Helper()
	c, bucket := embeds3test.NewBucket(t)
	opts.Bucket = bucket
	opts.ResumeWindow = 24 * time.Hour
	store, err := s3fs.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	auth := identityAuth{store: store, passwords: map[string]string{"mallory": "m", "alice": "secret"}}
	return ftptest.StartServer(t, auth, configure), store
}

// dialFrom logs in as user from the loopback address from, for the
// control and the data connections.
func dialFrom(t *testing.T, addr, from, user, pass string) *client.ServerConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := client.Dial(addr, client.DialWithDialer(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(user, pass); err != nil {
		t.Fatal(err)
	}
	return c
}

// trickle reads head at once, then chunk bytes every period until stop
// is closed (EOF); sent counts what it handed out.
type trickle struct {
	head   []byte
	chunk  int
	period time.Duration
	stop   <-chan struct{}
	sent   int64
	wait   bool
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		r.sent += int64(n)
		return n, nil
	}
	if r.wait {
		select {
		case <-r.stop:
			return 0, io.EOF
		case <-time.After(r.period):
		}
	}
	r.wait = true
	n := min(len(p), r.chunk)
	for i := range p[:n] {
		p[i] = byte(r.sent + int64(i))
	}
	r.sent += int64(n)
	return n, nil
}

// Issue #15, the upload buffer budget: six clients of one user, from six
// addresses, each send 64 KiB + 1 byte and then trickle 20 KB/s into a
// 32 MiB budget. Under whole-part reservations four of them held all of
// it (8 MiB each) and every other upload on the server waited for as long
// as they trickled. Now they hold what they sent (and the user at most its
// 25 % share): a seventh client's 20 MB upload finishes, byte-exact, while
// the trickles still run — and the trickled uploads are stored whole.
func TestTrickleAttackUploadBudgetS3(t *testing.T) {
	srv, store := startIdentityS3(t, s3fs.Options{BufferBudget: 32 << 20}, nil)
	const tricklers = 6
	stop := make(chan struct{})
	type result struct {
		sent int64
		err  error
	}
	results := make(chan result, tricklers)
	conns := make([]*client.ServerConn, tricklers)
	for i := range tricklers {
		conns[i] = dialFrom(t, srv.Addr, fmt.Sprintf("127.0.0.%d", 11+i), "mallory", "m")
	}
	for i, c := range conns {
		go func() {
			r := &trickle{head: make([]byte, 64<<10+1), chunk: 2000, period: 100 * time.Millisecond, stop: stop}
			err := c.Stor(fmt.Sprintf("t%d.bin", i), r)
			results <- result{r.sent, err}
		}()
	}
	stopped := false
	stopTrickles := func() {
		if !stopped {
			stopped = true
			close(stop)
		}
	}
	t.Cleanup(stopTrickles)

	// The trickles are under way: each got past its first block (under
	// whole-part reservations each then holds, or waits for, a whole
	// part), or waits for memory its user's share does not have.
	deadline := time.Now().Add(30 * time.Second)
	var settled time.Time
	for {
		past, running := 0, 0
		for _, si := range srv.Snapshot() {
			if si.User == "mallory" && si.Transfer != nil {
				running++
				if si.Transfer.Bytes > 64<<10 {
					past++
				}
			}
		}
		if running == tricklers && past >= 1 && settled.IsZero() {
			settled = time.Now()
		}
		if past == tricklers || (!settled.IsZero() && time.Since(settled) > 2*time.Second) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d trickles running, %d past their first 64 KiB", running, past)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("trickles under way: %d bytes of budget in use", store.BufferInUse())

	data := randomBytes(t, 20_000_000)
	victim := dialFrom(t, srv.Addr, "127.0.0.20", "alice", "secret")
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- victim.Stor("big.bin", bytes.NewReader(data)) }()
	// The trickles run for at most 90 s; the victim must finish first.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the 20 MB upload failed while the trickles ran: %v", err)
		}
		t.Logf("20 MB stored in %v while 6 trickles ran", time.Since(start).Round(time.Millisecond))
	case <-time.After(90 * time.Second):
		t.Fatalf("the 20 MB upload did not finish in the 90 s the trickles ran (budget in use %d)", store.BufferInUse())
	}
	stopTrickles()

	r, err := victim.Retr("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("read back %d bytes (%v); not what was sent", len(got), err)
	}
	// A trickled upload is either stored whole (226) or was refused for
	// want of its user's share (452: nothing acknowledged, nothing kept).
	stored := 0
	for range tricklers {
		select {
		case res := <-results:
			var te *textproto.Error
			switch {
			case res.err == nil:
				stored++
			case errors.As(res.err, &te) && te.Code == 452:
			default:
				t.Errorf("a trickled upload failed: %v", res.err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("a trickled upload did not end after its client stopped")
		}
	}
	if stored == 0 {
		t.Error("no trickled upload was stored")
	}
	for i, c := range conns {
		if n, err := c.FileSize(fmt.Sprintf("t%d.bin", i)); err == nil && n <= 64<<10 {
			t.Errorf("t%d.bin: %d bytes stored, more were sent", i, n)
		}
	}
	t.Logf("%d of %d trickled uploads stored, the others refused with 452", stored, tricklers)
}

// A wait for upload buffer memory ends with 452 at the deadline (RFC 959
// §4.2 "insufficient storage space"), with a WARN line naming the user and
// the client, and the session goes on.
func TestUploadBudgetDeadline452S3(t *testing.T) {
	logs := &syncBuffer{}
	srv, store := startIdentityS3(t, s3fs.Options{PartSize: 5 << 20, BufferBudget: 5 << 20,
		BufferWait: 300 * time.Millisecond, Concurrency: 1}, func(s *ftp.Server) { s.Logger = logs.logger() })
	// The holder fills the whole budget without completing its part.
	holder := dialRaw(t, srv.Addr, "127.0.0.31")
	holder.cmd(331, "USER mallory")
	holder.cmd(230, "PASS m")
	hd := startStorFrom(holder, "hold.bin", "127.0.0.31")
	if _, err := hd.Write(make([]byte, 5<<20-1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for store.BufferInUse() < 5<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the holder holds %d bytes", store.BufferInUse())
		}
		time.Sleep(10 * time.Millisecond)
	}
	v := dialRaw(t, srv.Addr, "127.0.0.32")
	v.cmd(331, "USER alice")
	v.cmd(230, "PASS secret")
	vd := startStorFrom(v, "small.txt", "127.0.0.32")
	vd.Write([]byte("hello, world"))
	vd.Close()
	v.expect(452)
	v.cmd(200, "NOOP")
	waitLog(t, logs, "refused: no buffer memory free", "user=alice", "client=127.0.0.32")

	hd.Close() // the holder completes
	holder.expect(226)
	vd = startStorFrom(v, "small.txt", "127.0.0.32")
	vd.Write([]byte("hello, world"))
	vd.Close()
	v.expect(226)
}

// startStorFrom starts STOR name with the data connection from the
// loopback address from.
func startStorFrom(r *raw, name, from string) net.Conn {
	r.t.Helper()
	addr := r.epsv()
	r.send("STOR %s", name)
	d := dataDial(r.t, addr, from)
	r.expect(150)
	return d
}

// waitLog waits (bounded) for a log line holding every one of parts.
func waitLog(t *testing.T, logs *syncBuffer, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range bytes.Split([]byte(logs.String()), []byte("\n")) {
			ok := true
			for _, p := range parts {
				ok = ok && bytes.Contains(line, []byte(p))
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", parts, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *syncBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
