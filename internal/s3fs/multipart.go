package s3fs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// multipart is the S3 side of an upload that outgrew its first part.
type multipart struct {
	id    string
	slots chan struct{} // one token per part being sent (Concurrency)
	wg    sync.WaitGroup

	mu    sync.Mutex
	parts []types.CompletedPart
	err   error // first failed part
}

func (m *multipart) failed() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

func (m *multipart) done(p types.CompletedPart, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if m.err == nil {
			m.err = err
		}
		return
	}
	m.parts = append(m.parts, p)
}

// wait waits for the parts being sent and returns the first failure, or
// ctx's error if ctx ends first (the sends go on; cleanup deals with them).
func (m *multipart) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return m.failed()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitSends waits for the parts being sent, cutting them off with cancel
// after sendGrace.
func (m *multipart) waitSends(cancel context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(sendGrace):
		cancel()
		<-done
	}
}

// start creates the multipart upload. Parts carry CRC32 checksums, which S3
// only accepts (and stores) when the upload declares the algorithm. It runs
// on sendCtx so that an ABOR cannot cut it off after S3 created the upload
// but before we learnt its id (an upload nobody would abort).
func (u *upload) start() error {
	in := &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(u.s.bucket),
		Key:               aws.String(u.key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if u.contentType != "" {
		in.ContentType = aws.String(u.contentType)
	}
	out, err := u.s.client.CreateMultipartUpload(u.sendCtx, in)
	if err != nil {
		return err
	}
	u.mp = &multipart{id: aws.ToString(out.UploadId), slots: make(chan struct{}, u.s.concurrency)}
	return nil
}

// sendCurrent hands the current (full or last) part to a sender goroutine,
// waiting first for one of the upload's send slots. Waiting for a slot
// needs no budget: slots free up when requests end.
func (u *upload) sendCurrent() error {
	if u.mp == nil {
		if err := u.start(); err != nil {
			return err
		}
	}
	select {
	case u.mp.slots <- struct{}{}:
	case <-u.ctx.Done():
		return u.ctx.Err()
	}
	if err := u.mp.failed(); err != nil {
		<-u.mp.slots
		return err
	}
	u.sent++
	num := u.sent
	part, reserved, sum := u.takeCurrent()
	u.mp.wg.Add(1)
	go func() {
		defer u.mp.wg.Done()
		out, err := u.s.client.UploadPart(u.sendCtx, &s3.UploadPartInput{
			Bucket:        aws.String(u.s.bucket),
			Key:           aws.String(u.key),
			UploadId:      aws.String(u.mp.id),
			PartNumber:    aws.Int32(num),
			Body:          part.reader(),
			ContentLength: aws.Int64(part.size),
			ChecksumCRC32: aws.String(sum),
		}, unsignedPayload)
		part.free(u.s.blocks)
		u.s.budget.release(reserved)
		<-u.mp.slots
		if err != nil {
			u.mp.done(types.CompletedPart{}, err)
			return
		}
		u.mp.done(types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: aws.String(sum)}, nil)
	}()
	return nil
}

// completeMultipart sends the last part, waits for all parts and completes
// the upload.
func (u *upload) completeMultipart(ctx context.Context) error {
	if u.cur.size > 0 {
		if err := u.sendCurrent(); err != nil {
			return err
		}
	}
	if err := u.mp.wait(ctx); err != nil {
		return err
	}
	parts := u.mp.parts
	slices.SortFunc(parts, func(a, b types.CompletedPart) int {
		return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
	})
	_, err := u.s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(u.s.bucket),
		Key:             aws.String(u.key),
		UploadId:        aws.String(u.mp.id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// abortMultipart aborts a multipart upload and makes sure no parts remain.
// A part whose request was cancelled on our side may still be completing on
// the server and land after the abort (AWS documents this and says to abort
// again until ListParts finds the upload gone; versitygw shows it too: its
// abort fails with "directory not empty" and leaves the part on disk).
func (s *Store) abortMultipart(ctx context.Context, key, id string) error {
	delay := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id),
		})
		if err != nil && !isNotFound(err) {
			return err
		}
		_, err = s.client.ListParts(ctx, &s3.ListPartsInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id), MaxParts: aws.Int32(1),
		})
		if isNotFound(err) {
			return nil
		}
		if attempt == 5 {
			return fmt.Errorf("multipart upload %s still present after %d aborts (last: %v)", id, attempt, err)
		}
		s.log.Debug("multipart upload still present after abort, retrying", "key", key, "attempt", attempt, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay *= 2
	}
}
