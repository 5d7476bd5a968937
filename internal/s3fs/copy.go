package s3fs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// defaultCopyPartMin is the smallest part of a multipart copy. Parts are
// server-side, so big ones cost no memory; 10 000 of them must still cover
// the object (5 TiB / 10 000 ≈ 525 MiB).
const defaultCopyPartMin = 512 << 20

// copyObject copies src to dst inside the bucket, keeping Content-Type and
// user metadata. CopyObject handles up to 5 GiB; larger objects are copied
// part by part with UploadPartCopy.
func (s *Store) copyObject(ctx context.Context, src, dst string, size int64) error {
	if size <= s.copyThreshold {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:     aws.String(s.bucket),
			Key:        aws.String(dst),
			CopySource: aws.String(copySource(s.bucket, src)),
		})
		return err
	}
	return s.copyMultipart(ctx, src, dst, size)
}

// copyMultipart copies a large object with up to Concurrency UploadPartCopy
// requests at once, aborting the multipart upload on any failure.
func (s *Store) copyMultipart(ctx context.Context, src, dst string, size int64) error {
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(src)})
	if err != nil {
		return err
	}
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(dst),
		ContentType: head.ContentType,
		Metadata:    head.Metadata,
	})
	if err != nil {
		return err
	}
	id := created.UploadId

	partSize := max(s.copyPartMin, (size+MaxParts-1)/MaxParts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		parts    []types.CompletedPart
		firstErr error
		wg       sync.WaitGroup
		slots    = make(chan struct{}, s.concurrency)
	)
	for num, off := int32(1), int64(0); off < size; num, off = num+1, off+partSize {
		last := min(off+partSize, size) - 1
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket:          aws.String(s.bucket),
				Key:             aws.String(dst),
				UploadId:        id,
				PartNumber:      aws.Int32(num),
				CopySource:      aws.String(copySource(s.bucket, src)),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, last)),
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.CopyPartResult.ETag})
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr == nil {
		slices.SortFunc(parts, func(a, b types.CompletedPart) int {
			return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
		})
		_, firstErr = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(dst), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		if firstErr == nil {
			return nil
		}
	}
	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer acancel()
	if _, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(dst), UploadId: id,
	}); err != nil {
		s.log.Warn("abort multipart copy", "key", dst, "err", err)
	}
	return firstErr
}

// copySource is the x-amz-copy-source value: "bucket/key", percent-encoded
// except for unreserved characters and "/" (strict, so that servers which
// decode '+' as a space still read the right key).
func copySource(bucket, key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range []byte(bucket + "/" + key) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
