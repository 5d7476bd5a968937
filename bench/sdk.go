package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// The baseline makes the same requests as s3ftpd's upload path (see
// internal/s3fs): parts of partSize, partConcurrency parts in flight while
// the next one is filled, a CRC32 per part in x-amz-checksum-crc32 and an
// UNSIGNED-PAYLOAD signature, on a client from s3fs.NewClient. So the
// ratio isolates what the FTP front end costs.
const (
	partSize        = 8 << 20
	partConcurrency = 4
)

func crc32Header(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// sdkPut stores size payload bytes at key: one PutObject up to a part,
// else a multipart upload.
func sdkPut(ctx context.Context, st *s3store, p pattern, key string, size int64) error {
	if size <= partSize {
		buf := make([]byte, size)
		p.fill(buf, 0)
		return sdkPutSmall(ctx, st, key, buf)
	}
	c := st.client
	created, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(st.bucket), Key: aws.String(key), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return fmt.Errorf("CreateMultipartUpload: %w", err)
	}
	id := created.UploadId
	// One buffer per part in flight plus the one being filled.
	free := make(chan []byte, partConcurrency+1)
	for range partConcurrency + 1 {
		free <- make([]byte, partSize)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partConcurrency)
	var mu sync.Mutex
	var parts []types.CompletedPart
	var off int64
	for num := int32(1); off < size; num++ {
		var buf []byte
		select {
		case buf = <-free:
		case <-gctx.Done():
		}
		if buf == nil {
			break
		}
		buf = buf[:min(partSize, size-off)]
		p.fill(buf, off)
		off += int64(len(buf))
		sum := crc32Header(buf)
		g.Go(func() error {
			defer func() { free <- buf[:cap(buf)] }()
			out, err := c.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: aws.String(st.bucket), Key: aws.String(key), UploadId: id,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(buf),
				ContentLength: aws.Int64(int64(len(buf))), ChecksumCRC32: aws.String(sum),
			}, unsignedPayload)
			if err != nil {
				return fmt.Errorf("UploadPart %d: %w", num, err)
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: aws.String(sum)})
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		_, _ = c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(st.bucket), Key: aws.String(key), UploadId: id})
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int {
		return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
	})
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(st.bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("CompleteMultipartUpload: %w", err)
	}
	return nil
}

// sdkPutSmall is one PutObject, as s3ftpd sends for a file below a part.
func sdkPutSmall(ctx context.Context, st *s3store, key string, body []byte) error {
	_, err := st.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(st.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ChecksumCRC32: aws.String(crc32Header(body)),
	}, unsignedPayload)
	if err != nil {
		return fmt.Errorf("PutObject %s: %w", key, err)
	}
	return nil
}

// sdkGet streams key with one GetObject (what s3ftpd does for RETR) and
// checks its size.
func sdkGet(ctx context.Context, st *s3store, key string, size int64, buf []byte) error {
	out, err := st.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("GetObject %s: %w", key, err)
	}
	defer out.Body.Close()
	n, err := drain(out.Body, buf)
	if err != nil {
		return fmt.Errorf("GetObject %s: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("GetObject %s: got %d bytes, want %d", key, n, size)
	}
	return nil
}
