package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// startGateway runs a versitygw posix process with these keys on a free
// loopback port, its data in a test directory (stopped by the test, as
// every startProc), and returns its S3 endpoint.
func startGateway(t *testing.T, access, secret string) string {
	t.Helper()
	gw := requireTool(t, "versitygw")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	g := startProc(t, gw, "--port", addr, "--access", access, "--secret", secret, "posix", t.TempDir())
	g.waitListening(addr, 30*time.Second)
	return "http://" + addr
}

// createBucket creates bucket on the S3 endpoint with these keys.
func createBucket(t *testing.T, endpoint, access, secret, bucket string) {
	t.Helper()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(access, secret, "")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
}
