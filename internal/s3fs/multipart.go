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

// partDone is a stored part of a multipart upload.
type partDone struct {
	num  int32
	etag string
	sum  string // base64 CRC of the part (the upload's algorithm); "" if unknown
	size int64
}

// multipart is the S3 side of an upload that outgrew its first part.
type multipart struct {
	id    string
	algo  crcAlgo
	full  bool          // checksum type FULL_OBJECT (else COMPOSITE, older uploads)
	slots chan struct{} // one token per part being sent (Concurrency)
	wg    sync.WaitGroup

	mu    sync.Mutex
	parts []partDone
	err   error // first failed part
}

func newMultipart(id string, algo crcAlgo, full bool, concurrency int) *multipart {
	return &multipart{id: id, algo: algo, full: full, slots: make(chan struct{}, concurrency)}
}

func (m *multipart) failed() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

func (m *multipart) done(p partDone, err error) {
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

// sorted returns the stored parts in part-number order.
func (m *multipart) sorted() []partDone {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := slices.Clone(m.parts)
	slices.SortFunc(parts, func(a, b partDone) int { return cmp.Compare(a.num, b.num) })
	return parts
}

// resumablePrefix returns parts 1..j, the longest run of stored parts that
// can start an object: consecutive numbers from 1, each at least
// MinPartSize (S3 refuses a smaller part anywhere but last). parts must be
// sorted.
func resumablePrefix(parts []partDone) ([]partDone, int64) {
	var size int64
	for i, p := range parts {
		if p.num != int32(i+1) || p.size < MinPartSize {
			return parts[:i], size
		}
		size += p.size
	}
	return parts, size
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
	t := time.NewTimer(sendGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cancel()
		<-done
	}
}

// start creates the multipart upload with the object's properties. Parts
// carry checksums, which S3 only accepts (and stores) when the upload
// declares the algorithm; FULL_OBJECT makes the stored checksum one of the
// whole object (S3 combines the parts' CRCs), which HASH can answer from
// and which a server-side copy of the object can reuse. It runs on sendCtx
// so that an ABOR cannot cut it off after S3 created the upload but before
// we learnt its id (an upload nobody would abort). The wait for it ends
// with u.ctx, though: a store that does not answer must not keep an ABOR
// waiting. The request then goes on alone, and an upload it creates after
// all is aborted.
func (u *upload) start() error {
	in := &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(u.s.bucket),
		Key:               aws.String(u.key),
		ChecksumAlgorithm: u.algo.name,
		ChecksumType:      types.ChecksumTypeFullObject,
	}
	u.props.applyCreate(in, u.contentType, map[string]string{metaVersion: u.version})
	res := make(chan createResult, 1)
	go func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(u.sendCtx), abortTimeout)
		defer cancel()
		out, err := u.s.client.CreateMultipartUpload(rctx, in)
		res <- createResult{out, err}
	}()
	var out *s3.CreateMultipartUploadOutput
	select {
	case r := <-res:
		if r.err != nil {
			return r.err
		}
		out = r.out
	case <-u.ctx.Done():
		go u.s.abortLate(u.key, res)
		return u.ctx.Err()
	}
	u.mp = newMultipart(aws.ToString(out.UploadId), u.algo, true, u.s.concurrency)
	u.ownMP = true
	u.startDirCheck()
	u.sha = nil // the object will not be one PutObject
	u.s.live.addID(u.key, u.mp.id)
	u.s.recordUpload(u.key, u.mp.id)
	if u.extends && u.s.resumeWindow > 0 {
		u.markAppend()
	}
	return nil
}

// markAppend writes the marker of an APPE's multipart upload as soon as it
// exists. A process killed during the append leaves only the multipart
// upload, and the janitor, which adopts it, cannot tell an append from an
// overwrite: the partial would then refuse the append sent again (554,
// README table). This marker says "extends" and names the object appended
// to; Abort rewrites it with the parts and tail, Commit deletes it. One
// request per multipart APPE; a failure only loses that distinction.
func (u *upload) markAppend() {
	ctx, cancel := context.WithTimeout(u.sendCtx, abortTimeout)
	defer cancel()
	m := marker{uploadID: u.mp.id, algo: u.algo, base: u.baseE, baseVer: u.baseVer, extends: true}
	if err := u.s.putMarker(ctx, u.key, m, nil, "", u.props); err != nil {
		u.s.log.Warn("could not mark the append's upload (a kill would make it look like an overwrite)",
			"key", u.key, "err", err)
		return
	}
	u.marked = true
}

type createResult struct {
	out *s3.CreateMultipartUploadOutput
	err error
}

// abortLate aborts the multipart upload that a CreateMultipartUpload no
// one waits for any more creates after all.
func (s *Store) abortLate(key string, res <-chan createResult) {
	r := <-res
	if r.err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
	defer cancel()
	if err := s.abortMultipart(ctx, key, aws.ToString(r.out.UploadId)); err != nil {
		s.log.Warn("abort multipart upload created after its transfer ended", "key", key, "err", err)
	}
}

