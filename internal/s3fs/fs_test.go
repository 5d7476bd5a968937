package s3fs

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

func TestStat(t *testing.T) {
	e := newEnv(t, Options{})
	e.put("file.txt", "12345")
	e.put("implicit/deep/f", "x") // directories without markers
	e.put("marked/", "")          // an empty directory (marker only)

	cases := []struct {
		name string
		dir  bool
		size int64
		err  error
	}{
		{"/", true, 0, nil},
		{"/file.txt", false, 5, nil},
		{"/implicit", true, 0, nil},
		{"/implicit/deep", true, 0, nil},
		{"/implicit/deep/f", false, 1, nil},
		{"/marked", true, 0, nil},
		{"/missing", false, 0, fs.ErrNotExist},
		{"/file.txt/below", false, 0, fs.ErrNotExist},
		{"/.sgwtmp", false, 0, fs.ErrPermission},
		{"/a/.sgwtmp/x", false, 0, fs.ErrPermission},
		{"relative", false, 0, fs.ErrInvalid},
		{"/a/../b", false, 0, fs.ErrInvalid},
	}
	for _, c := range cases {
		fi, err := e.fs.Stat(e.ctx, c.name)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("stat %s: %v, want %v", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("stat %s: %v", c.name, err)
			continue
		}
		if fi.IsDir() != c.dir || (!c.dir && fi.Size() != c.size) {
			t.Errorf("stat %s: dir=%v size=%d, want dir=%v size=%d", c.name, fi.IsDir(), fi.Size(), c.dir, c.size)
		}
		if want := baseName(c.name); fi.Name() != want {
			t.Errorf("stat %s: name %q, want %q", c.name, fi.Name(), want)
		}
	}
	if fi, _ := e.fs.Stat(e.ctx, "/marked"); fi.ModTime().IsZero() {
		t.Error("marker directory has no modification time")
	}
	if fi, _ := e.fs.Stat(e.ctx, "/file.txt"); fi.ModTime().IsZero() {
		t.Error("file has no modification time")
	}
}

func TestList(t *testing.T) {
	e := newEnv(t, Options{})
	for _, k := range []string{"a.txt", "b/", "b/inner", "c/d/e", "emptydir/", "x-1", "x.txt", "x/y"} {
		body := "data"
		if strings.HasSuffix(k, "/") {
			body = "" // versitygw: DirectoryObjectContainsData
		}
		e.put(k, body)
	}
	got, err := e.list("/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.txt", "b/", "c/", "emptydir/", "x-1", "x.txt", "x/"}
	if !slices.Equal(got, want) {
		t.Fatalf("list /: %q, want %q", got, want)
	}
	for dir, want := range map[string][]string{
		"/b":        {"inner"},
		"/c":        {"d/"},
		"/c/d":      {"e"},
		"/emptydir": nil,
	} {
		got, err := e.list(dir)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("list %s: %q %v, want %q", dir, got, err, want)
		}
	}
	for _, dir := range []string{"/missing", "/a.txt"} {
		if _, err := e.list(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("list %s: %v, want ErrNotExist", dir, err)
		}
	}
	// An error from yield stops the listing and is returned.
	stop := errors.New("stop")
	n := 0
	err = e.fs.List(e.ctx, "/", func(fs.FileInfo) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("yield error: %v after %d entries", err, n)
	}
}

