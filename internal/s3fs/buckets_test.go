package s3fs

import (
	"testing"
	"time"
)

// A home in another bucket (home: s3://bucket/prefix) has its own
// partials there, resumable through that bucket's store; the janitor of
// the store it came from sweeps it; the cluster's key for it names the
// bucket, so an adoption after a node loss lands there.
func TestOtherBucket(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour})
	raw, name := e.srv.newBucket(t)
	other := e.store.Bucket(name)
	if other == e.store || e.store.Bucket(name) != other || e.store.Bucket("") != e.store {
		t.Fatal("Bucket: want one store per other bucket, the store itself for its own")
	}
	o := *e
	o.store, o.fs, o.bucket, o.client = other, other.UserFS(User{Home: "/in"}), name, raw
	o.interrupt("/f", 7, 0, 6*mib)
	if n, ok := o.partialSize("/f"); !ok || n != 6*mib {
		t.Fatalf("partial in the other bucket: %d %v", n, ok)
	}
	if _, ok := e.partialSize("/in/f"); ok {
		t.Fatal("the other bucket's partial shows in the store's own bucket")
	}
	// A sweep rebuilds each bucket's marker index from its own markers:
	// each partial is still found where it is, and only there.
	e.interrupt("/g", 8, 0, 6*mib)
	if st := e.store.Sweep(e.ctx); st.Errors != 0 {
		t.Fatalf("sweep: %+v", st)
	}
	if n, ok := o.partialSize("/f"); !ok || n != 6*mib {
		t.Fatalf("after a sweep, partial in the other bucket: %d %v", n, ok)
	}
	if _, ok := e.partialSize("/in/f"); ok {
		t.Fatal("after a sweep, the other bucket's partial shows in the store's own bucket")
	}
	if n, ok := e.partialSize("/g"); !ok || n != 6*mib {
		t.Fatalf("after a sweep, the store's own partial: %d %v", n, ok)
	}
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	e.store.now, other.now = later, later
	if st := e.store.Sweep(e.ctx); st.Expired != 2 || st.Errors != 0 {
		t.Fatalf("sweep: %+v, want both partials expired", st)
	}
	o.mustBeClean()
	e.mustBeClean()
	if b, k := e.store.inBucket(bucketKey + name + "/in/f"); b != other || k != "in/f" {
		t.Errorf("inBucket: %p %q", b, k)
	}
}
