package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

var _ ftp.Resumer = (*fsys)(nil)

// errBusy: the partial is being continued by another upload of this
// process right now. Transient (451): the client may try again.
var errBusy = errors.New("partial upload is in use by another transfer")

// PartialSize reports the size of name's resumable partial (partial.go).
func (f *fsys) PartialSize(ctx context.Context, name string) (int64, bool, error) {
	key, err := f.key("size", name)
	if err != nil {
		return 0, false, err
	}
	if name == "/" {
		return 0, false, nil
	}
	p, err := f.s.findPartial(ctx, key)
	if err != nil || p == nil {
		return 0, false, mapErr("size", name, err)
	}
	return p.size, true, nil
}

// Resume starts an upload whose first offset bytes are already stored:
// name's partial when there is one (REST+STOR after a broken transfer),
// else the object itself (APPE, or REST+STOR of a complete file). offset
// must be that size; nothing but the new bytes is sent by the client, and
// the object is composed server-side (see resumePartial, appendUpload).
// Nothing is visible at name before Commit: the old object stays until
// then.
func (f *fsys) Resume(ctx context.Context, name string, offset int64) (ftp.Upload, error) {
	key, err := f.key("resume", name)
	if err != nil {
		return nil, err
	}
	if name == "/" || offset < 0 {
		return nil, fmt.Errorf("s3fs: resume %s at %d: %w", name, offset, fs.ErrInvalid)
	}
	p, err := f.s.findPartial(ctx, key)
	if err != nil {
		return nil, mapErr("resume", name, err)
	}
	if p != nil {
		if offset != p.size {
			return nil, fmt.Errorf("s3fs: resume %s at %d: the partial upload has %d bytes: %w", name, offset, p.size, fs.ErrInvalid)
		}
		if p.uploadID != "" && f.s.live.hasID(p.uploadID) {
			return nil, fmt.Errorf("s3fs: resume %s: %w", name, errBusy)
		}
		return f.resumePartial(ctx, name, key, p)
	}
	head, err := f.s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(f.s.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	switch {
	case isNotFound(err) && offset == 0:
		return f.Create(ctx, name)
	case isNotFound(err):
		if fi, derr := f.s.statDir(ctx, key, name); derr == nil && fi != nil {
			return nil, fmt.Errorf("s3fs: resume %s: is a directory: %w", name, fs.ErrExist)
		}
		return nil, fmt.Errorf("s3fs: resume %s at %d: no such file: %w", name, offset, fs.ErrNotExist)
	case err != nil:
		return nil, mapErr("resume", name, err)
	}
	if size := aws.ToInt64(head.ContentLength); offset != size {
		return nil, fmt.Errorf("s3fs: resume %s at %d: the file has %d bytes: %w", name, offset, size, fs.ErrInvalid)
	}
	if offset == 0 {
		return f.Create(ctx, name)
	}
	return f.appendUpload(ctx, name, key, head)
}

// resumePartial continues partial p: its parts stay parts 1..n of the same
// multipart upload and its tail follows, copied server-side when it can be
// a part (≥ 5 MiB), else read back into the first buffer (re-uploaded).
func (f *fsys) resumePartial(ctx context.Context, name, key string, p *partialState) (ftp.Upload, error) {
	u := f.newUpload(ctx, name, key)
	u.partial, u.base = true, p.size
	u.algo, u.crc = p.algo, p.algo.new()
	if p.uploadID != "" {
		u.mp = newMultipart(p.uploadID, p.algo, p.full, f.s.concurrency)
		u.mp.parts = p.parts
		u.sent, u.total = int32(len(p.parts)), p.partsBytes
		u.sha = nil
		f.s.live.addID(u.key, p.uploadID)
	}
	err := func() error {
		switch {
		case p.tail == 0:
			return nil
		case p.tail >= MinPartSize:
			return u.copyParts(p.marker, p.etag, p.tail, p.tail)
		}
		return u.readBack(p.marker, p.etag, p.tail)
	}()
	if err != nil {
		u.detach()
		return nil, mapErr("resume", name, err)
	}
	return u, nil
}

// appendUpload appends to the object described by head: its bytes become
// the first parts by UploadPartCopy (server-side, no byte through this
// process) when it has at least 5 MiB, or are read back into the first
// buffer when it is smaller (S3 refuses a smaller part anywhere but last).
//
// The copies use a CRC algorithm the object does not carry: some servers
// (versitygw 1.8) give a copied part the source's stored checksum when the
// algorithms match, which is wrong for a byte range and unusable for a
// composite (per-part) checksum; with another algorithm they compute it.
func (f *fsys) appendUpload(ctx context.Context, name, key string, head *s3.HeadObjectOutput) (ftp.Upload, error) {
	size, etag := aws.ToInt64(head.ContentLength), aws.ToString(head.ETag)
	u := f.newUpload(ctx, name, key)
	u.base, u.appendE = size, etag
	if head.ChecksumCRC32 != nil {
		u.algo = algoCRC32C()
		u.crc = u.algo.new()
	}
	var err error
	if size < MinPartSize {
		err = u.readBack(key, etag, size)
	} else {
		err = u.copyParts(key, etag, size, f.s.copyThreshold)
	}
	if err != nil {
		u.detach()
		return nil, mapErr("append", name, err)
	}
	return u, nil
}

// readBack reads size bytes of src (which must still have etag) into the
// upload, as if the client had sent them first.
func (u *upload) readBack(src, etag string, size int64) error {
	out, err := u.s.client.GetObject(u.ctx, &s3.GetObjectInput{
		Bucket: aws.String(u.s.bucket), Key: aws.String(src), IfMatch: aws.String(etag),
	})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	u.mu.Lock()
	defer u.mu.Unlock()
	n, err := u.readFrom(io.LimitReader(out.Body, size+1))
	if err == nil && n != size {
		err = fmt.Errorf("read back %d of %d bytes of %s: %w", n, size, src, fs.ErrInvalid)
	}
	return err
}

// copyParts appends src (size bytes, which must still have etag) to the
// upload's parts with UploadPartCopy, in ranges of at most about maxRange
// bytes and at least MinPartSize (they are not the object's last part).
func (u *upload) copyParts(src, etag string, size, maxRange int64) error {
	if u.mp == nil {
		if err := u.start(); err != nil {
			return err
		}
	}
	n := max(1, (size+maxRange-1)/maxRange)
	if size/n < MinPartSize {
		n = max(1, size/MinPartSize)
	}
	if int64(u.sent)+n >= MaxParts {
		return fmt.Errorf("%w: %d bytes need too many parts", ftp.ErrTooLarge, size)
	}
	if err := u.s.copyRanges(u.ctx, u.key, u.mp, u.sent+1, src, etag, size, n); err != nil {
		return err
	}
	u.sent += int32(n)
	u.total += size
	u.sha = nil
	return nil
}

// detach drops an upload that Resume could not set up: its buffers and
// the multipart upload it created go; the partial it started from stays.
func (u *upload) detach() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.state = stateAborted
	if err := u.cleanup(u.sendCtx); err != nil {
		u.s.log.Warn("drop resumed upload", "key", u.key, "err", err)
	}
}
