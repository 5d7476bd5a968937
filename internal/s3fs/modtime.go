package s3fs

import (
	"context"
	"fmt"
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
// header carried over). Stat, MDTM and MLST report it from then on;
// listings (LIST, MLSD) only get LastModified from ListObjectsV2, which is
// the time of that copy. Directories are not supported (their time is
// their marker's).
func (f *fsys) SetModTime(ctx context.Context, name string, t time.Time) error {
	key, err := f.key("mfmt", name)
	if err != nil {
		return err
	}
	if name == "/" {
		return fmt.Errorf("s3fs: mfmt /: %w", ftp.ErrNotSupported)
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
	spec := specFromHead(head, &f.props, "")
	spec.metadata[metaMTime] = t.UTC().Format(time.RFC3339Nano)
	err = f.s.copyObject(ctx, key, key, aws.ToInt64(head.ContentLength), spec)
	return mapErr("mfmt", name, err)
}
