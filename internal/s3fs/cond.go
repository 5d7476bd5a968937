package s3fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Conditional requests. What s3ftpd changes on behalf of a command that
// looked at an object first is conditional on the object being what it
// saw (DESIGN.md: every acknowledged byte stays):
//
//   - an APPE or a resumed upload completes with If-Match on the ETag of the
//     object it builds on, or If-None-Match: * when there was none, so that
//     a STOR committed meanwhile is not replaced by old bytes + appended;
//   - a rename deletes its source with If-Match on the ETag it copied
//     (DeleteObjects with a per-object ETag for a tree), so that a STOR
//     committed on the source between the copy and the delete stays.
//
// S3 has If-Match/If-None-Match on PutObject and CompleteMultipartUpload
// and If-Match on DeleteObject and per object in DeleteObjects. Other
// stores vary: versitygw 1.8 honours them on PutObject,
// CompleteMultipartUpload and DeleteObject but ignores the per-object ETag
// of DeleteObjects (so tree renames delete key by key there). A store may
// also ignore a condition (then the request succeeds regardless) or refuse
// it (501). Which one is found out once per Store, by probing a key of our
// own, and logged; a condition the store does not honour is not sent.

// condSupport is what the store honours.
type condSupport struct {
	put      bool // PutObject If-None-Match: * / If-Match
	complete bool // CompleteMultipartUpload If-None-Match: *
	del      bool // DeleteObject If-Match
	delBatch bool // DeleteObjects with ObjectIdentifier.ETag
}

// condState is the probe's result, shared by copies of a Store.
type condState struct {
	mu             sync.Mutex
	c              condSupport
	known, probing bool
	failed         time.Time // the last probe that failed (retried after probeRetry)
}

// probeRetry spaces the probes after one failed, so that a store that
// refuses the probe key (a bucket policy) does not cost a request per
// conditional request.
const probeRetry = time.Minute

// conditions returns what the store honours, probing it the first time.
// A probe that fails (store unreachable) is retried at the next call;
// meanwhile conditions are sent as if supported.
func (s *Store) conditions(ctx context.Context) condSupport {
	all := condSupport{put: true, complete: true, del: true, delBatch: true}
	st := s.cond
	st.mu.Lock()
	known, c := st.known, st.c
	wait := st.probing || s.now().Sub(st.failed) < probeRetry
	if !known && !wait {
		st.probing = true
	}
	st.mu.Unlock()
	switch {
	case known:
		return c
	case wait: // another request is probing (no lock is held over it), or one failed just now
		return all
	}
	c, err := s.probeConditions(ctx)
	st.mu.Lock()
	st.probing = false
	if err == nil {
		st.c, st.known = c, true
	} else {
		st.failed = s.now()
	}
	st.mu.Unlock()
	if err != nil {
		s.log.Warn("could not probe the store for conditional requests; sending them anyway", "err", err)
		return all
	}
	if c == all {
		s.log.Info("store honours conditional writes and deletes")
		return c
	}
	var missing []string
	if !c.put || !c.complete {
		missing = append(missing, "conditional writes (an APPE or resumed upload can replace a STOR committed during it)")
	}
	if !c.del {
		missing = append(missing, "conditional deletes (a rename can delete a STOR committed on its source during it)")
	} else if !c.delBatch {
		s.log.Info("store ignores per-object ETags in DeleteObjects: directory renames delete their sources one request per key")
	}
	if len(missing) > 0 {
		s.log.Warn("store does not honour "+strings.Join(missing, "; "), "put", c.put, "complete", c.complete,
			"delete", c.del, "delete_objects", c.delBatch)
	}
	return c
}

// CheckConditional probes the store now (at startup), so that the log says
// early whether conditional requests are honoured.
func (s *Store) CheckConditional(ctx context.Context) { s.conditions(ctx) }