// sendCurrent hands the current (full or last) part to a sender goroutine,
// waiting first (within ctx) for one of the upload's send slots. Waiting for
// a slot needs no budget: slots free up when requests end.
func (u *upload) sendCurrent(ctx context.Context) error {
	if u.mp == nil {
		if err := u.start(); err != nil {
			return err
		}
	}
	select {
	case u.mp.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := u.mp.failed(); err != nil {
		<-u.mp.slots
		return err
	}
	u.sent++
	num := u.sent
	part, reserved, sum := u.takeCurrent()
	in := &s3.UploadPartInput{
		Bucket:        aws.String(u.s.bucket),
		Key:           aws.String(u.key),
		UploadId:      aws.String(u.mp.id),
		PartNumber:    aws.Int32(num),
		Body:          part.reader(),
		ContentLength: aws.Int64(part.size),
	}
	u.algo.set(&in.ChecksumCRC32, &in.ChecksumCRC32C, sum)
	mp := u.mp
	mp.wg.Add(1)
	go func() {
		defer mp.wg.Done()
		out, err := u.s.client.UploadPart(u.sendCtx, in, unsignedPayload)
		size := part.size
		part.free(u.s.blocks)
		u.hold.ReleaseDetached(reserved)
		<-mp.slots
		if err != nil {
			mp.done(partDone{}, err)
			return
		}
		mp.done(partDone{num: num, etag: aws.ToString(out.ETag), sum: sum, size: size}, nil)
	}()
	return nil
}

// completeMultipart sends the last part, waits for all parts, records that
// the upload is committing (committing.go) and completes it.
func (u *upload) completeMultipart(ctx context.Context) error {
	if u.cur.size > 0 {
		if err := u.sendCurrent(ctx); err != nil {
			return err
		}
	}
	if err := u.mp.wait(ctx); err != nil {
		return err
	}
	u.committing = u.s.markCommitting(ctx, u.key, u.mp, u.cond, u.version)
	return u.s.completeUpload(ctx, u.key, u.mp, u.cond)
}

// completeUpload completes mp with its stored parts, stating the
// full-object checksum when every part's is known (S3 then checks the
// whole object against what the client sent us). cond is what the object
// at key must be for the completion to happen (cond.go); its failure is
// ftp.ErrChanged.
func (s *Store) completeUpload(ctx context.Context, key string, mp *multipart, cond condition) error {
	parts := mp.sorted()
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        aws.String(mp.id),
		MultipartUpload: &types.CompletedMultipartUpload{},
	}
	for _, p := range parts {
		cp := types.CompletedPart{PartNumber: aws.Int32(p.num), ETag: aws.String(p.etag)}
		if p.sum != "" {
			mp.algo.set(&cp.ChecksumCRC32, &cp.ChecksumCRC32C, p.sum)
		}
		in.MultipartUpload.Parts = append(in.MultipartUpload.Parts, cp)
	}
	if mp.full {
		in.ChecksumType = types.ChecksumTypeFullObject
	}
	if full, ok := fullChecksum(mp, parts); ok {
		mp.algo.set(&in.ChecksumCRC32, &in.ChecksumCRC32C, full)
	}
	if cond.set() && s.conditions(ctx).complete {
		in.IfMatch, in.IfNoneMatch = cond.apply()
	}
	_, err := s.client.CompleteMultipartUpload(ctx, in)
	if err == nil {
		s.forgetUpload(mp.id)
	}
	return cond.changed(err)
}

// fullChecksum is the full-object CRC (base64) of parts of mp, sorted,
// when mp has one (FULL_OBJECT) and every part's CRC is known.
func fullChecksum(mp *multipart, parts []partDone) (string, bool) {
	full, ok := uint32(0), mp.full && len(parts) > 0
	var op [32]uint32 // appends opLen zero bytes; parts mostly share a size
	opLen := int64(-1)
	for i, p := range parts {
		v, known := crcFromBase64(p.sum)
		ok = ok && known
		if i == 0 {
			full = v
			continue
		}
		if p.size != opLen {
			op, opLen = zerosOp(mp.algo.poly, p.size), p.size
		}
		full = gf2Times(&op, full) ^ v
	}
	if !ok {
		return "", false
	}
	return crcToBase64(full), true
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
			s.forgetUpload(id)
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

// listParts lists the stored parts of upload id of key, sorted, with the
// upload's checksum algorithm and type and the time of its newest part
// (zero when it has none). At most MaxParts parts are read.
func (s *Store) listParts(ctx context.Context, key, id string) (parts []partDone, algo crcAlgo, full bool, newest time.Time, err error) {
	in := &s3.ListPartsInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id)}
	algo = algoCRC32()
	for page := 0; page < MaxParts/1000+1; page++ {
		out, err := s.client.ListParts(ctx, in)
		if err != nil {
			return nil, algo, false, newest, err
		}
		if page == 0 {
			if a, ok := algoByName(out.ChecksumAlgorithm); ok {
				algo = a
			}
			full = out.ChecksumType == types.ChecksumTypeFullObject
		}
		for _, p := range out.Parts {
			parts = append(parts, partDone{
				num: aws.ToInt32(p.PartNumber), etag: aws.ToString(p.ETag),
				sum: algo.pick(p.ChecksumCRC32, p.ChecksumCRC32C), size: aws.ToInt64(p.Size),
			})
			if t := aws.ToTime(p.LastModified); t.After(newest) {
				newest = t
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextPartNumberMarker == nil {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	slices.SortFunc(parts, func(a, b partDone) int { return cmp.Compare(a.num, b.num) })
	return parts, algo, full, newest, nil
}
