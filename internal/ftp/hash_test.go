package ftp_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// slowHasher is an in-memory FS whose Hash blocks, as the read of a large
// object does, until its context ends; it reports when a hash started and
// with which error it ended.
type slowHasher struct {
	*ftptest.MemFS
	started chan struct{}
	ended   chan error
}

func newSlowHasher() *slowHasher {
	m := ftptest.NewMemFS()
	up, _ := m.Create(context.Background(), "/big.iso")
	up.Write([]byte("pretend this is 100 GiB"))
	up.Commit(context.Background())
	return &slowHasher{MemFS: m, started: make(chan struct{}, 4), ended: make(chan error, 4)}
}

func (h *slowHasher) Hash(ctx context.Context, name, algo string, start, end, limit int64) (string, error) {
	h.started <- struct{}{}
	<-ctx.Done()
	h.ended <- ctx.Err()
	return "", ctx.Err()
}

func startSlowHash(t *testing.T) (*ftptest.Server, *slowHasher) {
	t.Helper()
	h := newSlowHasher()
	return startWith(t, backend{"slow", func(*testing.T) ftp.FS { return h }}, nil), h
}

// waitFor reads one value from ch within 10 s.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// ABOR during a HASH that would read for a long time is answered in
// order, 426 for the HASH then 226 (RFC 959 §4.1.3), and the session goes
// on. Before HASH ran like a transfer, ABOR waited behind it.
func TestAborDuringHash(t *testing.T) {
	for _, cmd := range []string{"HASH big.iso", "XCRC big.iso", "XMD5 big.iso 0 5", "XSHA1 big.iso", "XSHA256 big.iso"} {
		t.Run(strings.Fields(cmd)[0], func(t *testing.T) {
			srv, h := startSlowHash(t)
			r := dialRaw(t, srv.Addr, "")
			r.login()
			r.send("%s", cmd)
			waitFor(t, h.started, "the hash to start")
			if msg := r.cmd(213, "STAT"); !strings.Contains(msg, "big.iso") {
				t.Errorf("STAT during %s: %q", cmd, msg)
			}
			r.send("ABOR")
			r.expect(426)
			r.expect(226)
			if err := waitFor(t, h.ended, "the hash to end"); err == nil {
				t.Fatal("the hash ended without its context cancelled")
			}
			r.cmd(200, "NOOP")
			r.cmd(257, "PWD")
		})
	}
}

// QUIT during a HASH abandons it (426) and is answered (221).
func TestQuitDuringHash(t *testing.T) {
	srv, h := startSlowHash(t)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.send("HASH big.iso")
	waitFor(t, h.started, "the hash to start")
	r.send("QUIT")
	r.expect(426)
	r.expect(221)
	waitFor(t, h.ended, "the hash to end")
}

// A client that vanishes during a HASH cancels the read.
func TestVanishDuringHash(t *testing.T) {
	srv, h := startSlowHash(t)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.send("XSHA256 big.iso")
	waitFor(t, h.started, "the hash to start")
	r.conn.Close()
	waitFor(t, h.ended, "the hash to end")
}

// A drain does not wait for a HASH: it is abandoned with 450 and the
// session then closed (421), and Shutdown returns.
func TestShutdownAbandonsHash(t *testing.T) {
	srv, h := startSlowHash(t)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.send("HASH big.iso")
	waitFor(t, h.started, "the hash to start")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	r.expect(450)
	r.expect(421)
	if err := waitFor(t, done, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// Beyond Server.MaxHashBytes a HASH is 504 and names the limit; a range
// within it is answered.
func TestHashLimit(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.MaxHashBytes = 8 })
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.stor("a.txt", []byte("hello world\n"))
	if msg := r.cmd(504, "HASH a.txt"); !strings.Contains(msg, "8 bytes") {
		t.Errorf("504 text %q does not name the limit", msg)
	}
	r.cmd(504, "XCRC a.txt")
	r.cmd(504, "XMD5 a.txt 2")
	if msg, want := r.cmd(250, "XCRC a.txt 0 8"), fmt.Sprintf("%08X", crc32.ChecksumIEEE([]byte("hello wo"))); msg != want {
		t.Errorf("XCRC a.txt 0 8 = %q, want %q", msg, want)
	}
	r.cmd(250, "XSHA1 a.txt 8")
	r.cmd(200, "NOOP")
}

// On S3: a HASH that waits for the store (frozen here, as a long read of a
// large object does) is answered by ABOR, 426 then 226, while the store
// still hangs; after it thaws the session and the store work.
func TestAborDuringHashS3(t *testing.T) {
	fsys, fr := frozenS3(t, s3fs.Options{})
	srv := startWith(t, backend{"s3", func(*testing.T) ftp.FS { return fsys }}, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	data := randomBytes(t, 3<<20)
	r.stor("big.bin", data)
	r.cmd(200, "OPTS HASH MD5") // no stored MD5: the object is read
	fr.freeze(true)
	r.send("HASH big.bin")
	time.Sleep(50 * time.Millisecond) // let it reach the store; ABOR is answered either way
	r.send("ABOR")
	r.expect(426)
	r.expect(226)
	fr.freeze(false)
	sum := md5.Sum(data)
	if msg := r.cmd(213, "HASH big.bin"); !strings.Contains(msg, hex.EncodeToString(sum[:])) {
		t.Fatalf("HASH after thaw = %q", msg)
	}
}

// On S3 with a 1 MiB limit: a 3 MiB object's stored checksums (CRC32 of
// every object, SHA-256 of one PutObject) still answer; MD5 and SHA-1 of
// the whole are 504 before anything is read; ranges within the limit are
// answered and correct.
func TestHashLimitS3(t *testing.T) {
	srv := startWith(t, s3Backend, func(s *ftp.Server) { s.MaxHashBytes = 1 << 20 })
	r := dialRaw(t, srv.Addr, "")
	r.login()
	data := randomBytes(t, 3<<20)
	r.stor("big.bin", data)
	if msg, want := r.cmd(250, "XCRC big.bin"), fmt.Sprintf("%08X", crc32.ChecksumIEEE(data)); msg != want {
		t.Errorf("XCRC (stored) = %q, want %q", msg, want)
	}
	r.cmd(213, "HASH big.bin") // SHA-256 from metadata
	r.cmd(504, "XMD5 big.bin")
	r.cmd(504, "XSHA1 big.bin 0 2000000")
	r.cmd(200, "OPTS HASH SHA-1")
	r.cmd(504, "HASH big.bin")
	sum := md5.Sum(data[1<<20 : 2<<20])
	if msg := r.cmd(250, "XMD5 big.bin %d %d", 1<<20, 2<<20); !bytes.EqualFold([]byte(msg), []byte(hex.EncodeToString(sum[:]))) {
		t.Errorf("XMD5 range = %q, want %x", msg, sum)
	}
}
