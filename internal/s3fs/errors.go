package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// mapErr turns an S3 error into the error ftp.FS promises: an io/fs or ftp
// sentinel when the S3 answer has one, the error itself otherwise (the ftp
// layer answers 451 and logs it). The SDK error always stays wrapped, for
// the log; its text never reaches the client because the ftp layer replies
// from the sentinel alone.
func mapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	if sentinel := classify(err); sentinel != nil && !errors.Is(err, sentinel) {
		return fmt.Errorf("s3fs: %s %s: %w (%w)", op, name, sentinel, err)
	}
	return fmt.Errorf("s3fs: %s %s: %w", op, name, err)
}

// classify returns the sentinel err stands for, or nil for "transient or
// unknown" (which includes a cancelled context).
func classify(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	// The errors ftp.FS callers test for; one of them may already be wrapped.
	for _, s := range [...]error{
		fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid,
		ftp.ErrTooLarge, ftp.ErrDirNotEmpty, ftp.ErrNotSupported,
		ftp.ErrChanged, ftp.ErrOverwritePending,
	} {
		if errors.Is(err, s) {
			return s
		}
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return fs.ErrNotExist
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return fs.ErrNotExist
		case "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem",
			// An archived object (GLACIER, DEEP_ARCHIVE) cannot be read
			// or copied until it is restored.
			"InvalidObjectState":
			return fs.ErrPermission
		case "EntityTooLarge", "MaxMessageLengthExceeded", "QuotaExceeded", "InsufficientStorage":
			return ftp.ErrTooLarge
		case "InvalidRange", "KeyTooLongError",
			// A conditional request (If-Match) found the object changed
			// since it was looked at: the client's offset is stale.
			"PreconditionFailed":
			return fs.ErrInvalid
		// versitygw's posix backend: keys are file paths, so "a" and
		// "a/b" cannot both exist.
		case "ObjectParentIsFile", "ExistingObjectIsDirectory":
			return fs.ErrExist
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fs.ErrNotExist
		case http.StatusForbidden:
			return fs.ErrPermission
		case http.StatusRequestedRangeNotSatisfiable:
			return fs.ErrInvalid
		}
	}
	return nil
}

// isNotFound reports a 404-class S3 error.
func isNotFound(err error) bool {
	return classify(err) == fs.ErrNotExist
}

// isInvalidRange reports a 416 from a ranged GET.
func isInvalidRange(err error) bool {
	return classify(err) == fs.ErrInvalid
}
