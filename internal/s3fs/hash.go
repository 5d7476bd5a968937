package s3fs

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

var _ ftp.Hasher = (*fsys)(nil)

// Hash answers HASH (draft-bryan-ftp-hash) and XCRC/XMD5/XSHA256: the
// lowercase hex digest of bytes [start, end) of name (end < 0: to the end).
//
// Stored values answer for the whole file: CRC32 from the object's
// full-object x-amz-checksum-crc32 (every PutObject, and multipart uploads
// of this server, which are FULL_OBJECT), SHA-256 from the s3ftpd-sha256
// metadata (objects stored with one PutObject, i.e. up to the first part
// size; S3 cannot take metadata at the end of a multipart upload). Anything
// else — other algorithms, ranges, objects of other writers — streams the
// bytes with a (ranged) GET and hashes them: at most limit bytes (else
// ftp.ErrHashLimit, before the GET), and the GET ends with ctx (ABOR).
func (f *fsys) Hash(ctx context.Context, name, algo string, start, end, limit int64) (string, error) {
	key, err := f.key("hash", name)
	if err != nil {
		return "", err
	}
	newHash, ok := hashes(algo)
	if !ok {
		return "", fmt.Errorf("s3fs: hash %s: algorithm %q: %w", name, algo, ftp.ErrNotSupported)
	}
	if name == "/" {
		return "", fmt.Errorf("s3fs: hash /: %w", fs.ErrInvalid)
	}
	head, err := f.s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(f.s.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return "", mapErr("hash", name, err)
	}
	size := aws.ToInt64(head.ContentLength)
	if end < 0 {
		end = size
	}
	if start < 0 || start > end || end > size {
		return "", fmt.Errorf("s3fs: hash %s [%d, %d) of %d bytes: %w", name, start, end, size, fs.ErrInvalid)
	}
	if start == 0 && end == size {
		if sum, ok := storedHash(head, algo); ok {
			return sum, nil
		}
	}
	if limit > 0 && end-start > limit {
		return "", fmt.Errorf("s3fs: hash %s: %d bytes, limit %d: %w", name, end-start, limit, ftp.ErrHashLimit)
	}
	h := newHash()
	if start < end {
		out, err := f.s.client.GetObject(ctx, &s3.GetObjectInput{
			Bucket: aws.String(f.s.bucket), Key: aws.String(key), IfMatch: head.ETag,
			Range: aws.String(fmt.Sprintf("bytes=%d-%d", start, end-1)),
		})
		if err != nil {
			return "", mapErr("hash", name, err)
		}
		defer out.Body.Close()
		n, err := io.Copy(h, out.Body)
		if err != nil {
			return "", mapErr("hash", name, err)
		}
		if n != end-start {
			return "", fmt.Errorf("s3fs: hash %s: read %d of %d bytes", name, n, end-start)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashes(algo string) (func() hash.Hash, bool) {
	switch algo {
	case ftp.HashSHA256:
		return sha256.New, true
	case ftp.HashSHA1:
		return sha1.New, true
	case ftp.HashMD5:
		return md5.New, true
	case ftp.HashCRC32:
		return func() hash.Hash { return crc32.NewIEEE() }, true
	}
	return nil, false
}

// storedHash returns the whole object's digest when the store holds it.
func storedHash(h *s3.HeadObjectOutput, algo string) (string, bool) {
	switch algo {
	case ftp.HashCRC32:
		v := aws.ToString(h.ChecksumCRC32)
		if h.ChecksumType == types.ChecksumTypeComposite || strings.Contains(v, "-") {
			return "", false
		}
		if c, ok := crcFromBase64(v); ok {
			return fmt.Sprintf("%08x", c), true
		}
	case ftp.HashSHA256:
		v := h.Metadata[metaSHA256]
		if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
			return strings.ToLower(v), true
		}
	}
	return "", false
}
