package s3fs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// resumable is the s3fs FS with its optional interfaces.
type resumable interface {
	ftp.FS
	ftp.Resumer
	ftp.Hasher
	ftp.ModTimeSetter
}

func (e *env) rfs() resumable { return e.fs.(resumable) }

// interrupt writes the bytes [from, to) of pattern seed to a new upload (or
// to a resumed one when from > 0) and aborts it.
func (e *env) interrupt(name string, seed byte, from, to int64) {
	e.t.Helper()
	u := e.open(name, from)
	e.copyRange(u, seed, from, to)
	if err := u.Abort(e.ctx); err != nil {
		e.t.Fatalf("abort %s: %v", name, err)
	}
}

// open starts an upload at offset (Create for 0, Resume otherwise).
func (e *env) open(name string, offset int64) ftp.Upload {
	e.t.Helper()
	var u ftp.Upload
	var err error
	if offset == 0 {
		u, err = e.fs.Create(e.ctx, name)
	} else {
		u, err = e.rfs().Resume(e.ctx, name, offset)
	}
	if err != nil {
		e.t.Fatalf("open %s at %d: %v", name, offset, err)
	}
	return u
}

// copyRange writes bytes [from, to) of pattern seed.
func (e *env) copyRange(u ftp.Upload, seed byte, from, to int64) {
	e.t.Helper()
	p := newPattern(to, seed)
	if _, err := io.CopyN(io.Discard, p, from); err != nil {
		e.t.Fatal(err)
	}
	if _, err := io.Copy(u, p); err != nil {
		e.t.Fatalf("write [%d, %d): %v", from, to, err)
	}
}

// finish resumes name at from, writes the rest of pattern seed up to size
// and commits; the object must then be exactly the pattern.
func (e *env) finish(name string, seed byte, from, size int64) {
	e.t.Helper()
	u := e.open(name, from)
	e.copyRange(u, seed, from, size)
	if err := u.Commit(e.ctx); err != nil {
		e.t.Fatalf("commit %s: %v", name, err)
	}
	e.mustBePattern(name, seed, size)
}

func (e *env) mustBePattern(name string, seed byte, size int64) {
	e.t.Helper()
	sum, n := e.readSum(name)
	if n != size || sum != patternSum(size, seed) {
		e.t.Fatalf("%s: %d bytes read back, want %d; content equal: %v", name, n, size, sum == patternSum(size, seed))
	}
}

func (e *env) partialSize(name string) (int64, bool) {
	e.t.Helper()
	n, ok, err := e.rfs().PartialSize(e.ctx, name)
	if err != nil {
		e.t.Fatalf("partial size %s: %v", name, err)
	}
	return n, ok
}

// mustBeClean asserts that no partial state is left in the bucket: no
// multipart upload and no marker.
func (e *env) mustBeClean() {
	e.t.Helper()
	e.store.intents.running.Wait() // upload records are written and deleted in the background
	if n := e.pendingUploads(); n != 0 {
		e.t.Fatalf("%d multipart uploads left", n)
	}
	out, err := e.client.ListObjectsV2(e.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket), Prefix: aws.String(partialDir + "/")})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		e.t.Fatalf("%d partial markers or upload records left, first %s", len(out.Contents), aws.ToString(out.Contents[0].Key))
	}
}

