package s3fs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Peers is what the store needs of the other processes that serve the
// same bucket (a cluster; internal/cluster implements it, cmd wires it).
// Nil: this process is alone, and every multipart upload it does not use
// itself is one of a process that died.
type Peers interface {
	// UploadStarted and UploadEnded record this process's open multipart
	// uploads, so that when it dies another node can make them resumable
	// at once (Adopt) instead of at the next sweep.
	UploadStarted(key, uploadID string)
	UploadEnded(key, uploadID string)
	// OthersRunning returns the upload IDs other live processes have
	// open; the janitor leaves those alone. An error skips the sweep.
	OthersRunning(ctx context.Context) (map[string]bool, error)
	// SweepLock lets one process sweep at a time: ok false skips this
	// round; unlock ends the sweep.
	SweepLock(ctx context.Context) (unlock func(), ok bool)
}

// Adopt makes key's multipart upload id, left by a process that died,
// resumable now: it gets a marker (see the janitor), so SIZE and REST+STOR
// or APPE continue it from its stored parts on any node. An upload that
// process was committing is completed instead (committing.go). It is the
// janitor's sweep of one upload.
func (s *Store) Adopt(ctx context.Context, key, id string) error {
	if b, k := s.inBucket(key); b != s {
		return b.Adopt(ctx, k, id)
	}
	if s.live.hasID(id) {
		return nil
	}
	rec, err := s.readIntent(ctx, s.intentKey(id))
	switch {
	case isNotFound(err): // never written: adopted as a partial
		rec = intent{}
	case err != nil:
		return fmt.Errorf("s3fs: adopting an upload: reading its record: %w", err)
	}
	rec.key = key
	var st SweepStats
	if s.sweepUpload(ctx, rec, id, s.now(), time.Time{}, &st) {
		s.deleteKey(ctx, s.intentKey(id))
	}
	if st.Errors > 0 {
		return errors.New("s3fs: adopting an upload failed; the next sweep retries")
	}
	return nil
}
