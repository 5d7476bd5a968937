package s3fs

import (
	"testing"
	"time"
)

// An APPE cut by a killed process (no Abort: its multipart upload is all
// that is left, and the janitor adopts it at the next start) stays an
// interrupted APPE: sending the appended bytes again (curl -C -: SIZE, which
// reports the unchanged object, then APPE) appends them (README table), it
// is not refused with 554 as a resume of an interrupted overwrite is. Both
// kinds of append: a small object read back, a large one copied.
func TestAppendAfterKill(t *testing.T) {
	for _, base := range []int64{3000, 6 * mib} {
		e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
		e.finish("/a", 7, 0, base)
		// The janitor tells an adopted upload from an older object by time,
		// to the second (S3's Last-Modified): the kill comes later.
		time.Sleep(1100 * time.Millisecond)
		orphan := e.open("/a", base).(*upload)
		e.copyRange(orphan, 7, base, base+6*mib) // at least one part stored
		orphan.mu.Lock()
		orphan.mp.waitSends(func() {})
		orphan.dropCurrent() // the process's memory is gone
		orphan.s.live.remove(orphan, orphan.mp.id)
		orphan.mu.Unlock()

		next := e.reopen(Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
		if st := next.Sweep(e.ctx); st.Errors != 0 || st.Adopted > 1 {
			t.Fatalf("sweep: %+v", st)
		}
		e.store, e.fs = next, next.FS("/")
		if fi, err := e.fs.Stat(e.ctx, "/a"); err != nil || fi.Size() != base {
			t.Fatalf("base %d: stat after the kill: %v, %v; want the unchanged object", base, fi, err)
		}
		e.finish("/a", 7, base, base+7*mib)
	}
}