// An interrupted upload leaves no object (or the old one) at its name and
// keeps what it received; SIZE reports it, REST+STOR continues it without
// the first bytes being sent again, and the result is byte-exact. Sizes
// cover a first part only (tail only), parts plus a small tail, and exact
// part boundaries.
func TestPartialResume(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	e.save("/old", []byte("previous version"))
	for i, c := range []struct{ cut, size int64 }{
		{1000, 3000},
		{2 * mib, 7 * mib},
		{12*mib + 77, 17 * mib},
		{2 * MinPartSize, 11 * mib},
	} {
		t.Run(fmt.Sprint(c.cut), func(t *testing.T) {
			name := fmt.Sprintf("/f%d", i)
			if i == 0 {
				name = "/old"
			}
			seed := byte(10 + i)
			e.interrupt(name, seed, 0, c.cut)
			if i == 0 {
				mustEqual(t, "old object after the broken upload", e.read(name, 0), []byte("previous version"))
			} else if _, err := e.fs.Stat(e.ctx, name); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("torn object visible: %v", err)
			}
			if n, ok := e.partialSize(name); !ok || n != c.cut {
				t.Fatalf("partial size %d %v, want %d", n, ok, c.cut)
			}
			if _, err := e.rfs().Resume(e.ctx, name, c.cut-1); !errors.Is(err, fs.ErrInvalid) {
				t.Fatalf("resume at a wrong offset: %v, want ErrInvalid", err)
			}
			e.finish(name, seed, c.cut, c.size)
			if _, ok := e.partialSize(name); ok {
				t.Fatal("partial still reported after the upload completed")
			}
		})
	}
	e.mustBeClean()
	names, err := e.list("/")
	if err != nil || slices.Contains(names, partialDir+"/") {
		t.Fatalf("listing shows the partial directory: %q %v", names, err)
	}
	if _, err := e.fs.Stat(e.ctx, "/"+partialDir); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("stat of the reserved directory: %v", err)
	}
}

// A resumed upload interrupted again keeps everything received so far.
func TestPartialResumeTwice(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	const size = 23 * mib
	e.interrupt("/f", 3, 0, 7*mib)
	e.interrupt("/f", 3, 7*mib, 16*mib+5)
	if n, ok := e.partialSize("/f"); !ok || n != 16*mib+5 {
		t.Fatalf("partial size %d %v", n, ok)
	}
	e.finish("/f", 3, 16*mib+5, size)
	e.mustBeClean()
}

// A tail of at least 5 MiB (a first part that was not full) is copied
// server-side into the resumed upload instead of being read back.
func TestPartialBigTail(t *testing.T) {
	e := newEnv(t, Options{PartSize: 8 * mib, ResumeWindow: time.Hour})
	var gets atomic.Int32
	e.store = countGets(e.store, &gets)
	e.fs = e.store.FS("/")
	e.interrupt("/f", 4, 0, 6*mib)
	e.finish("/f", 4, 6*mib, 9*mib)
	if n := gets.Load(); n != 1 { // the read-back check of finish, nothing else
		t.Fatalf("%d GETs: the tail was read back instead of copied", n)
	}
	e.mustBeClean()
}

// A process killed mid-upload leaves its multipart upload and no marker.
// The janitor of the next process makes it resumable; its parts are kept.
func TestPartialAfterKill(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	const size = 13 * mib
	// What a killed process leaves: two parts of a multipart upload.
	orphan := e.store.FS("/").(*fsys).newUpload(e.ctx, "/f", "f")
	e.copyRange(orphan, 5, 0, 2*MinPartSize+mib)
	orphan.mu.Lock()
	orphan.mp.waitSends(func() {})
	orphan.dropCurrent() // the process's memory is gone
	orphan.s.live.remove(orphan, orphan.mp.id)
	orphan.mu.Unlock()

	next := e.reopen(Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	if st := next.Sweep(e.ctx); st.Adopted != 1 || st.Errors != 0 {
		t.Fatalf("sweep: %+v, want one upload adopted", st)
	}
	e.store, e.fs = next, next.FS("/")
	if n, ok := e.partialSize("/f"); !ok || n != 2*MinPartSize {
		t.Fatalf("partial size after restart %d %v, want the two stored parts", n, ok)
	}
	e.finish("/f", 5, 2*MinPartSize, size)
	e.mustBeClean()
}

// After the resume window the janitor deletes partials, and says so.
func TestPartialExpires(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	e.interrupt("/big", 6, 0, 12*mib)
	e.interrupt("/small", 6, 0, 100)
	if st := e.store.Sweep(e.ctx); st != (SweepStats{}) {
		t.Fatalf("sweep within the window: %+v", st)
	}
	if _, ok := e.partialSize("/big"); !ok {
		t.Fatal("partial gone within the window")
	}
	e.store.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if st := e.store.Sweep(e.ctx); st.Expired != 2 || st.Errors != 0 {
		t.Fatalf("sweep after the window: %+v, want 2 expired", st)
	}
	e.mustBeClean()
}

// A partial older than the object at its name (stored since by a complete
// upload) is stale: not reported, and removed by the next write that finds
// it (not by SIZE, which may come from a read-only user).
func TestPartialStale(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	e.interrupt("/f", 7, 0, 11*mib)
	e.save("/f", []byte("complete"))
	if n, ok := e.partialSize("/f"); ok {
		t.Fatalf("stale partial reported: %d", n)
	}
	if e.pendingUploads() != 1 {
		t.Fatal("SIZE deleted the stale partial")
	}
	// Resume then appends to the complete file.
	u := e.open("/f", int64(len("complete")))
	u.Write([]byte("+more"))
	if err := u.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "append", e.read("/f", 0), []byte("complete+more"))
	e.mustBeClean()
}

