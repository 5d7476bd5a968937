package s3fs

import (
	"context"
	"io"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Own only what is ours. ListMultipartUploads shows every multipart upload
// under the prefix, other applications' too (with an empty prefix, the
// whole bucket's), and shows nothing that tells them apart: S3 returns no
// metadata of an upload in progress. So every multipart upload s3ftpd
// starts gets a record, an object
//
//	<prefix>/.s3ftpd-partial/up/<upload id, path-escaped>
//
// whose body is the upload's key; it is deleted when the upload is
// completed or aborted. The janitor sweeps these records, never the
// bucket's list of uploads: an upload it has no record of is not touched.
// The record costs one PUT when a multipart upload starts (beside its first
// part, off the transfer's path), one PUT when it is committed (rewritten
// as "committing" before CompleteMultipartUpload, committing.go) and one
// DELETE when it ends (after the reply); files of one part pay nothing.
//
// A process killed between CreateMultipartUpload and the record's PUT
// leaves an upload with no record: nothing sweeps it. README recommends a
// bucket lifecycle rule (AbortIncompleteMultipartUpload) longer than the
// resume window for that case and for uploads of other applications.
const intentDir = "up"

func (s *Store) intentPrefix() string { return s.partialRoot + "/" + intentDir + "/" }

func (s *Store) intentKey(id string) string { return s.intentPrefix() + url.PathEscape(id) }

// intents orders each record's DELETE after its PUT.
type intents struct {
	mu      sync.Mutex
	writing map[string]chan struct{} // upload id → closed when the PUT ended
	running sync.WaitGroup           // PUTs and DELETEs in flight
}

// recordUpload writes the record of multipart upload id of key, in the
// background.
func (s *Store) recordUpload(key, id string) {
	done := make(chan struct{})
	s.intents.mu.Lock()
	s.intents.writing[id] = done
	s.intents.mu.Unlock()
	s.intents.running.Add(1)
	go func() {
		defer s.intents.running.Done()
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
		defer cancel()
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(s.intentKey(id)),
			Body: strings.NewReader(key), ContentLength: aws.Int64(int64(len(key))),
		})
		if err != nil {
			s.log.Warn("janitor record of a multipart upload not written: if this process dies, nothing will sweep the upload",
				"key", key, "err", err)
		}
	}()
}

// forgetUpload deletes the record once the upload was completed or
// aborted, in the background.
func (s *Store) forgetUpload(id string) {
	s.intents.mu.Lock()
	done := s.intents.writing[id]
	delete(s.intents.writing, id)
	s.intents.mu.Unlock()
	s.intents.running.Add(1)
	go func() {
		defer s.intents.running.Done()
		if done != nil {
			<-done
		}
		ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
		defer cancel()
		s.deleteKey(ctx, s.intentKey(id))
	}()
}

// readIntent reads a record: the key it names, and whether the upload was
// committing (committing.go).
func (s *Store) readIntent(ctx context.Context, rec string) (intent, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(rec)})
	if err != nil {
		return intent{}, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 4096))
	return intent{key: string(b), written: aws.ToTime(out.LastModified), commit: parseCommitIntent(out.Metadata)}, err
}

// sweepCursor is where the last sweep stopped in a listing that had more
// than the sweep limit; the next sweep goes on from there, so every
// record is reached however many there are.
type sweepCursor struct {
	mu               sync.Mutex
	uploads, markers string
}

func (c *sweepCursor) get(which *string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *which
}

func (c *sweepCursor) set(which *string, v string) {
	c.mu.Lock()
	*which = v
	c.mu.Unlock()
}
