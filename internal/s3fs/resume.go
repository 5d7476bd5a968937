package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

var _ ftp.Resumer = (*fsys)(nil)

// errBusy: the partial is being continued by another upload of this
// process right now. Transient (451): the client may try again.
var errBusy = errors.New("partial upload is in use by another transfer")

// PartialSize reports the size of name's resumable partial (partial.go).
// It deletes nothing, not even a stale partial: SIZE is a read.
func (f *fsys) PartialSize(ctx context.Context, name string) (int64, bool, error) {
	key, err := f.key("size", name)
	if err != nil {
		return 0, false, err
	}
	if name == "/" {
		return 0, false, nil
	}
	_, p, err := f.s.lookup(ctx, key, false)
	if err != nil || p == nil {
		return 0, false, mapErr("size", name, err)
	}
	return p.size, true, nil
}

// Resume starts an upload whose first offset bytes are already stored:
// name's partial (REST+STOR after a broken transfer) or the object itself
// (APPE, or REST+STOR of a complete file). Nothing but the new bytes is
// sent by the client, and the object is composed server-side (see
// resumePartial, appendUpload). Nothing is visible at name before Commit:
// the old object stays until then, and Commit fails with ftp.ErrChanged
// if another upload replaced it meanwhile.
//
// Which stored bytes the client means is told by offset alone:
//
//	state at name                 offset = partial's size   offset = object's size
//	no object, partial            continue the partial      -
//	object, no partial            -                         append to the object
//	object, partial of an APPE    continue the partial      append to the object anew
//	object, interrupted overwrite continue the partial (a)  ErrOverwritePending (b)
//
// (a) only a client that kept count itself can send it: SIZE reports the
// object. (b) the client read the object's size (curl -C - and lftp
// put -c from SIZE, FileZilla from its listing; FileZilla then sends
// REST + STOR to a server with REST STREAM in FEAT, as s3ftpd is, else
// APPE) and means "the file holds my first bytes"; but the upload it
// continues replaced the file, so its bytes follow neither the object nor
// the partial. vsftpd
// has no such state (it truncated the old file at STOR, so SIZE and RETR
// both describe the partly written one: the old bytes are gone); proftpd
// with HiddenStores, which keeps the old file as we do, refuses every
// restarted STOR (501 "REST not compatible with server configuration")
// and, before Bug#4144, every APPE. Here only this ambiguous resume is
// refused, with 554 (permanent: lftp then switches to NOREST mode and
// sends the whole file; curl -C - exits 25), and a whole STOR, which
// supersedes the partial, works. Guessing either way could store old and
// new bytes mixed under a 226. Any other offset is fs.ErrInvalid.
func (f *fsys) Resume(ctx context.Context, name string, offset int64) (ftp.Upload, error) {
	key, err := f.key("resume", name)
	if err != nil {
		return nil, err
	}
	if name == "/" || offset < 0 {
		return nil, fmt.Errorf("s3fs: resume %s at %d: %w", name, offset, fs.ErrInvalid)
	}
	f.own.forget(key)
	head, p, err := f.s.lookup(ctx, key, true)
	if err != nil {
		return nil, mapErr("resume", name, err)
	}
	objSize := int64(-1)
	if head != nil {
		objSize = aws.ToInt64(head.ContentLength)
	}
	if p != nil {
		if p.uploadID != "" && f.s.live.hasID(p.uploadID) {
			return nil, fmt.Errorf("s3fs: resume %s: %w", name, errBusy)
		}
		switch {
		case offset == p.size && (p.extends || offset != objSize):
			u, err := f.resumePartial(ctx, name, key, p, head)
			if err == nil {
				f.s.partialDone("resumed")
			}
			return u, err
		case offset == objSize && p.extends:
			// The append starts again from the object; the partial's
			// bytes are sent again.
			f.s.discardPartial(ctx, key, p)
		case offset == objSize:
			return nil, fmt.Errorf("s3fs: resume %s at %d (the file's size): %w (partial of %d bytes)",
				name, offset, ftp.ErrOverwritePending, p.size)
		default:
			return nil, fmt.Errorf("s3fs: resume %s at %d: the partial upload has %d bytes: %w", name, offset, p.size, fs.ErrInvalid)
		}
	}
	switch {
	case head == nil && offset == 0:
		return f.Create(ctx, name)
	case head == nil:
		if fi, derr := f.s.statDir(ctx, key, name); derr == nil && fi != nil {
			return nil, fmt.Errorf("s3fs: resume %s: is a directory: %w", name, fs.ErrExist)
		}
		return nil, fmt.Errorf("s3fs: resume %s at %d: no such file: %w", name, offset, fs.ErrNotExist)
	}
	if offset != objSize {
		return nil, fmt.Errorf("s3fs: resume %s at %d: the file has %d bytes: %w", name, offset, objSize, fs.ErrInvalid)
	}
	if offset == 0 {
		return f.Create(ctx, name)
	}
	return f.appendUpload(ctx, name, key, head)
}

// builtOn records on u the object it builds on (head, nil for none): a
// partial kept from u names it, and Commit requires it unchanged.
func (u *upload) builtOn(head *s3.HeadObjectOutput) {
	u.baseKnown = true
	if head == nil {
		u.baseE, u.baseVer = "-", "-"
		u.cond = condition{absent: true}
		return
	}
	u.baseE, u.baseVer = aws.ToString(head.ETag), objectVersion(head.Metadata)
	u.cond = condition{ifMatch: u.baseE}
}

// resumePartial continues partial p: its parts stay parts 1..n of the same
// multipart upload and its tail follows, copied server-side when it can be
// a part (≥ 5 MiB), else read back into the first buffer (re-uploaded).
// head is the object at the name (nil: none), which must still be there at
// Commit.
func (f *fsys) resumePartial(ctx context.Context, name, key string, p *partialState, head *s3.HeadObjectOutput) (ftp.Upload, error) {
	u := f.newUpload(ctx, name, key)
	u.partial, u.base = true, p.size
	u.algo, u.crc = p.algo, p.algo.new()
	u.builtOn(head)
	u.extends = p.extends
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
// Commit requires the object unchanged (If-Match).
//
// The copies use a CRC algorithm the object does not carry: some servers
// (versitygw 1.8) give a copied part the source's stored checksum when the
// algorithms match, which is wrong for a byte range and unusable for a
// composite (per-part) checksum; with another algorithm they compute it.
func (f *fsys) appendUpload(ctx context.Context, name, key string, head *s3.HeadObjectOutput) (ftp.Upload, error) {
	size, etag := aws.ToInt64(head.ContentLength), aws.ToString(head.ETag)
	u := f.newUpload(ctx, name, key)
	u.base, u.appendE = size, etag
	u.builtOn(head)
	u.extends = true
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
	if int64(u.sent)+n >= int64(u.s.maxParts) {
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