// uploads.atomic: false stores what arrived when the transfer breaks.
func TestNonAtomicAbort(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, NonAtomic: true, ResumeWindow: time.Hour})
	for _, size := range []int64{1000, 12 * mib} {
		name := fmt.Sprintf("/f%d", size)
		e.interrupt(name, 8, 0, size)
		e.mustBePattern(name, 8, size)
		if _, ok := e.partialSize(name); ok {
			t.Fatal("partial kept although the object was stored")
		}
	}
	// REST+STOR then appends to what was stored.
	e.finish("/f1000", 8, 1000, 3000)
	e.mustBeClean()
}

// APPE (and REST+STOR of a complete file): the existing bytes are copied
// server-side when they can be a part, read back otherwise; the old
// object stays visible until Commit; appending nothing changes nothing.
func TestAppend(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	for i, c := range []struct{ head, size int64 }{
		{100, 4000},                    // small head, single PUT
		{3 * mib, 9 * mib},             // small head re-uploaded into the first part
		{6 * mib, 7 * mib},             // single-PUT head copied
		{12*mib + 3, 12*mib + 3 + 100}, // multipart head (FULL_OBJECT CRC32) copied
	} {
		t.Run(fmt.Sprint(c.head), func(t *testing.T) {
			name, seed := fmt.Sprintf("/a%d", i), byte(20+i)
			u := e.open(name, 0)
			e.copyRange(u, seed, 0, c.head)
			if err := u.Commit(e.ctx); err != nil {
				t.Fatal(err)
			}
			u = e.open(name, c.head)
			e.copyRange(u, seed, c.head, c.size)
			if fi, err := e.fs.Stat(e.ctx, name); err != nil || fi.Size() != c.head {
				t.Fatalf("object changed before Commit: %v %v", fi, err)
			}
			if err := u.Commit(e.ctx); err != nil {
				t.Fatal(err)
			}
			e.mustBePattern(name, seed, c.size)
			// Again, from the appended object (CRC32C now, for copies).
			e.finish(name, seed, c.size, c.size+MinPartSize+1)
		})
	}
	// Nothing appended: unchanged, nothing left over.
	e.save("/same", bytes.Repeat([]byte("x"), 6*mib))
	before, _ := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("same")})
	u := e.open("/same", 6*mib)
	if err := u.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("same")})
	if aws.ToString(before.ETag) != aws.ToString(after.ETag) {
		t.Fatal("empty append rewrote the object")
	}
	for _, c := range []struct {
		name   string
		offset int64
		want   error
	}{
		{"/same", 5, fs.ErrInvalid},
		{"/missing", 5, fs.ErrNotExist},
	} {
		if _, err := e.rfs().Resume(e.ctx, c.name, c.offset); !errors.Is(err, c.want) {
			t.Errorf("resume %s at %d: %v, want %v", c.name, c.offset, err, c.want)
		}
	}
	// APPE to a missing file creates it.
	e.finish("/new", 9, 0, 10)
	e.mustBeClean()
}

