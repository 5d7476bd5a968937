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
	sentinel := classify(err)
	if sentinel != nil && !errors.Is(err, sentinel) {
		err = fmt.Errorf("s3fs: %s %s: %w (%w)", op, name, sentinel, err)
	} else {
		err = fmt.Errorf("s3fs: %s %s: %w", op, name, err)
	}
	var api smithy.APIError
	var coded *refusal
	if isPermanentClass(sentinel) && errors.As(err, &api) && !errors.As(err, &coded) {
		return &refusal{code: api.ErrorCode(), err: err}
	}
	return err
}

// refusal is a permanent S3 error, with the S3 error code for the log
// (ftp.StoreCoder).
type refusal struct {
	code string
	err  error
}

func (r *refusal) Error() string     { return r.err.Error() }
func (r *refusal) Unwrap() error     { return r.err }
func (r *refusal) StoreCode() string { return r.code }

// isPermanentClass reports the sentinels of S3 answers that a retry will
// not change and that an operator should hear of.
func isPermanentClass(sentinel error) bool {
	switch sentinel {
	case fs.ErrPermission, ftp.ErrTooLarge, ftp.ErrStorageRefused, ftp.ErrNameNotAllowed:
		return true
	}
	return false
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
		ftp.ErrChanged, ftp.ErrOverwritePending, ftp.ErrNameNotAllowed, ftp.ErrStorageRefused,
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
		// 4xx answers that a later attempt may not get: transient.
		case "RequestTimeout", "RequestTimeTooSkewed", "OperationAborted", "SlowDown",
			"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "BadDigest", "IncompleteBody",
			"ConditionalRequestConflict", "TooManyRequests":
			return nil
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return fs.ErrNotExist
		case "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem",
			// An archived object (GLACIER, DEEP_ARCHIVE) cannot be read
			// or copied until it is restored.
			"InvalidObjectState":
			return fs.ErrPermission
		case "EntityTooLarge", "MaxMessageLengthExceeded", "QuotaExceeded", "InsufficientStorage":
			return ftp.ErrTooLarge
		case "KeyTooLongError":
			return ftp.ErrNameNotAllowed
		// The bucket, the credentials or the request signing are wrong:
		// configuration, not a passing fault.
		case "NoSuchBucket", "InvalidBucketName", "InvalidAccessKeyId", "SignatureDoesNotMatch",
			"AuthorizationHeaderMalformed", "InvalidToken", "ExpiredToken", "InvalidSecurity",
			"MissingSecurityHeader", "NotSignedUp", "InvalidPayer", "PermanentRedirect":
			return ftp.ErrStorageRefused
		case "InvalidRange",
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
		case http.StatusRequestEntityTooLarge:
			return ftp.ErrTooLarge
		case http.StatusRequestURITooLong:
			return ftp.ErrNameNotAllowed
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusMethodNotAllowed, http.StatusLengthRequired:
			// Any other refusal of the request as such (a retry sends
			// the same): permanent. 408, 409 and 429 stay transient.
			return ftp.ErrStorageRefused
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