// A file "x" and a directory "x/" can coexist on S3 (not on versitygw):
// the listing shows one entry, the file, across page boundaries too.
func TestEmitPageDedup(t *testing.T) {
	obj := func(k string) s3types { return s3types{key: k} }
	var seen recentFiles
	var names []string
	yield := func(fi fs.FileInfo) error {
		n := fi.Name()
		if fi.IsDir() {
			n += "/"
		}
		names = append(names, n)
		return nil
	}
	pages := [][]s3types{
		{obj("p/"), obj("p/a"), obj("p/x"), obj("p/x-1"), {key: "p/x-1/", prefix: true}},
		{obj("p/x.txt"), {key: "p/x/", prefix: true}, {key: "p/y/", prefix: true}},
	}
	for _, p := range pages {
		objs, prefixes := toPage(p)
		if err := emitPage("p/", ".s3ftpd-partial", objs, prefixes, &seen, yield); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a", "x", "x-1", "x.txt", "y/"}
	if !slices.Equal(names, want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	if len(seen.keys) > 2 {
		t.Fatalf("dedup memory not pruned: %q", seen.keys)
	}
}

func TestOpenOffsets(t *testing.T) {
	e := newEnv(t, Options{})
	e.put("f", "0123456789")
	e.put("empty", "")
	e.put("d/inner", "x")
	for _, c := range []struct {
		name   string
		offset int64
		want   string
		err    error
	}{
		{"/f", 0, "0123456789", nil},
		{"/f", 3, "3456789", nil},
		{"/f", 9, "9", nil},
		{"/f", 10, "", nil},
		{"/f", 11, "", fs.ErrInvalid},
		{"/f", -1, "", fs.ErrInvalid},
		{"/empty", 0, "", nil},
		{"/missing", 0, "", fs.ErrNotExist},
		{"/d", 0, "", fs.ErrNotExist},
		{"/", 0, "", fs.ErrInvalid},
	} {
		r, err := e.fs.Open(e.ctx, c.name, c.offset)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("open %s@%d: %v, want %v", c.name, c.offset, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("open %s@%d: %v", c.name, c.offset, err)
			continue
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(b) != c.want {
			t.Errorf("read %s@%d: %q %v, want %q", c.name, c.offset, b, err, c.want)
		}
	}
}

func TestMkdirRmdir(t *testing.T) {
	e := newEnv(t, Options{})
	e.put("file", "x")
	if err := e.fs.Mkdir(e.ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	if fi, err := e.fs.Stat(e.ctx, "/d"); err != nil || !fi.IsDir() {
		t.Fatalf("new dir: %v %v", fi, err)
	}
	for name, want := range map[string]error{
		"/d":          fs.ErrExist,
		"/file":       fs.ErrExist,
		"/":           fs.ErrExist,
		"/nope/sub":   fs.ErrNotExist,
		"/file/sub":   fs.ErrNotExist,
		"/.sgwtmp":    fs.ErrPermission,
		"/d/.sgwtmp/": fs.ErrInvalid,
	} {
		if err := e.fs.Mkdir(e.ctx, name); !errors.Is(err, want) {
			t.Errorf("mkdir %s: %v, want %v", name, err, want)
		}
	}
	if err := e.fs.Mkdir(e.ctx, "/d/sub"); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Rmdir(e.ctx, "/d"); !errors.Is(err, ftp.ErrDirNotEmpty) {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	e.save("/d/sub/f", []byte("x"))
	if err := e.fs.Rmdir(e.ctx, "/d/sub"); !errors.Is(err, ftp.ErrDirNotEmpty) {
		t.Fatalf("rmdir dir with a file: %v", err)
	}
	if err := e.fs.Remove(e.ctx, "/d/sub/f"); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Rmdir(e.ctx, "/d/sub"); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Rmdir(e.ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Stat(e.ctx, "/d"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat removed dir: %v", err)
	}
	for name, want := range map[string]error{
		"/d":    fs.ErrNotExist,
		"/file": fs.ErrNotExist,
		"/":     fs.ErrPermission,
	} {
		if err := e.fs.Rmdir(e.ctx, name); !errors.Is(err, want) {
			t.Errorf("rmdir %s: %v, want %v", name, err, want)
		}
	}
}

func TestRemove(t *testing.T) {
	e := newEnv(t, Options{})
	e.put("f", "x")
	e.put("d/inner", "x")
	if err := e.fs.Remove(e.ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.Stat(e.ctx, "/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat removed file: %v", err)
	}
	for name, want := range map[string]error{
		"/f": fs.ErrNotExist,
		"/d": fs.ErrInvalid,
		"/":  fs.ErrInvalid,
	} {
		if err := e.fs.Remove(e.ctx, name); !errors.Is(err, want) {
			t.Errorf("remove %s: %v, want %v", name, err, want)
		}
	}
}

// Keys are <prefix>/<home>/<name>; a home is a separate tree.
func TestPrefixAndHome(t *testing.T) {
	e := newEnv(t, Options{Prefix: "/tenant/"})
	alice := e.store.FS("/alice")
	bob := e.store.FS("bob")
	u, _ := alice.Create(e.ctx, "/notes.txt")
	u.Write([]byte("alice"))
	if err := u.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("tenant/alice/notes.txt"),
	}); err != nil {
		t.Fatalf("object not at tenant/alice/notes.txt: %v", err)
	}
	if _, err := bob.Stat(e.ctx, "/notes.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("bob sees alice's file: %v", err)
	}
	if _, err := bob.Stat(e.ctx, "/"); err != nil {
		t.Fatalf("an empty home must exist: %v", err)
	}
	var names []string
	if err := e.store.FS("/").List(e.ctx, "/", func(fi fs.FileInfo) error {
		names = append(names, fi.Name())
		return nil
	}); err != nil || strings.Join(names, ",") != "alice" {
		t.Fatalf("root of the prefix lists %q %v", names, err)
	}
}

// A versitygw quirk made explicit: a name below an existing file fails
// cleanly (keys are file paths there).
func TestCreateBelowFile(t *testing.T) {
	e := newEnv(t, Options{})
	e.put("f", "x")
	u, err := e.fs.Create(e.ctx, "/f/g")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("y"))
	if err := u.Commit(e.ctx); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("commit below a file: %v, want ErrExist", err)
	}
}

// s3types describes one listing entry for emitPage tests.
type s3types struct {
	key    string
	prefix bool
}

func toPage(p []s3types) ([]types.Object, []types.CommonPrefix) {
	var objs []types.Object
	var prefixes []types.CommonPrefix
	for _, e := range p {
		if e.prefix {
			prefixes = append(prefixes, types.CommonPrefix{Prefix: aws.String(e.key)})
		} else {
			objs = append(objs, types.Object{Key: aws.String(e.key), Size: aws.Int64(1)})
		}
	}
	return objs, prefixes
}
