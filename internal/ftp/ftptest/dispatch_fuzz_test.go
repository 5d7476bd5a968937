package ftptest_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// checkFS is an in-memory FS that records a violation of what package ftp
// promises every FS (ftp.FS): each name is clean, absolute and a valid
// name (UTF-8, no control bytes), and "/" — the user's home — is never
// removed or renamed.
type checkFS struct {
	*ftptest.MemFS
	mu   sync.Mutex
	errs []string
}

func (c *checkFS) bad(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *checkFS) name(op, name string) {
	switch {
	case !strings.HasPrefix(name, "/") || path.Clean(name) != name:
		c.bad("%s(%q): not clean and absolute", op, name)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		c.bad("%s(%q): not a valid name", op, name)
	}
}

func (c *checkFS) notRoot(op, name string) {
	if name == "/" {
		c.bad("%s(%q): the home itself", op, name)
	}
}

func (c *checkFS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	c.name("Stat", name)
	return c.MemFS.Stat(ctx, name)
}

func (c *checkFS) List(ctx context.Context, dir string, yield func(fs.FileInfo) error) error {
	c.name("List", dir)
	return c.MemFS.List(ctx, dir, yield)
}

func (c *checkFS) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	c.name("Open", name)
	if offset < 0 {
		c.bad("Open(%q, %d): negative offset", name, offset)
	}
	return c.MemFS.Open(ctx, name, offset)
}

func (c *checkFS) Create(ctx context.Context, name string) (ftp.Upload, error) {
	c.name("Create", name)
	c.notRoot("Create", name)
	return c.MemFS.Create(ctx, name)
}

func (c *checkFS) Remove(ctx context.Context, name string) error {
	c.name("Remove", name)
	c.notRoot("Remove", name)
	return c.MemFS.Remove(ctx, name)
}

func (c *checkFS) Rename(ctx context.Context, from, to string) error {
	c.name("Rename", from)
	c.name("Rename", to)
	c.notRoot("Rename from", from)
	c.notRoot("Rename to", to)
	return c.MemFS.Rename(ctx, from, to)
}

func (c *checkFS) Mkdir(ctx context.Context, name string) error {
	c.name("Mkdir", name)
	return c.MemFS.Mkdir(ctx, name)
}

func (c *checkFS) Rmdir(ctx context.Context, name string) error {
	c.name("Rmdir", name)
	c.notRoot("Rmdir", name)
	return c.MemFS.Rmdir(ctx, name)
}

func (c *checkFS) Resume(ctx context.Context, name string, offset int64) (ftp.Upload, error) {
	c.name("Resume", name)
	c.notRoot("Resume", name)
	return c.MemFS.Resume(ctx, name, offset)
}

func (c *checkFS) PartialSize(ctx context.Context, name string) (int64, bool, error) {
	c.name("PartialSize", name)
	return c.MemFS.PartialSize(ctx, name)
}

func (c *checkFS) Hash(ctx context.Context, name, algo string, start, end, limit int64) (string, error) {
	c.name("Hash", name)
	if start < 0 || (end >= 0 && end < start) {
		c.bad("Hash(%q, %d, %d): bad range", name, start, end)
	}
	return c.MemFS.Hash(ctx, name, algo, start, end, limit)
}

func (c *checkFS) SetModTime(ctx context.Context, name string, t time.Time) error {
	c.name("SetModTime", name)
	return c.MemFS.SetModTime(ctx, name, t)
}

var (
	_ ftp.Resumer       = (*checkFS)(nil)
	_ ftp.Hasher        = (*checkFS)(nil)
	_ ftp.ModTimeSetter = (*checkFS)(nil)
)

