package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxBodyResumes bounds how often one download continues after its
// connection broke.
const maxBodyResumes = 3

// resumingBody is the body of a GetObject that, when the connection breaks
// in the middle (a reset, a cut), continues with a ranged GET from the
// first byte not yet read, on the condition that the object is still the
// same one (If-Match on its ETag), so a RETR survives what the SDK's
// retries cover for every other request: the SDK retries a request, not a
// body that is already being streamed. A stall (stall.go), a cancelled
// transfer and a changed object end the download as before.
//
// A continued download loses the SDK's end-to-end CRC check of the whole
// object (a range has no stored checksum): the bytes are then as good as
// TCP and the store make them.
type resumingBody struct {
	s       *Store
	ctx     context.Context
	key     string
	etag    string
	off     int64 // of the next byte to read
	body    io.ReadCloser
	resumes int
}

func (s *Store) resumingBody(ctx context.Context, key string, offset int64, out *s3.GetObjectOutput) io.ReadCloser {
	if out.ETag == nil {
		return out.Body
	}
	return &resumingBody{s: s, ctx: ctx, key: key, etag: aws.ToString(out.ETag), off: offset, body: out.Body}
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF || n > 0 {
			if n > 0 && err != nil && err != io.EOF {
				err = nil // return the bytes now; the error comes again
			}
			return n, err
		}
		if !r.resumable(err) {
			return 0, err
		}
		if rerr := r.resume(); rerr != nil {
			r.s.log.Warn("download broke and could not continue", "key", r.key, "offset", r.off, "err", err, "resume_err", rerr)
			return 0, err
		}
		r.s.log.Info("download broke; continued with a ranged GET", "key", r.key, "offset", r.off, "err", err)
	}
}

// resumable reports a broken connection worth one more ranged GET.
func (r *resumingBody) resumable(err error) bool {
	return r.resumes < maxBodyResumes && r.ctx.Err() == nil && !isStall(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func (r *resumingBody) resume() error {
	r.resumes++
	r.body.Close()
	r.body = io.NopCloser(errReader{fmt.Errorf("s3fs: download of %s broke", r.key)})
	out, err := r.s.client.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket: aws.String(r.s.bucket), Key: aws.String(r.key),
		Range: aws.String(fmt.Sprintf("bytes=%d-", r.off)), IfMatch: aws.String(r.etag),
	})
	if err != nil {
		return err
	}
	r.body = out.Body
	return nil
}

func (r *resumingBody) Close() error { return r.body.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
