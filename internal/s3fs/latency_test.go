package s3fs

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// counter reads how many requests of an operation a test caused.
type counter struct {
	p    *s3faults.Proxy
	base map[string]int
}

func count(p *s3faults.Proxy, ops ...string) *counter {
	c := &counter{p: p, base: map[string]int{}}
	for _, op := range ops {
		c.base[op] = p.Requests(op)
	}
	return c
}

func (c *counter) since(op string) int { return c.p.Requests(op) - c.base[op] }

// SIZE of a name with no file: once the janitor has listed every marker,
// no marker HEAD is spent unless a partial may exist (this process wrote
// its marker, or a sweep saw it). Before the first sweep, and with Peers,
// the marker is asked for, in parallel with the object.
func TestMarkerIndex(t *testing.T) {
	e, p := faultEnv(t, 0, Options{ResumeWindow: time.Hour})
	sizer := e.fs.(ftp.FileSizer)
	size := func(name string) (int64, int, error) {
		c := count(p, "HeadObject")
		n, err := sizer.FileSize(e.ctx, name)
		return n, c.since("HeadObject"), err
	}
	if _, heads, err := size("/nope"); !errors.Is(err, fs.ErrNotExist) || heads != 2 {
		t.Fatalf("before a sweep: SIZE /nope: %v with %d HEADs, want ErrNotExist with 2 (object and marker)", err, heads)
	}
	e.store.Sweep(e.ctx)
	if _, heads, err := size("/nope"); !errors.Is(err, fs.ErrNotExist) || heads != 1 {
		t.Fatalf("after a sweep: SIZE /nope: %v with %d HEADs, want ErrNotExist with 1", err, heads)
	}
	// This process's own partial is found.
	e.interrupt("/part", 1, 0, 1000)
	if n, heads, err := size("/part"); err != nil || n != 1000 || heads != 2 {
		t.Fatalf("SIZE of this process's partial = %d, %v with %d HEADs; want 1000 with 2", n, err, heads)
	}
	// Another process's partial (no Peers: a single node) is found once a
	// sweep has listed it.
	other := e.reopen(Options{ResumeWindow: time.Hour})
	u, err := other.FS("/").Create(e.ctx, "/theirs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write([]byte(strings.Repeat("x", 300))); err != nil {
		t.Fatal(err)
	}
	if err := u.Abort(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.store.Sweep(e.ctx)
	if n, _, err := size("/theirs"); err != nil || n != 300 {
		t.Fatalf("SIZE of another process's partial after a sweep = %d, %v; want 300", n, err)
	}
	// Deleting the partial (DELE) takes it out of the index again.
	if err := e.fs.Remove(e.ctx, "/part"); err != nil {
		t.Fatal(err)
	}
	if _, heads, err := size("/part"); !errors.Is(err, fs.ErrNotExist) || heads != 1 {
		t.Fatalf("SIZE after DELE of the partial: %v with %d HEADs, want ErrNotExist with 1", err, heads)
	}
}

// With Peers (a cluster) other nodes write markers at any time: the index
// is never trusted, the marker HEAD goes out with the object's.
func TestMarkerIndexOffInCluster(t *testing.T) {
	e, p := faultEnv(t, 0, Options{ResumeWindow: time.Hour, Peers: noPeers{}})
	e.store.Sweep(e.ctx)
	c := count(p, "HeadObject")
	if _, err := e.fs.(ftp.FileSizer).FileSize(e.ctx, "/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if n := c.since("HeadObject"); n != 2 {
		t.Fatalf("SIZE in a cluster: %d HEADs, want 2 (object and marker)", n)
	}
}

type noPeers struct{}

func (noPeers) UploadStarted(string, string) {}
func (noPeers) UploadEnded(string, string)   {}
func (noPeers) OthersRunning(context.Context) (map[string]bool, error) {
	return map[string]bool{}, nil
}
func (noPeers) SweepLock(context.Context) (func(), bool) { return func() {}, true }

// MFMT right after the session's own STOR is one CopyObject (no HEAD); on
// a file it did not store, HEAD + CopyObject. Either way MDTM reports the
// time, and the copy keeps the object's headers.
func TestMFMTAfterOwnStore(t *testing.T) {
	e, p := faultEnv(t, 0, Options{})
	e.save("/own.txt", []byte("hello"))
	want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	c := count(p, "HeadObject", "CopyObject")
	if err := e.rfs().SetModTime(e.ctx, "/own.txt", want); err != nil {
		t.Fatal(err)
	}
	if h, cp := c.since("HeadObject"), c.since("CopyObject"); h != 0 || cp != 1 {
		t.Fatalf("MFMT after own STOR: %d HEAD, %d CopyObject; want 0 and 1", h, cp)
	}
	// Asked of S3 (not the session's memory): a second FS.
	fi, err := e.store.FS("/").(ftp.FileStatter).StatFile(e.ctx, "/own.txt")
	if err != nil || !fi.ModTime().Equal(want) || fi.Size() != 5 {
		t.Fatalf("StatFile after MFMT: %v, %v", fi, err)
	}
	h, err := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("own.txt")})
	if err != nil || aws.ToString(h.ContentType) != "text/plain; charset=utf-8" || h.Metadata[metaVersion] == "" || h.Metadata[metaSHA256] == "" {
		t.Fatalf("headers after MFMT's copy: %v %v %v", aws.ToString(h.ContentType), h.Metadata, err)
	}

	e.put("foreign.txt", "abc")
	c = count(p, "HeadObject", "CopyObject")
	if err := e.rfs().SetModTime(e.ctx, "/foreign.txt", want); err != nil {
		t.Fatal(err)
	}
	if h, cp := c.since("HeadObject"), c.since("CopyObject"); h != 1 || cp != 1 {
		t.Fatalf("MFMT of a foreign file: %d HEAD, %d CopyObject; want 1 and 1", h, cp)
	}
}

// Someone else replaced the file the session just stored: MFMT's copy is
// conditional on the ETag the session stored, so the other object is not
// rewritten (450).
func TestMFMTOwnStoreReplacedMeanwhile(t *testing.T) {
	e := newEnv(t, Options{})
	e.save("/f.txt", []byte("mine"))
	e.put("f.txt", "theirs, longer")
	err := e.rfs().SetModTime(e.ctx, "/f.txt", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	if !errors.Is(err, ftp.ErrChanged) {
		t.Fatalf("MFMT over a replaced file: %v, want ErrChanged", err)
	}
	if got := string(e.read("/f.txt", 0)); got != "theirs, longer" {
		t.Fatalf("the other object became %q", got)
	}
}

// MFMT of a file over MFMTMaxSize is refused (504) without copying it.
func TestMFMTMaxSize(t *testing.T) {
	e, p := faultEnv(t, 0, Options{MFMTMaxSize: 4})
	e.save("/big.txt", []byte("12345"))
	e.put("small.txt", "1234")
	c := count(p, "CopyObject")
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := e.rfs().SetModTime(e.ctx, "/big.txt", at); !errors.Is(err, ftp.ErrNotSupported) {
		t.Fatalf("MFMT over the limit: %v, want ErrNotSupported", err)
	}
	if err := e.rfs().SetModTime(e.ctx, "/small.txt", at); err != nil {
		t.Fatalf("MFMT at the limit: %v", err)
	}
	if n := c.since("CopyObject"); n != 1 {
		t.Fatalf("%d copies, want 1 (the small file only)", n)
	}
}
