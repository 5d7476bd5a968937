package s3fs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ClientOptions say how to reach S3.
type ClientOptions struct {
	// Region is the signing region; "" takes it from the SDK's default chain
	// (AWS_REGION, profile) and falls back to us-east-1 when Endpoint is set.
	Region string
	// Endpoint is an S3-compatible endpoint URL; "" means AWS.
	Endpoint string
	// PathStyle addresses buckets as endpoint/bucket instead of
	// bucket.endpoint (most S3-compatible servers want this).
	PathStyle bool
	// AccessKey and SecretKey are static credentials; both empty uses the
	// SDK default chain (environment, shared profile, web identity/IRSA,
	// ECS/EC2 instance roles).
	AccessKey, SecretKey string
	// Observe, if set, is told of every S3 operation (metrics).
	Observe Observe
	// StallTimeout cancels a request to S3 that made no progress (no
	// byte sent or received, no answer) for this long; see stall.go.
	// Zero means DefaultStallTimeout.
	StallTimeout time.Duration
}

// fallbackRegion signs requests to custom endpoints when no region is known.
const fallbackRegion = "us-east-1"

// NewClient builds an S3 client.
//
// Checksums and payload signing. Every body this package sends (PutObject,
// UploadPart) is a part buffered in memory whose CRC32 we compute while the
// bytes arrive from the FTP client, so:
//
//   - RequestChecksumCalculation is WhenRequired: the SDK must not read each
//     body again to compute its own CRC32, nor switch HTTPS uploads to
//     aws-chunked encoding with trailing checksums (which several
//     S3-compatible servers reject). We send x-amz-checksum-crc32 ourselves;
//     the server verifies it, which protects the bytes end to end.
//   - Bodies are sent with an UNSIGNED-PAYLOAD signature (see unsignedPayload):
//     otherwise, on plain HTTP and also over HTTPS without trailing checksums,
//     the SigV4 signer reads every part once more to hash it with SHA-256
//     before sending. The request headers (including the CRC32) stay signed.
//     AWS, MinIO and versitygw accept UNSIGNED-PAYLOAD over HTTP and HTTPS.
//   - ResponseChecksumValidation stays at the SDK default (WhenSupported):
//     full-object GETs of objects with a stored checksum are verified as they
//     stream (a cheap CRC), and a corrupt download fails instead of
//     completing. The "no checksum, not validating" log line is disabled.
//
// HTTP: LoadDefaultConfig must get the SDK's own HTTP client (its
// AWS_CA_BUNDLE handling refuses a plain *http.Client); afterwards its
// transport is moved into an *http.Client we own (see ownHTTPClient).
func NewClient(ctx context.Context, o ClientOptions) (*s3.Client, error) {
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	switch {
	case o.AccessKey != "" && o.SecretKey != "":
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, "")))
	case o.AccessKey != "" || o.SecretKey != "":
		return nil, errors.New("s3fs: access key and secret key must be given together")
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3fs: load AWS configuration: %w", err)
	}
	stall := o.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	cfg.HTTPClient = ownHTTPClient(cfg.HTTPClient, stall)
	if cfg.Region == "" {
		if o.Endpoint == "" {
			return nil, errors.New("s3fs: no region configured (set the region or AWS_REGION)")
		}
		cfg.Region = fallbackRegion
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		so.DisableLogOutputChecksumValidationSkipped = true
		if o.Observe != nil {
			so.APIOptions = append(so.APIOptions, observeMiddleware(o.Observe))
		}
		so.Retryer = withoutStallRetry(so.Retryer)
	}), nil
}

// unsignedPayload is a per-operation option for requests whose body carries
// its own x-amz-checksum-crc32: sign the headers but not the body, so the
// SDK does not hash the body with SHA-256 before sending it (see NewClient).
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// maxIdleConnsPerHost keeps enough idle connections for every part sender
// of several concurrent uploads (the SDK default of 10 makes busy servers
// open and close a connection per request).
const maxIdleConnsPerHost = 128

// ownHTTPClient rebuilds the SDK's BuildableClient (whose transport carries
// AWS_CA_BUNDLE, proxy and timeout settings) as a plain *http.Client, which
// can close its idle connections: an embedded versitygw (fasthttp) waits
// for idle keep-alive connections when it shuts down, up to 10 s, so they
// must be closed first (CloseIdleConnections). Redirects are handled as the
// SDK does: only 307/308 are followed, other 3xx answers go back to the SDK.
// Every request is watched for progress (stall.go).
func ownHTTPClient(c aws.HTTPClient, stall time.Duration) aws.HTTPClient {
	bc, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return c
	}
	tr := bc.GetTransport()
	tr.MaxIdleConns = max(tr.MaxIdleConns, maxIdleConnsPerHost)
	tr.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return &http.Client{
		Transport: &stallTransport{next: tr, timeout: stall},
		Timeout:   bc.GetTimeout(),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.Response != nil && (req.Response.StatusCode == http.StatusTemporaryRedirect ||
				req.Response.StatusCode == http.StatusPermanentRedirect) && len(via) < 10 {
				return nil
			}
			return http.ErrUseLastResponse
		},
	}
}

// CloseIdleConnections closes the idle keep-alive connections of a client
// made by NewClient. Call it before stopping an embedded store the client
// talked to (see ownHTTPClient); it is harmless otherwise.
func CloseIdleConnections(c *s3.Client) {
	if ci, ok := c.Options().HTTPClient.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
