package embeds3

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Orphans versitygw can leave in <bucket>/.sgwtmp when its process dies:
//
//   - temporary object files: PutObject, CopyObject and CompleteMultipartUpload
//     write into an unnamed O_TMPFILE where the filesystem supports it, and
//     into a named "<sha256hex>.<digits>" file in .sgwtmp (or in the upload's
//     part directory) where it does not; a crash leaves the named ones behind.
//   - ".sgwtmp/multipart/<hash>/<uploadID>.<token>.inprogress": an upload
//     claimed by CompleteMultipartUpload that never finished. versitygw
//     renames it back on failure, but not after a crash; until renamed it is
//     invisible to ListMultipartUploads and cannot be aborted.
//   - multipart uploads themselves. An upload older than this process is
//     from a transfer that died with the previous one; abortStaleUploads
//     removes those through the S3 API once the gateway runs — unless
//     Options.KeepUploads: s3fs keeps them as resumable partial uploads
//     and expires them after its resume window.
const (
	tmpDirName     = ".sgwtmp"
	multipartDir   = "multipart"
	inProgressTail = ".inprogress"
)

// tempFileName matches os.CreateTemp(dir, fmt.Sprintf("%x.", sha256)) names.
var tempFileName = regexp.MustCompile(`^[0-9a-f]{64}\.[0-9]+$`)

// cleanTempFiles removes temporary files and restores claimed uploads in
// every bucket under root. It runs before the gateway starts, so nothing is
// in use. Failures are logged, not fatal: they only waste disk space.
func cleanTempFiles(root string, log *slog.Logger) {
	buckets, err := os.ReadDir(root)
	if err != nil {
		log.Warn("embedded S3: cannot list buckets for clean-up", "err", err)
		return
	}
	for _, b := range buckets {
		if !b.IsDir() || strings.HasPrefix(b.Name(), ".") {
			continue
		}
		tmp := filepath.Join(root, b.Name(), tmpDirName)
		removeTempFiles(tmp, log)
		restoreClaimedUploads(filepath.Join(tmp, multipartDir), log)
	}
}

// removeTempFiles deletes the temporary files directly inside dir.
func removeTempFiles(dir string, log *slog.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Type().IsRegular() && tempFileName.MatchString(e.Name()) {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err != nil {
				log.Warn("embedded S3: cannot remove orphan temp file", "path", p, "err", err)
			} else {
				log.Info("embedded S3: removed orphan temp file", "path", p)
			}
		}
	}
}

// restoreClaimedUploads walks multipart/<hash>/<upload> directories: it
// renames "<uploadID>.<token>.inprogress" back to "<uploadID>" (so the upload
// becomes visible and abortable again) and removes temp files of parts.
func restoreClaimedUploads(mpDir string, log *slog.Logger) {
	objs, err := os.ReadDir(mpDir)
	if err != nil {
		return
	}
	for _, o := range objs {
		if !o.IsDir() {
			continue
		}
		objDir := filepath.Join(mpDir, o.Name())
		ups, err := os.ReadDir(objDir)
		if err != nil {
			continue
		}
		for _, u := range ups {
			if !u.IsDir() {
				continue
			}
			name := u.Name()
			if strings.HasSuffix(name, inProgressTail) {
				id, _, _ := strings.Cut(name, ".")
				from, to := filepath.Join(objDir, name), filepath.Join(objDir, id)
				if _, err := os.Stat(to); err == nil {
					err = os.RemoveAll(from)
					log.Info("embedded S3: removed duplicate claimed upload", "path", from, "err", err)
					continue
				}
				if err := os.Rename(from, to); err != nil {
					log.Warn("embedded S3: cannot restore claimed upload", "path", from, "err", err)
					continue
				}
				log.Info("embedded S3: restored interrupted multipart completion", "path", to)
				name = id
			}
			removeTempFiles(filepath.Join(objDir, name), log)
		}
	}
}

// abortStaleUploadsAll runs abortStaleUploads on every bucket.
func abortStaleUploadsAll(ctx context.Context, c *s3.Client, cutoff time.Time, log *slog.Logger) {
	pages := s3.NewListBucketsPaginator(c, &s3.ListBucketsInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			log.Warn("embedded S3: cannot list buckets for clean-up", "err", err)
			return
		}
		for _, b := range out.Buckets {
			abortStaleUploads(ctx, c, aws.ToString(b.Name), cutoff, log)
		}
	}
}

// abortStaleUploads aborts multipart uploads in bucket initiated before
// cutoff (by a previous run of this process).
func abortStaleUploads(ctx context.Context, c *s3.Client, bucket string, cutoff time.Time, log *slog.Logger) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	for {
		out, err := c.ListMultipartUploads(ctx, in)
		if err != nil {
			log.Warn("embedded S3: cannot list multipart uploads for clean-up", "bucket", bucket, "err", err)
			return
		}
		for _, u := range out.Uploads {
			if u.Initiated != nil && !u.Initiated.Before(cutoff) {
				continue
			}
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId,
			})
			log.Info("embedded S3: aborted stale multipart upload", "bucket", bucket,
				"key", aws.ToString(u.Key), "err", err)
		}
		if !aws.ToBool(out.IsTruncated) {
			return
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
