package s3fs

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// defaultCopyPartMin is the smallest part of a multipart copy. Parts are
// server-side, so big ones cost no memory; 10 000 of them must still cover
// the object (5 TiB / 10 000 ≈ 525 MiB).
const defaultCopyPartMin = 512 << 20

// copySpec is what a server-side copy writes besides the bytes. S3 carries
// Content-Type, the other content headers, user metadata and tags over by
// itself (MetadataDirective COPY), but not the storage class, the
// encryption or the ACL, which every copy must state again.
type copySpec struct {
	// replace writes the headers below instead of the source's
	// (MetadataDirective REPLACE).
	replace                                       bool
	contentType, cacheControl, contentDisposition string
	contentEncoding, contentLanguage              string
	metadata                                      map[string]string
	acl                                           types.ObjectCannedACL
	sse                                           types.ServerSideEncryption
	kmsKeyID                                      string
	storageClass                                  types.StorageClass
	tagging                                       string  // for multipart copies only (CopyObject keeps the tags)
	srcAlgo                                       crcAlgo // the source's stored CRC, if known
	ifMatch                                       string  // the source must still have this ETag
}

// specFromHead copies the source's headers (REPLACE), taking Content-Type
// from contentType when it is not "" (a rename to another extension). The
// storage class and encryption stay the object's own; the ACL and tags are
// the user's (S3 cannot return a canned ACL).
func specFromHead(h *s3.HeadObjectOutput, p *objectProps, contentType string) copySpec {
	c := copySpec{
		replace:            true,
		contentType:        aws.ToString(h.ContentType),
		cacheControl:       aws.ToString(h.CacheControl),
		contentDisposition: aws.ToString(h.ContentDisposition),
		contentEncoding:    aws.ToString(h.ContentEncoding),
		contentLanguage:    aws.ToString(h.ContentLanguage),
		metadata:           maps.Clone(h.Metadata),
		acl:                p.acl,
		sse:                h.ServerSideEncryption,
		kmsKeyID:           aws.ToString(h.SSEKMSKeyId),
		storageClass:       h.StorageClass,
		tagging:            p.tagging,
		ifMatch:            aws.ToString(h.ETag),
	}
	if contentType != "" {
		c.contentType = contentType
	}
	if c.metadata == nil {
		c.metadata = map[string]string{}
	}
	if c.sse == "" {
		c.sse, c.kmsKeyID = p.sse, p.kmsKeyID
	}
	if h.ChecksumCRC32 != nil {
		c.srcAlgo = algoCRC32()
	} else if h.ChecksumCRC32C != nil {
		c.srcAlgo = algoCRC32C()
	}
	return c
}

// specForTree is the copy of a key found by a listing: its headers, tags
// and metadata carried over, its storage class kept, encryption and ACL
// the user's.
func specForTree(o types.Object, p *objectProps) copySpec {
	c := copySpec{acl: p.acl, sse: p.sse, kmsKeyID: p.kmsKeyID, tagging: p.tagging, ifMatch: aws.ToString(o.ETag)}
	if o.StorageClass != "" && o.StorageClass != types.ObjectStorageClassStandard {
		c.storageClass = types.StorageClass(o.StorageClass)
	}
	return c
}

// copyObject copies src to dst inside the bucket (dst may be src: a copy in
// place to change metadata). CopyObject handles up to 5 GiB; larger
// objects are copied part by part with UploadPartCopy. The copy gets a
// fresh full-object CRC32.
func (s *Store) copyObject(ctx context.Context, src, dst string, size int64, c copySpec) error {
	if size > s.copyThreshold {
		return s.copyMultipart(ctx, src, dst, size, c)
	}
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(dst),
		CopySource:        aws.String(copySource(s.bucket, src)),
		CopySourceIfMatch: optString(c.ifMatch),
		ACL:               c.acl,
		StorageClass:      c.storageClass,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	in.ServerSideEncryption, in.SSEKMSKeyId = c.sse, optString(c.kmsKeyID)
	if c.replace {
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.ContentType = optString(c.contentType)
		in.CacheControl = optString(c.cacheControl)
		in.ContentDisposition = optString(c.contentDisposition)
		in.ContentEncoding = optString(c.contentEncoding)
		in.ContentLanguage = optString(c.contentLanguage)
		in.Metadata = c.metadata
	}
	_, err := s.client.CopyObject(ctx, in)
	return err
}

// copyMultipart copies a large object with up to Concurrency UploadPartCopy
// requests at once, aborting the multipart upload on any failure. Parts
// use a CRC the source does not carry (see appendUpload), and the upload is
// FULL_OBJECT, so the copy ends with a full-object checksum.
func (s *Store) copyMultipart(ctx context.Context, src, dst string, size int64, c copySpec) error {
	if !c.replace {
		head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(src), ChecksumMode: types.ChecksumModeEnabled,
		})
		if err != nil {
			return err
		}
		h := specFromHead(head, &objectProps{acl: c.acl, sse: c.sse, kmsKeyID: c.kmsKeyID, tagging: c.tagging}, "")
		h.storageClass = c.storageClass
		c = h
	}
	algo := algoCRC32()
	if c.srcAlgo.name == types.ChecksumAlgorithmCrc32 {
		algo = algoCRC32C()
	}
	in := &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(dst),
		ContentType: optString(c.contentType), CacheControl: optString(c.cacheControl),
		ContentDisposition: optString(c.contentDisposition), ContentEncoding: optString(c.contentEncoding),
		ContentLanguage: optString(c.contentLanguage), Metadata: c.metadata,
		ACL: c.acl, ServerSideEncryption: c.sse, SSEKMSKeyId: optString(c.kmsKeyID),
		StorageClass: c.storageClass, Tagging: optString(c.tagging),
		ChecksumAlgorithm: algo.name, ChecksumType: types.ChecksumTypeFullObject,
	}
	created, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return err
	}
	mp := newMultipart(aws.ToString(created.UploadId), algo, true, s.concurrency)
	s.live.addID("", mp.id)
	defer s.live.removeID(mp.id)
	s.recordUpload(dst, mp.id)

	maxParts := int64(s.maxParts)
	partSize := max(s.copyPartMin, (size+maxParts-1)/maxParts)
	err = s.copyRanges(ctx, dst, mp, 1, src, c.ifMatch, size, max(1, size/partSize))
	if err == nil {
		err = s.completeUpload(ctx, dst, mp, condition{})
	}
	if err == nil {
		return nil
	}
	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer acancel()
	if aerr := s.abortMultipart(actx, dst, mp.id); aerr != nil {
		s.log.Warn("abort multipart copy", "key", dst, "err", aerr)
	}
	return err
}

// copyRanges adds src's size bytes to mp as n parts of (almost) equal
// size, numbered from first, with up to Concurrency copies at once.
func (s *Store) copyRanges(ctx context.Context, key string, mp *multipart, first int32, src, etag string, size, n int64) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.concurrency)
	step := (size + n - 1) / n
	for i := range n {
		num, off := first+int32(i), i*step
		end := min(off+step, size)
		g.Go(func() error {
			out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(mp.id),
				PartNumber: aws.Int32(num), CopySource: aws.String(copySource(s.bucket, src)),
				CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", off, end-1)),
				CopySourceIfMatch: optString(etag),
			})
			if err != nil {
				return err
			}
			r := out.CopyPartResult
			mp.done(partDone{
				num: num, etag: aws.ToString(r.ETag), sum: mp.algo.pick(r.ChecksumCRC32, r.ChecksumCRC32C), size: end - off,
			}, nil)
			return nil
		})
	}
	return g.Wait()
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
