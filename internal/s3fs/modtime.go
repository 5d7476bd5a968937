package s3fs

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

var _ ftp.ModTimeSetter = (*fsys)(nil)

// modTime is an object's modification time: the one MFMT set (metadata
// s3ftpd-mtime), else S3's LastModified.
func modTime(h *s3.HeadObjectOutput) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, h.Metadata[metaMTime]); err == nil {
		return t
	}
	return aws.ToTime(h.LastModified)
}

// SetModTime answers MFMT (draft-somers-ftp-mfxx) for a file: S3 cannot
// change LastModified, so the time goes into the object's metadata by a
// server-side copy onto itself (MetadataDirective REPLACE, every other
// header carried over), conditional on the ETag seen (If-Match: a file
// replaced meanwhile is not rewritten, 450). Stat, MDTM and MLST report it
// from then on; listings (LIST, MLSD) only get LastModified from
// ListObjectsV2, which is the time of that copy. Directories are not
// supported (their time is their marker's).
//
// Cost: right after this session's own STOR of a file that fit one
// PutObject (lftp and FileZilla send MFMT after each upload), the ETag and
// headers are known (own.go): one CopyObject. Otherwise a HeadObject first.
// The copy rewrites the whole object inside S3, so it takes as long as the
// object is large: files over Options.MFMTMaxSize are refused with 504
// (RFC 959: not implemented for that parameter) instead of silently copying
// gigabytes after every upload; clients treat MFMT as best effort.
func (f *fsys) SetModTime(ctx context.Context, name string, t time.Time) error {
	key, err := f.key("mfmt", name)
	if err != nil {
		return err
	}
	if name == "/" {
		return fmt.Errorf("s3fs: mfmt /: %w", ftp.ErrNotSupported)
	}
	stamp := t.UTC().Format(time.RFC3339Nano)
	if o, ok := f.own.get(key); ok && o.etag != "" {
		if err := f.s.checkMFMTSize(name, o.size); err != nil {
			return err
		}
		spec := o.spec
		spec.metadata = maps.Clone(spec.metadata)
		spec.metadata[metaMTime] = stamp
		err := f.s.copyObject(ctx, key, key, o.size, spec)
		f.own.forget(key)
		if err == nil {
			// The copy's ETag is not known here: a second MFMT asks S3.
			f.own.put(key, ownObject{size: o.size, mtime: t.UTC(), mtimeSet: true})
		}
		return mfmtErr(name, err)
	}
	head, err := f.s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(f.s.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if isNotFound(err) {
		if fi, derr := f.s.statDir(ctx, key, name); derr == nil && fi != nil {
			return fmt.Errorf("s3fs: mfmt %s: directory: %w", name, ftp.ErrNotSupported)
		}
	}
	if err != nil {
		return mapErr("mfmt", name, err)
	}
	size := aws.ToInt64(head.ContentLength)
	if err := f.s.checkMFMTSize(name, size); err != nil {
		return err
	}
	spec := specFromHead(head, &f.props, "")
	spec.metadata[metaMTime] = stamp
	err = f.s.copyObject(ctx, key, key, size, spec)
	return mfmtErr(name, err)
}

// mfmtErr: a failed If-Match is a file replaced since it was looked at
// (450, nothing changed).
func mfmtErr(name string, err error) error {
	if isPrecondition(err) {
		return fmt.Errorf("s3fs: mfmt %s: %w: %w", name, ftp.ErrChanged, err)
	}
	return mapErr("mfmt", name, err)
}

// checkMFMTSize refuses MFMT of a file larger than Options.MFMTMaxSize.
func (s *Store) checkMFMTSize(name string, size int64) error {
	if s.mfmtMax == 0 || size <= s.mfmtMax {
		return nil
	}
	s.log.Info("MFMT refused: the file is larger than mfmt_max_size (setting its time copies it inside S3)",
		"name", name, "bytes", size, "max", s.mfmtMax)
	return fmt.Errorf("s3fs: mfmt %s: %d bytes, over the %d a time change may copy: %w", name, size, s.mfmtMax, ftp.ErrNotSupported)
}
