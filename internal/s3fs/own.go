package s3fs

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// ownMemory is how long a session answers from memory about a file it
// has itself just stored: SIZE, MDTM (once MFMT set the time) and MFMT's
// copy (which needs the object's ETag and headers, else a HeadObject).
// Anything the session did not write itself — an object put or deleted
// straight in S3, or through another session — is asked of S3 on every
// command, so it shows (or disappears) at once. The price: within
// ownMemory, a file this session stored and someone else then replaced or
// deleted is still described as stored; MFMT's copy is conditional on the
// ETag, so it never rewrites someone else's object (450).
const ownMemory = 10 * time.Second

// ownObject is a file this session stored.
type ownObject struct {
	size  int64
	etag  string   // "" when unknown (a multipart upload): MFMT asks S3
	spec  copySpec // its headers, for MFMT's copy; valid with etag
	mtime time.Time
	// mtimeSet: mtime is the time MFMT set (MDTM can answer it); else
	// MDTM asks S3 for LastModified.
	mtimeSet bool
	at       time.Time
}

// ownObjects is one session's memory of what it stored, keyed by object
// key. The control goroutine and transfer goroutines use it.
type ownObjects struct {
	mu sync.Mutex
	m  map[string]ownObject
}

func (o *ownObjects) get(key string) (ownObject, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.m[key]
	if ok && time.Since(v.at) >= ownMemory {
		delete(o.m, key)
		return ownObject{}, false
	}
	return v, ok
}

func (o *ownObjects) put(key string, v ownObject) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil || len(o.m) >= 1000 {
		o.m = map[string]ownObject{}
	}
	v.at = time.Now()
	o.m[key] = v
}

func (o *ownObjects) clear() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m = nil
}

func (o *ownObjects) forget(keys ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range keys {
		delete(o.m, k)
	}
}

// ownUpload is a session's upload: once committed, the session remembers
// what it stored.
type ownUpload struct {
	*upload
	own *ownObjects
}

var _ ftp.Upload = ownUpload{}

func (o ownUpload) Commit(ctx context.Context) error {
	u := o.upload
	o.own.forget(u.key)
	if err := u.Commit(ctx); err != nil {
		return err
	}
	obj := ownObject{size: u.total}
	if u.etag != "" {
		obj.etag = u.etag
		obj.spec = copySpec{
			replace: true, contentType: u.contentType, metadata: maps.Clone(u.meta),
			acl: u.props.acl, sse: u.props.sse, kmsKeyID: u.props.kmsKeyID,
			storageClass: u.props.storageClass, tagging: u.props.tagging,
			srcAlgo: u.algo, ifMatch: u.etag,
		}
		if obj.spec.metadata == nil {
			obj.spec.metadata = map[string]string{}
		}
	}
	o.own.put(u.key, obj)
	return nil
}
