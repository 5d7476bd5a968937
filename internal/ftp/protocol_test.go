package ftp_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// backend gives each test a fresh FS; protocol tests run against every
// backend (in-memory here, the embedded S3 store in s3_test.go).
type backend struct {
	name  string
	newFS func(t *testing.T) ftp.FS
}

var memBackend = backend{"mem", func(*testing.T) ftp.FS { return ftptest.NewMemFS() }}

func startWith(t *testing.T, b backend, configure func(*ftp.Server)) *ftptest.Server {
	t.Helper()
	fsys := b.newFS(t)
	users := ftptest.Users{
		Passwords: map[string]string{"alice": "secret", "reader": "r", "secure": "s"},
		ReadOnly:  map[string]bool{"reader": true},
		TLS:       map[string]bool{"secure": true},
		FS:        func(string) ftp.FS { return fsys },
	}
	return ftptest.StartServer(t, users, configure)
}

func dial(t *testing.T, addr string, opts ...client.DialOption) *client.ServerConn {
	t.Helper()
	c, err := client.Dial(addr, append([]client.DialOption{client.DialWithTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

func login(t *testing.T, addr string, opts ...client.DialOption) *client.ServerConn {
	t.Helper()
	c := dial(t, addr, opts...)
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	return c
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func retrieve(t *testing.T, c *client.ServerConn, name string, offset uint64) []byte {
	t.Helper()
	r, err := c.RetrFrom(name, offset)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("RETR %s read: %v", name, err)
	}
	return b
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var pe *textproto.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("want reply %d, got %v", code, err)
	}
}

func protocolTests() map[string]func(*testing.T, backend) {
	return map[string]func(*testing.T, backend){
		"UploadDownload": testUploadDownload,
		"Directories":    testDirectories,
		"Listings":       testListings,
		"Chroot":         testChroot,
		"BadLogin":       testBadLogin,
		"Rest":           testRest,
		"Rename":         testRename,
		"ReadOnly":       testReadOnly,
	}
}

func TestProtocolMem(t *testing.T) {
	for name, f := range protocolTests() {
		t.Run(name, func(t *testing.T) { f(t, memBackend) })
	}
}

func testUploadDownload(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	c := login(t, srv.Addr)
	sizes := []int{0, 1, 5<<20 - 1, 5<<20 + 1}
	for _, n := range sizes {
		data := randomBytes(t, n)
		name := "f" + strings.Repeat("x", n%7)
		if err := c.Stor(name, bytes.NewReader(data)); err != nil {
			t.Fatalf("STOR %d bytes: %v", n, err)
		}
		got := retrieve(t, c, name, 0)
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: downloaded %d bytes, content differs", n, len(got))
		}
		size, err := c.FileSize(name)
		if err != nil || size != int64(n) {
			t.Fatalf("SIZE = %d, %v; want %d", size, err, n)
		}
	}
	// Overwrite with shorter content.
	if err := c.Stor("over", strings.NewReader("long original content")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("over", strings.NewReader("short")); err != nil {
		t.Fatal(err)
	}
	if got := retrieve(t, c, "over", 0); string(got) != "short" {
		t.Fatalf("after overwrite: %q", got)
	}
	// Missing file.
	_, err := c.Retr("missing")
	wantCode(t, err, 550)
}

func testDirectories(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	c := login(t, srv.Addr)
	if dir, err := c.CurrentDir(); err != nil || dir != "/" {
		t.Fatalf("PWD = %q, %v", dir, err)
	}
	if err := c.MakeDir("a"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.MakeDir("a"), 550)
	if err := c.ChangeDir("a"); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeDir(`q"uote`); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir(`q"uote`); err != nil {
		t.Fatal(err)
	}
	// RFC 959 Appendix II doubles the quote; this client does not undo it.
	if dir, err := c.CurrentDir(); err != nil || dir != `/a/q""uote` {
		t.Fatalf("PWD = %q, %v", dir, err)
	}
	if err := c.ChangeDirToParent(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("file", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.ChangeDir("file"), 550)
	wantCode(t, c.ChangeDir("nope"), 550)
	_, err := c.FileSize(`q"uote`)
	wantCode(t, err, 550)
	wantCode(t, c.RemoveDir("/a"), 550) // not empty
	if err := c.RemoveDir(`/a/q"uote`); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/a/file"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Delete("/a/file"), 550)
	if err := c.RemoveDir("/a"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.ChangeDir("/a"), 550)
}

func testListings(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	c := login(t, srv.Addr)
	for _, d := range []string{"d1", "d2"} {
		if err := c.MakeDir(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"one.txt", "two words.bin", "d1/inner"} {
		if err := c.Stor(f, strings.NewReader(f)); err != nil {
			t.Fatal(err)
		}
	}
	names, err := c.NameList("")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if want := []string{"d1", "d2", "one.txt", "two words.bin"}; !slices.Equal(names, want) {
		t.Fatalf("NLST = %q, want %q", names, want)
	}
	names, err = c.NameList("d1")
	if err != nil || !slices.Equal(names, []string{"d1/inner"}) {
		t.Fatalf("NLST d1 = %q, %v", names, err)
	}
	for _, mlsd := range []bool{true, false} {
		cl := login(t, srv.Addr, client.DialWithDisabledMLSD(!mlsd))
		entries, err := cl.List("/")
		if err != nil {
			t.Fatalf("mlsd=%v: %v", mlsd, err)
		}
		got := map[string]string{}
		for _, e := range entries {
			got[e.Name] = e.Type.String() + "/" + strconv.FormatUint(e.Size, 10)
			if e.Name == "one.txt" && time.Since(e.Time) > time.Hour {
				t.Errorf("mlsd=%v: one.txt time %v", mlsd, e.Time)
			}
		}
		want := map[string]string{"d1": "folder/0", "d2": "folder/0", "one.txt": "file/7", "two words.bin": "file/13"}
		if len(got) != len(want) {
			t.Fatalf("mlsd=%v: LIST = %v, want %v", mlsd, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("mlsd=%v: LIST %s = %q, want %q (all: %v)", mlsd, k, got[k], v, got)
			}
		}
	}
	e, err := c.GetEntry("one.txt")
	if err != nil || e.Size != 7 || e.Type != client.EntryTypeFile {
		t.Fatalf("MLST one.txt = %+v, %v", e, err)
	}
	_, err = c.List("missing")
	wantCode(t, err, 550)
}

func testChroot(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	c := login(t, srv.Addr)
	if err := c.Stor("top", strings.NewReader("t")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"..", "../..", "/..", "../../etc", "/../../"} {
		err := c.ChangeDir(p)
		dir, _ := c.CurrentDir()
		if err == nil && dir != "/" {
			t.Fatalf("CWD %q landed in %q", p, dir)
		}
	}
	if got := retrieve(t, c, "../../top", 0); string(got) != "t" {
		t.Fatalf("../../top = %q", got)
	}
	if err := c.Stor("../../../escape", strings.NewReader("e")); err != nil {
		t.Fatal(err)
	}
	names, _ := c.NameList("/")
	if !slices.Contains(names, "/escape") {
		t.Fatalf("../../../escape was not stored at the home: %q", names)
	}
}

func testBadLogin(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	c := dial(t, srv.Addr)
	wantCode(t, c.Login("alice", "wrong"), 530)
	wantCode(t, c.Login("nobody", "secret"), 530)
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatalf("right password after failures: %v", err)
	}
	c2 := dial(t, srv.Addr)
	_, err := c2.CurrentDir()
	wantCode(t, err, 530)
}

func testRest(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	c := login(t, srv.Addr)
	data := randomBytes(t, 100_000)
	if err := c.Stor("r", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, off := range []uint64{0, 1, 65_536, 99_999, 100_000} {
		if got := retrieve(t, c, "r", off); !bytes.Equal(got, data[off:]) {
			t.Fatalf("REST %d: got %d bytes", off, len(got))
		}
	}
}

func testRename(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	c := login(t, srv.Addr)
	if err := c.Stor("old", strings.NewReader("content")); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("old", "new"); err != nil {
		t.Fatal(err)
	}
	if got := retrieve(t, c, "new", 0); string(got) != "content" {
		t.Fatalf("renamed = %q", got)
	}
	_, err := c.FileSize("old")
	wantCode(t, err, 550)
	wantCode(t, c.Rename("old", "x"), 550)
	if err := c.MakeDir("dir"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("dir/f", strings.NewReader("in dir")); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("dir", "moved"); err != nil {
		t.Fatal(err)
	}
	if got := retrieve(t, c, "moved/f", 0); string(got) != "in dir" {
		t.Fatalf("moved/f = %q", got)
	}
}

func testReadOnly(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	w := login(t, srv.Addr)
	if err := w.Stor("f", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.Addr)
	if err := c.Login("reader", "r"); err != nil {
		t.Fatal(err)
	}
	if got := retrieve(t, c, "f", 0); string(got) != "data" {
		t.Fatalf("read-only RETR = %q", got)
	}
	wantCode(t, c.Stor("g", strings.NewReader("x")), 550)
	wantCode(t, c.Delete("f"), 550)
	wantCode(t, c.MakeDir("d"), 550)
	wantCode(t, c.Rename("f", "h"), 550)
}