// DELE of a name whose upload broke removes what was received.
func TestRemovePartial(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	e.interrupt("/f", 1, 0, 11*mib)
	if err := e.fs.Remove(e.ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.partialSize("/f"); ok {
		t.Fatal("partial survived DELE")
	}
	if err := e.fs.Remove(e.ctx, "/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second DELE: %v", err)
	}
	e.mustBeClean()
}

// Permanent failures keep no partial: over-size, a directory of that name.
func TestPartialNotForPermanentFailures(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	e.store.maxObject = 6 * mib
	u := e.open("/big", 0)
	if _, err := io.Copy(u, newPattern(7*mib, 1)); !errors.Is(err, ftp.ErrTooLarge) {
		t.Fatalf("over-size: %v", err)
	}
	u.Abort(e.ctx)
	if err := e.fs.Mkdir(e.ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	u = e.open("/d", 0)
	u.Write([]byte("x"))
	if err := u.Commit(e.ctx); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("commit over a directory: %v", err)
	}
	u.Abort(e.ctx)
	e.mustBeClean()
}

// countGets returns a copy of s whose client counts GetObject calls.
func countGets(s *Store, n *atomic.Int32) *Store {
	c := *s
	c.client = s3.New(s.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, countOp[*s3.GetObjectInput](n))
	})
	return &c
}

// TestCRCCombine checks crcCombine against CRCs computed over the
// concatenation, for both polynomials and awkward lengths.
func TestCRCCombine(t *testing.T) {
	data, _ := io.ReadAll(newPattern(3*blockSize+17, 1))
	for _, a := range []crcAlgo{algoCRC32(), algoCRC32C()} {
		for _, cut := range []int{0, 1, 7, blockSize, len(data) - 1, len(data)} {
			h1, h2, all := a.new(), a.new(), a.new()
			h1.Write(data[:cut])
			h2.Write(data[cut:])
			all.Write(data)
			if got := crcCombine(a.poly, h1.Sum32(), h2.Sum32(), int64(len(data)-cut)); got != all.Sum32() {
				t.Errorf("%s cut %d: combined %08x, want %08x", a.name, cut, got, all.Sum32())
			}
		}
	}
	if types.ChecksumAlgorithmCrc32 == algoCRC32().other().name {
		t.Error("other() of CRC32 is CRC32")
	}
}

// TestFullChecksumOfParts checks the full-object CRC of an upload whose
// parts change size and change back (fullChecksum reuses one zero-bytes
// operator while the size stays the same) against the CRC of the whole.
func TestFullChecksumOfParts(t *testing.T) {
	sizes := []int{1000, 1000, 1000, 333, 333, 1000, 1, 17, 17}
	total := 0
	for _, n := range sizes {
		total += n
	}
	data, _ := io.ReadAll(newPattern(int64(total), 2))
	for _, a := range []crcAlgo{algoCRC32(), algoCRC32C()} {
		mp := &multipart{algo: a, full: true}
		var parts []partDone
		off := 0
		for i, n := range sizes {
			h := a.new()
			h.Write(data[off : off+n])
			parts = append(parts, partDone{num: int32(i + 1), sum: crcBase64(h), size: int64(n)})
			off += n
		}
		all := a.new()
		all.Write(data)
		got, ok := fullChecksum(mp, parts)
		if want := crcBase64(all); !ok || got != want {
			t.Errorf("%s: full checksum %q (%v), want %q", a.name, got, ok, want)
		}
	}
}