// probeConditions tries each condition on a fresh key under the partial
// directory (hidden from listings; a leftover expires with the markers).
func (s *Store) probeConditions(ctx context.Context) (condSupport, error) {
	var c condSupport
	var b [8]byte
	_, _ = rand.Read(b[:])
	key := s.partialRoot + "/probe-" + hex.EncodeToString(b[:])
	put := func(cond bool) error {
		in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
			Body: strings.NewReader("p"), ContentLength: aws.Int64(1)}
		if cond {
			in.IfNoneMatch = aws.String("*")
		}
		_, err := s.client.PutObject(ctx, in)
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		s.deleteKey(dctx, key)
	}()
	if err := put(false); err != nil {
		return c, err
	}
	// Each probe below must fail with 412 on an honouring store.
	switch err := put(true); {
	case isPrecondition(err):
		c.put = true
	case err != nil && !isNotImplemented(err):
		return c, err
	}
	ok, err := s.probeComplete(ctx, key)
	if err != nil {
		return c, err
	}
	c.complete = ok
	const wrong = `"00000000000000000000000000000000"`
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), IfMatch: aws.String(wrong)})
	switch {
	case isPrecondition(err):
		c.del = true
	case err != nil && !isNotImplemented(err):
		return c, err
	case err == nil:
		if err := put(false); err != nil { // it was deleted: write it again
			return c, err
		}
	}
	out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(s.bucket), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String(key), ETag: aws.String(wrong)}}, Quiet: aws.Bool(true)}})
	switch {
	case err == nil && len(out.Errors) == 1 && aws.ToString(out.Errors[0].Code) == "PreconditionFailed":
		c.delBatch = true
	case err != nil && !isNotImplemented(err):
		return c, err
	}
	return c, nil
}

// probeComplete completes a one-part multipart upload onto the existing
// key with If-None-Match: *, which must fail.
func (s *Store) probeComplete(ctx context.Context, key string) (bool, error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return false, err
	}
	id := aws.ToString(created.UploadId)
	defer func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if err := s.abortMultipart(actx, key, id); err != nil {
			s.log.Warn("abort probe upload", "key", key, "err", err)
		}
	}()
	part, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		UploadId: aws.String(id), PartNumber: aws.Int32(1), Body: strings.NewReader("q"), ContentLength: aws.Int64(1)})
	if err != nil {
		return false, err
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id), IfNoneMatch: aws.String("*"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}},
	})
	switch {
	case err == nil:
		return false, nil // completed despite the condition
	case isPrecondition(err):
		return true, nil
	case isNotImplemented(err):
		return false, nil
	}
	return false, err
}

// isPrecondition reports a failed condition: 412, or 409
// ConditionalRequestConflict (S3: a concurrent conditional write won).
func isPrecondition(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	return false
}

// isNotImplemented reports a store refusing a conditional request as
// such: 501, or another 4xx than 412/409 (a store that does not know the
// header may call it an invalid argument or a bad request). A probe that
// gets it counts the condition as not honoured.
func isNotImplemented(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) || isPrecondition(err) {
		return false
	}
	if api.ErrorCode() == "NotImplemented" {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
}

// condition is what a commit requires of the object at its key: the ETag
// it builds on (ifMatch), or that there is none (absent).
type condition struct {
	ifMatch string
	absent  bool
}

func (c condition) set() bool { return c.ifMatch != "" || c.absent }

// apply returns the If-Match and If-None-Match values for a request.
func (c condition) apply() (ifMatch, ifNoneMatch *string) {
	if c.absent {
		return nil, aws.String("*")
	}
	return optString(c.ifMatch), nil
}

// changed turns the answer to a conditional commit whose condition failed
// into ftp.ErrChanged (450). With If-Match a missing object is 404
// NoSuchKey (the object was deleted meanwhile), not to be confused with a
// vanished multipart upload (NoSuchUpload).
func (c condition) changed(err error) error {
	if err == nil || !c.set() {
		return err
	}
	var api smithy.APIError
	if isPrecondition(err) || (c.ifMatch != "" && errors.As(err, &api) && api.ErrorCode() == "NoSuchKey") {
		return fmt.Errorf("%w: %w", ftp.ErrChanged, err)
	}
	return err
}
