package s3fs

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// orphan leaves what a killed process leaves: a multipart upload of name
// with two stored parts, no marker, in use by nobody.
func (e *env) orphan(name string) {
	e.t.Helper()
	u := e.store.FS("/").(*fsys).newUpload(e.ctx, name, name[1:])
	e.copyRange(u, 5, 0, 2*MinPartSize+mib)
	u.mu.Lock()
	u.mp.waitSends(func() {})
	u.dropCurrent()
	u.s.live.remove(u, u.mp.id)
	u.mu.Unlock()
	e.store.intents.running.Wait()
}

// The janitor touches only multipart uploads s3ftpd started: another
// application's upload in the same bucket is neither adopted nor expired.
func TestJanitorLeavesForeignUploads(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	created, err := e.client.CreateMultipartUpload(e.ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(e.bucket), Key: aws.String("other-app/x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UploadPart(e.ctx, &s3.UploadPartInput{Bucket: aws.String(e.bucket), Key: aws.String("other-app/x"),
		UploadId: created.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(make([]byte, MinPartSize))}); err != nil {
		t.Fatal(err)
	}
	e.interrupt("/f", 6, 0, 12*mib) // ours: a partial
	if st := e.store.Sweep(e.ctx); st.Adopted != 0 || st.Errors != 0 {
		t.Fatalf("sweep: %+v: another application's upload was adopted", st)
	}
	if e.hasMarker("other-app/x") {
		t.Fatal("a marker was written for another application's upload")
	}
	e.store.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if st := e.store.Sweep(e.ctx); st.Expired != 1 || st.Errors != 0 {
		t.Fatalf("sweep after the window: %+v, want only our partial expired", st)
	}
	if _, err := e.client.ListParts(e.ctx, &s3.ListPartsInput{Bucket: aws.String(e.bucket), Key: aws.String("other-app/x"), UploadId: created.UploadId}); err != nil {
		t.Fatalf("another application's upload was aborted: %v", err)
	}
	e.client.AbortMultipartUpload(e.ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(e.bucket), Key: aws.String("other-app/x"), UploadId: created.UploadId})
	e.mustBeClean()
}

// A sweep stops after its limit and the next goes on from there, so every
// upload is reached however many there are.
func TestJanitorCursor(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	for i := range 3 {
		e.orphan(fmt.Sprintf("/f%d", i))
	}
	next := e.reopen(Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	next.sweepLimit = 2
	adopted := 0
	for i := 0; i < 3 && adopted < 3; i++ {
		st := next.Sweep(e.ctx)
		if st.Errors != 0 {
			t.Fatalf("sweep %d: %+v", i, st)
		}
		adopted += st.Adopted
	}
	if adopted != 3 {
		t.Fatalf("%d of 3 orphaned uploads adopted in 3 sweeps of 2: the sweeps start over instead of going on", adopted)
	}
	e.store = next
	for i := range 3 {
		if _, ok := e.partialSize(fmt.Sprintf("/f%d", i)); !ok {
			t.Errorf("/f%d not resumable", i)
		}
	}
}

// hasMarker reports whether key has a partial marker.
func (e *env) hasMarker(key string) bool {
	_, err := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(e.store.partialKey(key))})
	return err == nil
}
