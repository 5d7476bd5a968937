package s3fs

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// direct is a Store on e's bucket that talks to the store itself, not
// through the fault proxy: the process started after the killed one.
func (e *env) direct(opts Options) *Store {
	e.t.Helper()
	client, err := NewClient(e.ctx, ClientOptions{
		Endpoint: e.srv.endpoint, PathStyle: true, AccessKey: e.srv.access, SecretKey: e.srv.secret,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { CloseIdleConnections(client) })
	opts.Bucket, opts.Logger = e.bucket, e.store.log
	s, err := New(client, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// killedInCommit writes [from, to) of pattern seed to u and commits it
// while the store holds every CompleteMultipartUpload unanswered: the
// process is then "killed" (u is abandoned, its Store never used again).
// It returns once the completion reached the store; release ends the held
// request and waits for the abandoned Commit to return.
func (e *env) killedInCommit(p *s3faults.Proxy, u ftp.Upload, seed byte, from, to int64) (release func()) {
	e.t.Helper()
	p.Set(s3faults.Rule{Op: "CompleteMultipartUpload", Kind: s3faults.StallHeaders})
	e.copyRange(u, seed, from, to)
	done := make(chan error, 1)
	go func() { done <- u.Commit(e.ctx) }()
	held := p.Injected("CompleteMultipartUpload", s3faults.StallHeaders)
	for i := 0; p.Injected("CompleteMultipartUpload", s3faults.StallHeaders) == held; i++ {
		select {
		case err := <-done:
			e.t.Fatalf("commit returned before its completion reached the store: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if i == 6000 {
			e.t.Fatal("no CompleteMultipartUpload reached the store within a minute")
		}
	}
	return func() {
		p.Close()
		select {
		case <-done:
		case <-time.After(time.Minute):
			e.t.Fatal("the abandoned commit did not return after its request ended")
		}
	}
}

// A process killed after the client's end of file was confirmed and every
// part stored, while CompleteMultipartUpload was on its way, left an
// upload the server knew to be complete. The next process (the janitor at
// its start, or a cluster node's Adopt) completes it byte-exact, instead of
// keeping it as a partial that holds the whole file (SIZE would report the
// full size, curl -C - and lftp put -c would send nothing and the name
// would never get its file: README "The trap"). Kinds: a new name whose
// last part is full (the partial would have held every byte) or short; an
// APPE (its marker goes too); a resumed partial (REST + STOR, its marker
// goes too).
func TestCommitAfterKill(t *testing.T) {
	for _, c := range []struct {
		name, via  string
		from, size int64 // bytes already stored (a resume), the file's size
		base       bool  // an APPE to an object of from bytes
	}{
		{name: "full-last-part", via: "sweep", size: 3 * MinPartSize},
		{name: "short-last-part", via: "adopt", size: 2*MinPartSize + mib + 77},
		{name: "appe", via: "sweep", from: 6 * mib, size: 6*mib + 2*MinPartSize + 5, base: true},
		{name: "resumed-partial", via: "adopt", from: MinPartSize + 77, size: 3*MinPartSize + 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{PartSize: MinPartSize, ResumeWindow: time.Hour}
			e, p := faultEnv(t, time.Minute, opts)
			e.store.CheckConditional(e.ctx) // its probe completes an upload too
			switch {
			case c.base:
				e.finish("/f", 21, 0, c.from)
			case c.from > 0:
				e.interrupt("/f", 21, 0, c.from)
			}
			release := e.killedInCommit(p, e.open("/f", c.from), 21, c.from, c.size)
			out, err := e.client.ListMultipartUploads(e.ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
			if err != nil || len(out.Uploads) != 1 {
				t.Fatalf("multipart uploads after the kill: %v, %v; want one", out, err)
			}
			id := aws.ToString(out.Uploads[0].UploadId)

			next := e.direct(opts)
			switch c.via {
			case "sweep":
				if st := next.Sweep(e.ctx); st.Errors != 0 || st.Completed != 1 || st.Adopted != 0 {
					t.Errorf("sweep after the kill: %+v; want the upload completed", st)
				}
			case "adopt":
				if err := next.Adopt(e.ctx, "f", id); err != nil {
					t.Errorf("adopt: %v", err)
				}
			}
			e.store, e.fs = next, next.FS("/")
			if n, ok := e.partialSize("/f"); ok {
				t.Fatalf("the upload was made a partial of %d bytes (of %d) instead of being completed", n, c.size)
			}
			e.mustBePattern("/f", 21, c.size)
			release()
			e.mustBeClean()
		})
	}
}

// The name was written by someone else after the killed process recorded
// that it was committing: the next process keeps the newer file and
// discards the upload (a STOR, which completes unconditionally, and an
// APPE, which completes with If-Match on the object it extends).
func TestCommitAfterKillKeepsNewerFile(t *testing.T) {
	for _, kind := range []string{"stor", "appe"} {
		t.Run(kind, func(t *testing.T) {
			opts := Options{PartSize: MinPartSize, ResumeWindow: time.Hour}
			e, p := faultEnv(t, time.Minute, opts)
			e.store.CheckConditional(e.ctx) // its probe completes an upload too
			var u ftp.Upload
			var from int64
			if kind == "appe" {
				from = 6 * mib
				e.finish("/f", 22, 0, from)
				u = e.open("/f", from)
			} else {
				u = e.open("/f", 0)
			}
			release := e.killedInCommit(p, u, 22, from, from+2*MinPartSize+mib)
			newer := []byte("written by someone else meanwhile")
			e.put("f", string(newer))

			next := e.direct(opts)
			if st := next.Sweep(e.ctx); st.Errors != 0 || st.Completed != 0 || st.Adopted != 0 {
				t.Errorf("sweep after the kill: %+v; want the upload discarded", st)
			}
			e.store, e.fs = next, next.FS("/")
			if got := e.read("/f", 0); !bytes.Equal(got, newer) {
				t.Fatalf("the newer file was replaced: %d bytes at the name, want %q", len(got), newer)
			}
			release()
			e.mustBeClean()
		})
	}
}

// A commit the store refuses (the client gets 451) is no commit in
// progress: its record is plain again, so the janitor leaves the partial
// that Abort kept (the README's resumable partial), instead of completing
// an upload whose client was told it failed.
func TestFailedCommitStaysPartial(t *testing.T) {
	opts := Options{PartSize: MinPartSize, ResumeWindow: time.Hour}
	e, p := faultEnv(t, time.Minute, opts)
	p.Set(s3faults.Rule{Op: "CompleteMultipartUpload", Kind: s3faults.InternalError})
	u := e.open("/f", 0)
	e.copyRange(u, 23, 0, 3*MinPartSize)
	if err := u.Commit(e.ctx); err == nil {
		t.Fatal("commit succeeded although the store refused every completion")
	}
	if err := u.Abort(e.ctx); err != nil {
		t.Fatalf("abort: %v", err)
	}
	e.store.intents.running.Wait()
	p.Set()
	next := e.direct(opts)
	if st := next.Sweep(e.ctx); st.Errors != 0 || st.Completed != 0 {
		t.Fatalf("sweep: %+v; want the partial left alone", st)
	}
	e.store, e.fs = next, next.FS("/")
	if n, ok := e.partialSize("/f"); !ok || n != 3*MinPartSize {
		t.Fatalf("partial after the failed commit: %d, %v; want all %d bytes", n, ok, 3*MinPartSize)
	}
	e.finish("/f", 23, 3*MinPartSize, 3*MinPartSize+1000)
	e.mustBeClean()
}

// What the committing record costs: one PutObject per multipart upload
// (beside the record written at its start), none for a file of one part.
func TestCommitRecordCost(t *testing.T) {
	e, p := faultEnv(t, time.Minute, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	count := func(what string, size int64, wantPuts int) {
		t.Helper()
		puts, completes := p.Requests("PutObject"), p.Requests("CompleteMultipartUpload")
		u := e.open("/"+what, 0)
		e.copyRange(u, 24, 0, size)
		if err := u.Commit(e.ctx); err != nil {
			t.Fatalf("commit %s: %v", what, err)
		}
		e.store.intents.running.Wait()
		if n := p.Requests("PutObject") - puts; n != wantPuts {
			t.Errorf("%s (%d bytes): %d PutObject requests, want %d", what, size, n, wantPuts)
		}
		t.Logf("%s (%d bytes): %d PutObject, %d CompleteMultipartUpload", what, size,
			p.Requests("PutObject")-puts, p.Requests("CompleteMultipartUpload")-completes)
	}
	count("small", 1000, 1)                // the object
	count("multipart", 2*MinPartSize+1, 2) // the record at the start, rewritten as committing
	e.mustBePattern("/multipart", 24, 2*MinPartSize+1)
	e.mustBeClean()
}