// FuzzDispatch sends a logged-in session command lines chosen by the
// fuzzer (one per line of the input, at most 40) over a real control
// connection, then QUIT, and checks that the server answered all of it
// and closed within 10 s, and that every call the session made on its FS
// kept the FS contract (checkFS). A seed tree (/a/b.txt, /d/, /x.bin)
// gives the commands something to act on.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		"PWD\nCWD a\nCDUP\nCDUP\nPWD\nXPWD",
		"RMD /\nRMD .\nRMD ..\nXRMD ../..\nCWD d\nRMD .\nRMD /d/..",
		"DELE /\nDELE .\nDELE a/..\nDELE ../../x.bin",
		"RNFR /\nRNTO z\nRNFR a\nRNTO /\nRNFR ..\nRNTO ../e\nRNFR a/b.txt\nRNTO .",
		"CWD ../../..\nRNFR .\nRNTO q\nMKD /\nMKD ./../n\nRMD n",
		"MLST\nMLST /\nMLST a/b.txt\nOPTS MLST size;type;\nMLST ..\nSTAT /\nSTAT a",
		"SIZE /\nSIZE ..\nMDTM a/b.txt\nMFMT 20200101000000 /\nMFMT 20200101000000 a/../x.bin",
		"HASH /\nHASH .\nXCRC x.bin 1 2\nXMD5 x.bin  1  2\nXSHA1 x.bin 5 1\nOPTS HASH CRC32\nHASH a//b.txt",
		"PASV\nRETR a/b.txt\nEPSV\nSTOR /\nREST 5\nAPPE ../x.bin\nSTOU\nPASV\nLIST -la ..",
		"NLST *\nLIST /a/*\nNLST ../*.bin\nLIST -R\nMLSD /d",
		"PORT 127,0,0,1,4,1\nEPRT |1|127.0.0.1|1025|\nEPRT |2|::1|1025|\nPORT 1,2,3",
		"USER alice\nPASS secret\nREIN\nUSER reader\nPASS r\nDELE x.bin",
		"CWD \xff\nMKD a\x01b\nSTOR a\rb\nRNFR x.bin\nRNTO \x7f",
		"ABOR\nSTAT\nFEAT\nHELP\nSYST\nNOOP\nTYPE I\nMODE S\nSTRU F\nALLO 5",
		"AUTH TLS\nPBSZ 0\nPROT P",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
	} {
		f.Add(s)
	}
	var mu sync.Mutex
	var cur *checkFS
	users := ftptest.Users{
		Passwords: map[string]string{"alice": "secret", "reader": "r"},
		ReadOnly:  map[string]bool{"reader": true},
		FS: func(string) ftp.FS {
			mu.Lock()
			defer mu.Unlock()
			return cur
		},
	}
	srv := ftptest.StartServer(f, users, func(s *ftp.Server) {
		s.DataTimeout = 50 * time.Millisecond
		s.LoginFailDelay = -1
		s.MaxHashBytes = 1 << 10
	})
	f.Fuzz(func(t *testing.T, input string) {
		lines := strings.Split(input, "\n")
		if len(lines) > 40 || len(input) > 4096 {
			return
		}
		fsys := &checkFS{MemFS: ftptest.NewMemFS()}
		seed(t, fsys.MemFS)
		mu.Lock()
		cur = fsys
		mu.Unlock()

		c, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var b strings.Builder
		b.WriteString("USER alice\r\nPASS secret\r\n")
		for _, l := range lines {
			b.WriteString(strings.TrimSuffix(l, "\r") + "\r\n")
		}
		b.WriteString("QUIT\r\n")
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go c.Write([]byte(b.String())) // the server may stop reading (QUIT, AUTH)
		out, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("the session did not end within 10 s: %v; replies:\n%s", err, out)
		}
		checkReplies(t, string(out))
		fsys.mu.Lock()
		defer fsys.mu.Unlock()
		if len(fsys.errs) > 0 {
			t.Fatalf("FS contract broken:\n%s\nreplies:\n%s", strings.Join(fsys.errs, "\n"), out)
		}
	})
}

// checkReplies checks that out is a sequence of well-formed replies (RFC
// 959 §4.2): "ddd text" or a multi-line reply "ddd-" ... "ddd text", whose
// middle lines cannot be taken for an end, and no CR or LF inside a line.
func checkReplies(t *testing.T, out string) {
	t.Helper()
	if !strings.HasSuffix(out, "\r\n") {
		t.Fatalf("replies do not end with CRLF:\n%q", out)
	}
	open := ""
	for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("a bare CR or LF in reply line %q", l)
		}
		code := len(l) >= 4 && strings.Trim(l[:3], "0123456789") == ""
		switch {
		case open != "" && code && l[:3] == open && l[3] == ' ':
			open = ""
		case open != "" && code && l[:3] == open:
			t.Fatalf("reply line %q inside a multi-line %s reply", l, open)
		case open != "":
		case code && l[3] == ' ':
		case code && l[3] == '-':
			open = l[:3]
		default:
			t.Fatalf("malformed reply line %q in:\n%s", l, out)
		}
	}
	if open != "" {
		t.Fatalf("multi-line %s reply not ended:\n%s", open, out)
	}
}

func seed(t *testing.T, m *ftptest.MemFS) {
	ctx := context.Background()
	for _, d := range []string{"/a", "/d"} {
		if err := m.Mkdir(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"/a/b.txt": "hello\n", "/x.bin": "0123456789"} {
		up, err := m.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		up.Write([]byte(data))
		if err := up.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
