package s3fs

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestRenameFile(t *testing.T) {
	e := newEnv(t, Options{})
	e.save("/a.html", []byte("<p>hi</p>"))
	if err := e.fs.Rename(e.ctx, "/a.html", "/b.html"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "renamed", e.read("/b.html", 0), []byte("<p>hi</p>"))
	if _, err := e.fs.Stat(e.ctx, "/a.html"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("source still there: %v", err)
	}
	out, err := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("b.html")})
	if err != nil || aws.ToString(out.ContentType) != "text/html; charset=utf-8" {
		t.Fatalf("content type not kept: %q %v", aws.ToString(out.ContentType), err)
	}

	// Replacing a file is allowed (rename(2)).
	e.save("/c", []byte("c"))
	if err := e.fs.Rename(e.ctx, "/c", "/b.html"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replaced", e.read("/b.html", 0), []byte("c"))

	// Special characters survive the copy source encoding.
	odd := "/sp ace+plus%pct&amp;ü.txt"
	e.save(odd, []byte("odd"))
	if err := e.fs.Rename(e.ctx, odd, "/odd2 +.txt"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "odd name", e.read("/odd2 +.txt", 0), []byte("odd"))

	// Into a new directory (S3 creates it implicitly).
	if err := e.fs.Rename(e.ctx, "/odd2 +.txt", "/newdir/odd"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "moved", e.read("/newdir/odd", 0), []byte("odd"))
}

func TestRenameErrors(t *testing.T) {
	e := newEnv(t, Options{})
	e.save("/f", []byte("f"))
	e.save("/d/x", []byte("x"))
	if err := e.fs.Mkdir(e.ctx, "/e"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, to string
		want     error
	}{
		{"/missing", "/x", fs.ErrNotExist},
		{"/f", "/d", fs.ErrExist}, // a file does not replace a directory
		{"/d", "/e", fs.ErrExist}, // nor does a directory
		{"/d", "/f", fs.ErrExist}, // a directory does not replace a file
		{"/d", "/d/sub", fs.ErrInvalid},
		{"/", "/x", fs.ErrInvalid},
		{"/f", "/.sgwtmp/f", fs.ErrPermission},
	} {
		if err := e.fs.Rename(e.ctx, c.from, c.to); !errors.Is(err, c.want) {
			t.Errorf("rename %s %s: %v, want %v", c.from, c.to, err, c.want)
		}
	}
	if err := e.fs.Rename(e.ctx, "/f", "/f"); err != nil {
		t.Errorf("rename onto itself: %v", err)
	}
	mustEqual(t, "untouched", e.read("/f", 0), []byte("f"))
}

func TestRenameDir(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.fs.Mkdir(e.ctx, "/src"); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Mkdir(e.ctx, "/src/empty"); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"/src/a": "a", "/src/sub/b": "b", "/src/sub/deeper/c": "c"}
	for i := range 40 { // more than renameConcurrency
		files["/src/many/"+string(rune('A'+i))] = string(rune('A' + i))
	}
	for name, body := range files {
		e.save(name, []byte(body))
	}
	if err := e.fs.Rename(e.ctx, "/src", "/dst"); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		mustEqual(t, name, e.read("/dst"+name[len("/src"):], 0), []byte(body))
	}
	if _, err := e.fs.Stat(e.ctx, "/src"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("source tree still there: %v", err)
	}
	got, err := e.list("/dst")
	if err != nil || !slices.Equal(got, []string{"a", "empty/", "many/", "sub/"}) {
		t.Fatalf("list /dst: %q %v", got, err)
	}
	if got, err := e.list("/dst/empty"); err != nil || len(got) != 0 {
		t.Fatalf("empty dir after rename: %q %v", got, err)
	}
}

// Objects above the copy threshold are copied part by part.
func TestRenameMultipartCopy(t *testing.T) {
	e := newEnv(t, Options{})
	e.store.copyThreshold = 6 * mib
	e.store.copyPartMin = MinPartSize
	const size = 13 * mib
	u, _ := e.fs.Create(e.ctx, "/big.bin")
	if _, err := io.Copy(u, newPattern(size, 9)); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Rename(e.ctx, "/big.bin", "/moved.bin"); err != nil {
		t.Fatal(err)
	}
	if sum, n := e.readSum("/moved.bin"); n != size || sum != patternSum(size, 9) {
		t.Fatalf("copied %d bytes / wrong content", n)
	}
	if _, err := e.fs.Stat(e.ctx, "/big.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("source still there: %v", err)
	}
	if n := e.pendingUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}
