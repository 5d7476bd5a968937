package s3fs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// What a store check found wrong (StoreProblem.Kind).
const (
	ProblemNoBucket      = "no such bucket"
	ProblemAccessDenied  = "access denied"
	ProblemSignature     = "bad signature"
	ProblemAccessKey     = "unknown access key"
	ProblemNoCredentials = "no credentials found"
	ProblemUnreachable   = "endpoint unreachable"
	ProblemRegion        = "wrong region"
	ProblemClock         = "clock skew"
	ProblemTLS           = "endpoint certificate not trusted"
	ProblemOther         = "store error"
)

// StoreProblem is why the store cannot be used, said for an operator.
type StoreProblem struct {
	Kind string // one of the Problem constants
	Code string // the S3 error code, "" when the store did not answer
	Hint string // what to check
	Err  error
}

func (p *StoreProblem) Error() string {
	s := "store check: " + p.Kind
	if p.Code != "" {
		s += " (S3 " + p.Code + ")"
	}
	return s + ": " + p.Hint
}

func (p *StoreProblem) Unwrap() error { return p.Err }

// Check is the store check of startup and readiness: one ListObjectsV2
// of at most one key under the prefix. A list rather than HeadBucket: it
// is what the server needs anyway (s3:ListBucket), it works with an IAM
// policy that allows listing only under the prefix (HeadBucket carries no
// prefix, so such a policy denies it), and its answer has a body, so that a
// wrong secret (SignatureDoesNotMatch) is told from a denial (both are a
// bare 403 to HeadBucket).
func (s *Store) Check(ctx context.Context) *StoreProblem {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), MaxKeys: aws.Int32(1)}
	if s.prefix != "" {
		in.Prefix = aws.String(s.prefix + "/")
	}
	_, err := s.client.ListObjectsV2(ctx, in)
	if err == nil {
		return nil
	}
	return Diagnose(err, s.bucket)
}

// Diagnose says what err from a request to bucket means for an operator.
func Diagnose(err error, bucket string) *StoreProblem {
	p := &StoreProblem{Kind: ProblemOther, Err: err, Hint: err.Error()}
	var api smithy.APIError
	if errors.As(err, &api) {
		p.Code = api.ErrorCode()
		switch p.Code {
		case "NoSuchBucket", "NotFound":
			p.Kind, p.Hint = ProblemNoBucket, fmt.Sprintf("bucket %q does not exist at this endpoint/region (store.s3.bucket, store.s3.endpoint)", bucket)
		case "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem":
			p.Kind, p.Hint = ProblemAccessDenied, fmt.Sprintf("the credentials may not list bucket %q under the prefix: check the IAM policy or bucket policy (s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload)", bucket)
		case "SignatureDoesNotMatch":
			p.Kind, p.Hint = ProblemSignature, "the secret key does not match the access key (store.s3.secret_key / $S3FTPD_STORE_S3_SECRET_KEY / AWS_SECRET_ACCESS_KEY)"
		case "InvalidAccessKeyId", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
			"XAdminUserNotFound": // versitygw
			p.Kind, p.Hint = ProblemAccessKey, "the store does not know this access key, or the session token expired (store.s3.access_key / $S3FTPD_STORE_S3_ACCESS_KEY / AWS_ACCESS_KEY_ID)"
		case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException":
			p.Kind, p.Hint = ProblemRegion, fmt.Sprintf("bucket %q is in another region than store.s3.region", bucket)
		case "RequestTimeTooSkewed":
			p.Kind, p.Hint = ProblemClock, "this machine's clock is off by more than 15 minutes (run NTP)"
		default:
			p.Hint = api.ErrorMessage()
			if p.Hint == "" {
				p.Hint = err.Error()
			}
		}
		return p
	}
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	var netErr net.Error
	var op *net.OpError
	var dns *net.DNSError
	msg := err.Error()
	switch {
	case strings.Contains(msg, "get identity") || strings.Contains(msg, "failed to retrieve credentials") ||
		strings.Contains(msg, "failed to refresh cached credentials"):
		p.Kind, p.Hint = ProblemNoCredentials, "no access key configured and the SDK's default chain found none (store.s3.access_key/secret_key, $S3FTPD_STORE_S3_ACCESS_KEY, AWS_ACCESS_KEY_ID, a profile, an instance or task role)"
	case errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname):
		p.Kind, p.Hint = ProblemTLS, "the endpoint's TLS certificate is not trusted (AWS_CA_BUNDLE, the system roots, the endpoint's name)"
	case errors.As(err, &dns):
		p.Kind, p.Hint = ProblemUnreachable, fmt.Sprintf("cannot resolve %q (store.s3.endpoint, DNS)", dns.Name)
	case errors.As(err, &op) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded):
		p.Kind, p.Hint = ProblemUnreachable, "no answer from the endpoint (store.s3.endpoint, network, firewall, proxy)"
	}
	return p
}
